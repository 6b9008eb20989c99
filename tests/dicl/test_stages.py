"""The DICL stage scripts end to end on a tiny world: files, metric keys, determinism."""

from __future__ import annotations

import copy
import json

import pytest
from ruamel.yaml import YAML

from stages import eval_dicl, train_dicl
from tests.dicl.conftest import TINY_SECTION
from tests.dicl.tiny_world import write_tiny_world
from tests.real_config import merged, real_params

HEADLINE = {"mAP", "top1", "top5", "top10", "det_ap", "det_recall"}


def _write_params(tmp_path):
    params = real_params()
    params["runtime"] = merged(params["runtime"], {"threads": 1, "device": "cpu"})
    params["tracking"] = merged(params["tracking"], {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    params["datasets"]["tiny_cuhk"] = {"source": "synthetic", "layout": "cuhk_sysu", "render": {}}
    params["dicl"] = copy.deepcopy(TINY_SECTION)
    yaml = YAML()
    with (tmp_path / "params.yaml").open("w") as fh:
        yaml.dump(params, fh)


@pytest.mark.slow
def test_train_then_eval_writes_every_output(tmp_path, monkeypatch):
    write_tiny_world(tmp_path / "data", tmp_path)
    _write_params(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["--params", "params.yaml", "--data", "data"]
    train_dicl.main(args)
    for name in (
        "models/dicl/model.pt",
        "models/dicl/config.json",
        "plots/dicl/train/history.csv",
        "plots/dicl/train/history.png",
        "plots/dicl/train/pseudo_labels.csv",
    ):
        assert (tmp_path / name).is_file(), name

    eval_dicl.main(args)
    metrics = json.loads((tmp_path / "metrics/dicl.json").read_text())
    assert HEADLINE <= set(metrics)
    assert {f"init_{k}" for k in HEADLINE} <= set(metrics)
    assert {"g7_mAP", "g7_top1"} <= set(metrics)
    assert "gfull_mAP" not in metrics  # the full gallery extends 50-image lists: none here
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert list(metrics) == sorted(metrics)
    for name in ("cmc.csv", "det_pr.csv"):  # ranked_list.png: only once something is detected
        assert (tmp_path / "plots/dicl/eval" / name).is_file(), name

    first = {
        p: (tmp_path / p).read_bytes() for p in ("metrics/dicl.json", "plots/dicl/eval/cmc.csv")
    }
    eval_dicl.main(args)
    assert all((tmp_path / p).read_bytes() == b for p, b in first.items())


def test_layout_error_is_one_line(tmp_path, monkeypatch, capsys):
    _write_params(tmp_path)
    params = (
        (tmp_path / "params.yaml").read_text().replace("layout: cuhk_sysu", "layout: market1501")
    )
    (tmp_path / "params.yaml").write_text(params)
    monkeypatch.chdir(tmp_path)
    from stages._main import run

    with pytest.raises(SystemExit) as exc:
        run(train_dicl.main, "train_dicl", ["--params", "params.yaml"])
    assert exc.value.code == 2
    assert "supports cuhk_sysu, prw" in capsys.readouterr().err
