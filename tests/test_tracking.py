"""MLflow tracking: runs land in a sqlite store; an unreachable store changes nothing."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from pipeline.io import write_json
from pipeline.params import TrackingSettings
from pipeline.tracking import StageRun, TrackingUnavailable, redact, repo_root, tracking_uri


def closed_port_uri(user: str = "alice:s3cret") -> str:
    with socket.socket() as sock:  # bind then close: nothing listens there afterwards
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://{user}@127.0.0.1:{port}"


def fake_stage(out_dir, settings: TrackingSettings) -> bytes:
    """A stage body: writes its output and logs along the way."""
    with StageRun(
        track="demo",
        stage="train_demo",
        params={"lr": 1e-6, "model": {"depth": 18}},
        settings=settings,
    ) as run:
        for epoch in range(3):
            run.log_metrics({"loss": 1.0 / (epoch + 1)}, step=epoch)
        write_json(out_dir / "metrics.json", {"mAP": 0.5})
        run.log_artifact(out_dir / "metrics.json")
    return hashlib.sha256((out_dir / "metrics.json").read_bytes()).digest()


def test_run_params_metrics_tags_and_artifacts_land(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "exp-123")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "abc")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    torch = pytest.importorskip("torch")
    fake_stage(tmp_path, TrackingSettings(uri=uri, required=False))

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("demo")
    assert experiment.artifact_location == (tmp_path / "mlartifacts" / "demo").as_uri()
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "1e-06", "model.depth": "18"}
    assert run.data.tags["dvc.stage"] == "train_demo"
    assert run.data.tags["dvc.exp_name"] == "exp-123"
    assert run.data.tags["dvc.exp_baseline_rev"] == "abc"
    assert len(run.data.tags["git.commit"]) in (40, len("unknown"))
    assert run.data.tags["git.dirty"] in ("true", "false", "unknown")
    assert run.data.tags["host.machine"] == platform.machine()
    # what the floats were computed with (the test imported torch before the run)
    assert run.data.tags["host.cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert run.data.tags["host.torch"] == torch.__version__
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, round(m.value, 4)) for m in history] == [(0, 1.0), (1, 0.5), (2, 0.3333)]
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["metrics.json"]


def test_unreachable_store_warns_once_and_outputs_identical(tmp_path):
    good = tmp_path / "good"
    bad = tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    digest = fake_stage(
        good, TrackingSettings(uri=f"sqlite:///{tmp_path / 'm.db'}", required=False)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fake_stage(bad, TrackingSettings(uri=closed_port_uri(), required=False)) == digest
    messages = [str(w.message) for w in caught if "MLflow tracking" in str(w.message)]
    assert len(messages) == 1
    assert "continues without tracking" in messages[0]
    assert "s3cret" not in messages[0] and "***@127.0.0.1" in messages[0]


def test_required_tracking_fails_before_work(tmp_path):
    with pytest.raises(TrackingUnavailable, match="tracking.required is true"):
        fake_stage(tmp_path, TrackingSettings(uri=closed_port_uri(), required=True))
    assert not (tmp_path / "metrics.json").exists()


def test_uri_rule(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "tmpab12"))
    assert repo_root() == tmp_path / "repo"
    assert tracking_uri() == f"sqlite:///{tmp_path / 'repo' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri() == "http://127.0.0.1:5000"
    assert (
        tracking_uri(TrackingSettings(uri="sqlite:////x.db", required=False)) == "sqlite:////x.db"
    )


def test_redact_hides_credentials():
    assert redact("https://bob:pw@host:5000/x") == "https://***@host:5000/x"
    assert redact("sqlite:////tmp/m.db") == "sqlite:////tmp/m.db"


_PARALLEL_STAGE = """
import sys
from pipeline.params import TrackingSettings
from pipeline.tracking import StageRun
with StageRun(track="scl", stage=sys.argv[2], params={}, datasets=(),
              settings=TrackingSettings(uri=sys.argv[1], required=True)) as run:
    run.log_metrics({"x": 1.0}, step=0)
