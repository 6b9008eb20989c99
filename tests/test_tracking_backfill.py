"""MLflow runs that DVC's skipping would lose: backfilled stages, resumed trainings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.tracking import outputs_digest, stage_outputs
from pipeline.tracking_backfill import BACKFILLED_TAG, backfill, history_steps, tracked_stages

REPO = Path(__file__).resolve().parents[1]

# A stage body that logs one loss per epoch in [first, last), then finishes or dies.
_TRAINING = """
import os, sys
from pipeline.params import TrackingSettings
from pipeline.tracking import StageRun
uri, first, last, then, resume, lr = sys.argv[1:7]
with StageRun(track="demo", stage="train_demo", params={"lr": lr},
              settings=TrackingSettings(uri=uri, required=False), resume=resume == "resume") as run:
    for epoch in range(int(first), int(last)):
        run.log_metrics({"loss": 1.0 / (epoch + 1)}, step=epoch)
    if then == "die":
        os._exit(1)
"""


def _train(uri, first, last, then="finish", resume="fresh", lr="0.1"):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-c", _TRAINING, uri, str(first), str(last), then, resume, lr]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == (1 if then == "die" else 0), proc.stderr[-2000:]


def _runs(uri, experiment):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"])
    return client, runs


def _wait_closed(uri):
    """The killed stage's orphaned tracking process marks its run KILLED shortly after."""
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            _, runs = _runs(uri, "demo")
            if runs and runs[-1].info.status != "RUNNING":
                return
        except AttributeError:  # experiment not written yet
            pass
        time.sleep(0.5)
    raise AssertionError("the killed run was never closed")


def test_resumed_training_continues_its_killed_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _train(uri, 0, 3, then="die")
    _wait_closed(uri)
    _train(uri, 3, 5, resume="resume")
    client, runs = _runs(uri, "demo")
    assert len(runs) == 1, [r.info.status for r in runs]
    (run,) = runs
    assert run.info.status == "FINISHED"
    assert run.data.tags["pipeline.resumes"] == "1"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert sorted(m.step for m in history) == [0, 1, 2, 3, 4]


