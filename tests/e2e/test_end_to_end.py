"""The whole pipeline in a temporary copy: `dvc repro`, experiments, MLflow (issue 9).

Tiny worlds and schedules (conftest.shrink_params), every stage and mechanism real.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.e2e.conftest import VENV_BIN, run

pytestmark = pytest.mark.slow

TRACK_STAGES = {
    "dicl": ("train_dicl", "eval_dicl"),
    "scl": ("train_scl", "eval_scl"),
    "dclnet": ("train_dclnet", "eval_dclnet"),
}
# One parameter per track for `dvc exp run -S`; scl's is the YAML-1.2 case (written as 1.0e-06).
EXPERIMENT_PARAMS = {
    "scl": "scl.train.lr=1e-6",
    "dclnet": "dclnet.loss.dense.weight=0.5",
    "dicl": "dicl.loss.sic_dense.weight=0.2",
}
METRICS = {"dicl": "dicl", "scl": "scl", "dclnet": "dclnet"}


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def reproduced(tiny_repo):
    repo, env = tiny_repo
    proc = run(["dvc", "repro"], repo, env, timeout=900)
    return repo, env, proc.stdout


def test_repro_writes_every_output(reproduced):
    repo, _, output = reproduced
    assert {"train_dicl", "train_scl", "train_dclnet", "report"} <= stages_run(output)
    for name in METRICS.values():
        metrics = json.loads((repo / "metrics" / f"{name}.json").read_text())
        assert all(0.0 <= v <= 1.0 for v in metrics.values() if isinstance(v, float))
        assert any(k.startswith("init_") for k in metrics)
    summary = (repo / "reports" / "summary.md").read_text()
    assert "**synthetic** data" in summary


def test_noop_repro_runs_nothing(reproduced):
    repo, env, _ = reproduced
    proc = run(["dvc", "repro"], repo, env)
    assert not stages_run(proc.stdout)


@pytest.fixture(scope="module")
def experiments(reproduced):
    """One named `dvc exp run -S` per track, in the workspace, one after another.

    Each run composes params.yaml afresh from conf/ (Hydra), so it repeats the earlier
    runs' -S: only its own track's params differ from the workspace it starts from.
    Returns the repo, env, each run's stdout, params.yaml as each run left it, and
    `dvc exp show --json` after all three.
    """
    repo, env, _ = reproduced
    stdout, params_text = {}, {}
    overrides: list[str] = []
    for track, assignment in EXPERIMENT_PARAMS.items():
        overrides += ["-S", assignment]
        command = ["dvc", "exp", "run", "-n", f"exp-{track}", *overrides]
        stdout[track] = run(command, repo, env, timeout=600).stdout
        params_text[track] = (repo / "params.yaml").read_text()
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo, env).stdout)
    return repo, env, stdout, params_text, shown


def experiment_record(shown: list, name: str) -> dict:
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for revision in exp.get("revs", []):
                if revision.get("name") == name:
                    return revision
    raise AssertionError(f"`dvc exp show` does not list {name}")


@pytest.mark.parametrize("track", list(EXPERIMENT_PARAMS))
def test_experiment_reruns_only_its_track(experiments, track):
    _, _, stdout, params_text, shown = experiments
    ran = stages_run(stdout[track])
    assert set(TRACK_STAGES[track]) <= ran
    others = {s for t, stages in TRACK_STAGES.items() if t != track for s in stages}
    assert not ran & others
    assert not {s for s in ran if s.startswith(("download@", "convert@"))}
    record = experiment_record(shown, f"exp-{track}")
    metrics = record["data"]["metrics"][f"metrics/{METRICS[track]}.json"]["data"]
    assert any(k.endswith("mAP") and not k.startswith(("init_", "hist_")) for k in metrics)
    key, value = EXPERIMENT_PARAMS[track].split("=")
    section = record["data"]["params"]["params.yaml"]["data"]
    for part in key.split("."):
        section = section[part]
    assert section == float(value)
    if track == "scl":
        # DVC's Hydra composition writes -S scl.train.lr=1e-6 as `1.0e-06`; a YAML 1.1 reader
        # (PyYAML's default) would take plain `1e-06` for a string, the value checks above not.
        assert "lr: 1.0e-06" in params_text[track]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api(base: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_mlflow_server_serves_each_stage_run(experiments):
    repo, env, _, _, _ = experiments
    port = free_port()
    server_env = dict(env, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    server = subprocess.Popen(
        [
            str(VENV_BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{repo / 'mlflow.db'}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=repo,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(1)
        experiments = api(base, "/api/2.0/mlflow/experiments/search", {"max_results": 100})
        ids = [e["experiment_id"] for e in experiments["experiments"]]
        runs = api(
            base, "/api/2.0/mlflow/runs/search", {"experiment_ids": ids, "max_results": 1000}
        )
        by_stage: dict[str, list[dict]] = {}
        for item in runs["runs"]:
            tags = {t["key"]: t["value"] for t in item["data"].get("tags", [])}
            by_stage.setdefault(tags.get("dvc.stage", ""), []).append(item)
        for stages in TRACK_STAGES.values():
            for stage in stages:
                assert by_stage.get(stage), f"no MLflow run for {stage}"
        # The experiments' runs carry their names (DVC_EXP_NAME) as tags.
        exp_names = {
            t["value"]
            for item in runs["runs"]
            for t in item["data"].get("tags", [])
            if t["key"] == "dvc.exp_name"
        }
        assert {f"exp-{track}" for track in EXPERIMENT_PARAMS} <= exp_names
        # An eval run carries its metrics and its artifacts (metrics file, plots).
        eval_run = by_stage["eval_scl"][0]
        assert {m["key"] for m in eval_run["data"].get("metrics", [])} >= {"mAP", "rank1"}
        listing = api(base, f"/api/2.0/mlflow/artifacts/list?run_id={eval_run['info']['run_id']}")
        assert listing.get("files"), "eval_scl logged no artifacts"
        # A training run carries per-epoch metrics with steps.
        train_run = by_stage["train_scl"][0]
        key = train_run["data"]["metrics"][0]["key"]
        history = api(
            base,
            f"/api/2.0/mlflow/metrics/get-history?run_id={train_run['info']['run_id']}&metric_key={key}",
        )
        assert len({m["step"] for m in history["metrics"]}) >= 2
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