"""


def test_parallel_stages_on_a_new_sqlite_store_all_land(tmp_path):
    # `dvc queue start -j 3`: three stages open one brand-new store at the same moment.
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PARALLEL_STAGE, uri, f"stage_{i}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for i in range(3)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out.decode()[-2000:]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("scl").experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["stage_0", "stage_1", "stage_2"]


_STAGE_THEN = """
import os, sys
from pipeline.params import TrackingSettings
from pipeline.tracking import StageRun
with StageRun(track="demo", stage="train_demo", params={"lr": 0.1},
              settings=TrackingSettings(uri=sys.argv[1], required=False)) as run:
    run.log_metrics({"loss": 1.0}, step=0)
    print("mlflow imported:", "mlflow" in sys.modules, flush=True)
    if sys.argv[2] == "die":
        os._exit(1)
"""


def _stage_process(uri: str, then: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        [sys.executable, "-c", _STAGE_THEN, uri, then],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _only_run(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("demo").experiment_id])
    return client, run


def test_stage_process_leaves_mlflow_to_its_tracking_process(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = _stage_process(uri, "finish")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mlflow imported: False" in proc.stdout
    # The stage waited for its tracking process: the run is complete when it exits.
    client, run = _only_run(uri)
    assert run.info.status == "FINISHED"
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == [1.0]


def test_stage_that_dies_leaves_its_run_killed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = _stage_process(uri, "die")
    assert proc.returncode == 1
    deadline = time.monotonic() + 120  # the orphaned tracking process closes the run
    while True:
        try:
            client, run = _only_run(uri)
            if run.info.status != "RUNNING":
                break
        except (AttributeError, ValueError):  # experiment or run not written yet
            pass
        assert time.monotonic() < deadline, "the run was never closed"
        time.sleep(0.5)
    assert run.info.status == "KILLED"
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == [1.0]


def test_git_dirty_ignores_what_the_pipeline_writes(tmp_path, monkeypatch):
    from pipeline.tracking import run_tags

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "dvc.yaml").write_text(
        "stages:\n"
        "  download:\n"
        "    foreach: [a]\n"
        "    do:\n"
        "      cmd: x\n"
        "      outs:\n"
        "        - data/raw/${item}\n"
        "  train:\n"
        "    cmd: x\n"
        "    outs:\n"
        "      - models/demo\n"
        "      - plots/demo/train:\n"
        "          cache: false\n"
        "    metrics:\n"
        "      - metrics/demo.json:\n"
        "          cache: false\n"
    )
    for rel in ("dvc.lock", "plots/demo/train/history.csv", "metrics/demo.json", "train.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("v1\n")
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert run_tags("train")["git.dirty"] == "false"
    # What `dvc repro` rewrites as it runs leaves a run clean ...
    for rel in ("dvc.lock", "plots/demo/train/history.csv", "metrics/demo.json"):
        (tmp_path / rel).write_text("v2\n")
    assert run_tags("train")["git.dirty"] == "false"
    # ... an edited source does not.
    (tmp_path / "train.py").write_text("v2\n")
    assert run_tags("train")["git.dirty"] == "true"


def test_stage_outputs_resolve_dvc_yaml_vars(tmp_path):
    from pipeline.tracking import stage_outputs

    (tmp_path / "dvc.yaml").write_text(
        "vars:\n"
        "  - other.yaml\n"
        "  - models: {demo: models/demo}\n"
        "  - paths: {demo: {plots: plots/demo/train}}\n"
        "stages:\n"
        "  download:\n"
        "    foreach: [a]\n"
        "    do:\n"
        "      cmd: x\n"
        "      outs:\n"
        "        - data/raw/${item}\n"
        "  train:\n"
        "    cmd: x --model-dir ${models.demo}\n"
        "    outs:\n"
        "      - ${models.demo}\n"
        "      - ${ paths.demo.plots }/:\n"
        "          cache: false\n"
        "      - data/${params.only}\n"
        "    metrics:\n"
        "      - metrics/${models}.json\n"
    )
    assert stage_outputs(tmp_path) == {
        "download": {},
        "train": {"outs": ["models/demo", "plots/demo/train"]},
    }
