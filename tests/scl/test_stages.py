"""The stage scripts ``train_scl`` / ``eval_scl`` run as DVC runs them (subprocess, cwd)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stages import eval_scl, train_scl
from stages._main import run
from tests.real_config import merged, real_params

from .tiny_data import tiny_settings

REPO = Path(__file__).resolve().parents[2]


def _write_params(path: Path, scl: dict) -> None:
    params = real_params()
    params["runtime"] = merged(params["runtime"], {"threads": 1, "device": "cpu"})
    params["datasets"]["tiny"] = {"source": "synthetic", "layout": "market1501", "render": {}}
    params["scl"] = scl
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _stage(name: str, cwd: Path, *args: str, db: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    return subprocess.run(
        [sys.executable, "-m", f"stages.{name}", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _run_in_process(module, argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        run(module.main, module.__name__.rsplit(".", 1)[-1], argv)
    return exit_info.value.code, capsys.readouterr().err


def test_bad_params_exit_2_with_one_line(tmp_path, capsys):
    scl = merged(tiny_settings().model_dump(mode="json"), {"train": {"epochz": 1}})
    _write_params(tmp_path / "params.yaml", scl)
    code, err = _run_in_process(train_scl, ["--params", str(tmp_path / "params.yaml")], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("train_scl: error: invalid params")
    assert "scl.train.epochz: unknown key" in err


def test_missing_model_dir_is_an_expected_error(tiny_dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    scl = tiny_settings().model_dump(mode="json")
    _write_params(tmp_path / "params.yaml", scl)
    argv = ["--params", str(tmp_path / "params.yaml"), "--data", str(tiny_dataset.parent)]
    argv += ["--model-dir", str(tmp_path / "nope")]
    code, err = _run_in_process(eval_scl, argv, capsys)
    assert code == 2
    assert "config.json: not found; run the train_scl stage first" in err


@pytest.mark.slow
def test_train_and_eval_stages_with_mlflow(tiny_dataset, tmp_path):
    scl = tiny_settings(train={"epochs": 2, "warmup_epochs": 1}).model_dump(mode="json")
    params = tmp_path / "params.yaml"
    _write_params(params, scl)
    out = tmp_path / "out"
    db = tmp_path / "mlflow.db"
    common = ["--params", str(params), "--data", "."]
    train = _stage(
        "train_scl", tiny_dataset.parent, *common,
        "--model-dir", str(out / "models/scl"), "--plots-dir", str(out / "plots/train"), db=db,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    evaluate = _stage(
        "eval_scl", tiny_dataset.parent, *common, "--model-dir", str(out / "models/scl"),
        "--metrics", str(out / "metrics/scl.json"), "--plots-dir", str(out / "plots/eval"), db=db,
    )  # fmt: skip
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    metrics = json.loads((out / "metrics/scl.json").read_text())
    assert {"mAP", "rank1", "init_mAP", "hist_mAP"} <= set(metrics)
    assert (out / "plots/eval/cmc.csv").is_file() and (out / "plots/train/history.png").is_file()

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("scl")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["dvc.stage"] for r in runs) == ["eval_scl", "train_scl"]
    train_run = next(r for r in runs if r.data.tags["dvc.stage"] == "train_scl")
    steps = [m.step for m in client.get_metric_history(train_run.info.run_id, "loss")]
    assert steps == [0, 1]
    assert train_run.data.params["scl.train.epochs"] == "2"
