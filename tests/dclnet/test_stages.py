"""The two DVC stage scripts end to end on the tiny world (subprocesses, as dvc runs them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.dclnet.dclnet_tiny import tiny_params

REPO = Path(__file__).resolve().parents[2]


def write_params(root: Path, **dclnet) -> Path:
    params = tiny_params(**dclnet)  # runtime: conf/'s with one thread
    params["tracking"] = {"uri": f"sqlite:///{root / 'mlflow.db'}", "required": False}
    path = root / "params.yaml"
    with path.open("w") as fh:
        YAML(typ="safe", pure=True).dump(params, fh)
    return path


def stage(name: str, root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "DVC_ROOT": str(root)}
    return subprocess.run(
        [sys.executable, "-m", f"stages.{name}", "--params", str(root / "params.yaml"), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_train_then_eval_stage(tiny_vi):
    write_params(tiny_vi)
    paths = ["--data", "processed", "--model-dir", "models/dclnet"]
    done = stage("train_dclnet", tiny_vi, *paths, "--plots-dir", "plots/dclnet/train")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tiny_vi / "models/dclnet/model.pt").is_file()
    done = stage(
        "eval_dclnet",
        tiny_vi,
        *paths,
        "--metrics",
        "metrics/dclnet.json",
        "--plots-dir",
        "plots/dclnet/eval",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = (tiny_vi / "metrics/dclnet.json").read_text()
    metrics = json.loads(text)
    assert list(metrics) == sorted(metrics)
    assert all(0.0 <= v <= 1.0 and round(v, 6) == v for v in metrics.values())
    assert {"all_single_mAP", "init_all_single_mAP", "hist_indoor_multi_rank1"} <= set(metrics)
    assert (tiny_vi / "plots/dclnet/eval/cmc.csv").read_text().startswith("rank,dclnet,init,hist\n")


@pytest.mark.slow
def test_bad_params_exit_2_with_one_line(tmp_path):
    write_params(tmp_path, loss={"dense": {"temprature": 1}})
    done = stage("train_dclnet", tmp_path)
    assert done.returncode == 2
    assert "dclnet.loss.dense.temprature: unknown key" in done.stderr
    assert "Traceback" not in done.stderr