def test_resume_never_reopens_a_finished_run_or_one_with_other_params(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _train(uri, 0, 2)
    _train(uri, 0, 2, resume="resume")  # a checkpoint left by something else: new run
    _train(uri, 0, 1, then="die", lr="0.2")
    _wait_closed(uri)
    _train(uri, 1, 2, resume="resume", lr="0.3")  # params changed since the kill
    _, runs = _runs(uri, "demo")
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED", "KILLED", "FINISHED"]
    assert all("pipeline.resumes" not in r.data.tags for r in runs)


def test_outputs_digest_follows_bytes_and_names_not_order(tmp_path):
    (tmp_path / "out" / "sub").mkdir(parents=True)
    (tmp_path / "out" / "a.csv").write_text("1\n")
    (tmp_path / "out" / "sub" / "b.png").write_bytes(b"\x89PNG")
    (tmp_path / "m.json").write_text("{}")
    first = outputs_digest(["out", "m.json"], tmp_path)
    assert first == outputs_digest(["m.json", "out"], tmp_path)
    (tmp_path / "out" / "a.csv").write_text("2\n")
    assert outputs_digest(["out", "m.json"], tmp_path) != first
    (tmp_path / "out" / "a.csv").write_text("1\n")
    (tmp_path / "out" / "a.csv").rename(tmp_path / "out" / "c.csv")
    assert outputs_digest(["out", "m.json"], tmp_path) != first
    assert outputs_digest(["out", "missing.json"], tmp_path) is None


# Stand-ins for train_scl and eval_scl, writing outputs of the real stages' shapes.
_WRITE_OUTPUTS = """
import json, pathlib, sys
if sys.argv[1] == "train":
    pathlib.Path("models/scl").mkdir(parents=True)
    pathlib.Path("models/scl/config.json").write_text("{}")
    pathlib.Path("plots/scl/train").mkdir(parents=True)
    pathlib.Path("plots/scl/train/history.csv").write_text(
        "epoch,loss,val_mAP\\n0,2.0,\\n1,1.5,0.3\\n")
else:
    pathlib.Path("plots/scl/eval").mkdir(parents=True)
    pathlib.Path("plots/scl/eval/cmc.csv").write_text("rank,scl\\n1,0.5\\n")
    pathlib.Path("metrics").mkdir(exist_ok=True)
    pathlib.Path("metrics/scl.json").write_text(json.dumps({"mAP": 0.42, "rank1": 0.6}))
"""


@pytest.fixture
def pipeline_repo(tmp_path, monkeypatch):
    """A git + DVC repository whose train_scl / eval_scl stages ran with the real params."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    (root / "write_outputs.py").write_text(_WRITE_OUTPUTS)
    python = sys.executable
    (root / "dvc.yaml").write_text(
        "stages:\n"
        "  train_scl:\n"
        f"    cmd: {python} write_outputs.py train\n"
        "    deps: [write_outputs.py]\n"
        "    params: [scl]\n"
        "    outs:\n"
        "      - models/scl\n"
        "      - plots/scl/train:\n"
        "          cache: false\n"
        "  eval_scl:\n"
        f"    cmd: {python} write_outputs.py eval\n"
        "    deps: [models/scl]\n"
        "    metrics:\n"
        "      - metrics/scl.json:\n"
        "          cache: false\n"
        "    outs:\n"
        "      - plots/scl/eval:\n"
        "          cache: false\n"
    )
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    for argv in (
        ["git", "init", "-q"],
        [python, "-m", "dvc", "init", "-q"],
        [python, "-m", "dvc", "repro", "-q"],
    ):
        subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)
    monkeypatch.setenv("DVC_ROOT", str(root))
    return root


def test_backfill_logs_each_current_stage_once(pipeline_repo, tmp_path):
    root = pipeline_repo
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert [s.name for s in tracked_stages(root)] == ["train_scl", "eval_scl"]
    lines = backfill(root, root / "params.yaml", uri=uri)
    assert all("logged run" in line for line in lines), lines
    client, runs = _runs(uri, "scl")
    by_stage = {r.info.run_name: r for r in runs}
    assert sorted(by_stage) == ["eval_scl", "train_scl"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags[BACKFILLED_TAG] == "true"
        assert run.data.tags["dvc.stage"] == run.info.run_name
        assert run.data.params["seed"] == "0"
        assert run.data.params["scl.dataset"] == "synthetic_market1501"
    train = by_stage["train_scl"].info.run_id
    assert [(m.step, m.value) for m in client.get_metric_history(train, "loss")] == [
        (0, 2.0),
        (1, 1.5),
    ]
    assert [(m.step, m.value) for m in client.get_metric_history(train, "val_mAP")] == [(1, 0.3)]
    assert {a.path for a in client.list_artifacts(train)} == {"config.json", "plots"}
    evaluation = by_stage["eval_scl"]
    assert evaluation.data.metrics == {"mAP": 0.42, "rank1": 0.6}
    assert [a.path for a in client.list_artifacts(evaluation.info.run_id, "plots/eval")] == [
        "plots/eval/cmc.csv"
    ]

    # A second backfill finds the runs by their outputs' digest and logs nothing.
    again = backfill(root, root / "params.yaml", uri=uri)
    assert all("holds these outputs" in line for line in again), again
    assert len(_runs(uri, "scl")[1]) == 2

    # Outputs that no longer match dvc.lock are not DVC's results: not logged.
    (root / "metrics" / "scl.json").write_text('{"mAP": 0.99}')
    (line,) = backfill(root, root / "params.yaml", stages=["eval_scl"], uri=uri)
    assert "not current" in line
    assert len(_runs(uri, "scl")[1]) == 2


def test_backfill_names_an_unknown_stage(pipeline_repo, tmp_path):
    with pytest.raises(ValueError, match="not a train/eval stage of .*: report"):
        backfill(pipeline_repo, pipeline_repo / "params.yaml", stages=["report"])


def test_the_real_pipeline_tracks_six_stages_and_each_train_stage_writes_history():
    stages = tracked_stages(REPO)
    assert sorted(s.name for s in stages) == [
        f"{kind}_{track}" for kind in ("eval", "train") for track in ("dclnet", "dicl", "scl")
    ]
    outputs = stage_outputs(REPO)
    for stage in stages:
        assert stage.paths, stage.name
        if stage.kind == "train":
            (plots,) = [p for p in stage.outs if p.startswith("plots/")]
            steps = history_steps(REPO / plots / "history.csv")
            assert steps and steps[0][0] == 0 and "lr" in steps[0][1]
        else:
            assert outputs[stage.name]["metrics"] == [f"metrics/{stage.track}.json"]
