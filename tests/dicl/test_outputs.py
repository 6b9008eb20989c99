"""The DICL output files: model bytes, metric keys and prefixes, plots, ranked lists."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from pipeline.checkpoint import cpu_state_dict, state_dict_bytes
from pipeline.models.dicl.evaluate import SearchEvaluation
from pipeline.models.dicl.outputs import flat_metrics, write_eval_outputs, write_training_outputs


def _evaluation(tmp_path, value: float) -> SearchEvaluation:
    paths = []
    for k in range(3):
        path = tmp_path / f"scene{k}.png"
        Image.fromarray(np.full((40, 30, 3), 60 * k, dtype=np.uint8)).save(path)
        paths.append(str(path))
    ranked = [
        [
            {"image_id": 2, "box": [1, 1, 10, 20], "score": 0.9, "correct": True},
            {"image_id": 3, "box": [2, 2, 12, 30], "score": 0.5, "correct": False},
        ],
        [],
    ]
    return SearchEvaluation(
        metrics={"mAP": value, "top1": value, "det_ap": 0.5, "det_recall": 0.75},
        cmc=np.array([value, 1.0]),
        det_y_true=np.array([True, False, True]),
        det_y_score=np.array([0.9, 0.8, 0.6]),
        ranked=ranked,
        query_records=[{"file_name": paths[0], "box": [0, 0, 10, 20]}] * 2,
        image_files={1: paths[0], 2: paths[1], 3: paths[2]},
    )


def test_metrics_carry_init_prefix_and_sorted_keys(tmp_path):
    trained, init = _evaluation(tmp_path, 0.6), _evaluation(tmp_path, 0.1)
    metrics = flat_metrics(trained, init)
    assert metrics["mAP"] == 0.6 and metrics["init_mAP"] == 0.1
    assert list(metrics) == sorted(metrics)


def test_eval_outputs_are_written_and_deterministic(tmp_path):
    trained, init = _evaluation(tmp_path, 0.6), _evaluation(tmp_path, 0.1)
    runs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        write_eval_outputs(
            trained,
            init,
            metrics_path=out / "m.json",
            plots_dir=out / "eval",
            ranked_queries=4,
            seed=0,
        )
        runs.append(
            {p.name: p.read_bytes() for p in [out / "m.json", *sorted((out / "eval").iterdir())]}
        )
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"m.json", "cmc.csv", "det_pr.csv", "ranked_list.png"}
    assert runs[0]["cmc.csv"].decode().splitlines() == ["rank,trained,init", "1,0.6,0.1", "2,1,1"]
    assert json.loads(runs[0]["m.json"])["init_det_recall"] == 0.75


def test_model_bytes_do_not_depend_on_the_file_name(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    assert state_dict_bytes(cpu_state_dict(net)) == state_dict_bytes(cpu_state_dict(net))
    history = [{"epoch": 0, "loss_id": 1.5, "lr": 0.01, "pseudo_num_clusters": 4.0}]
    for name in ("a", "b"):
        write_training_outputs(
            net,
            {"k": 1},
            history,
            model_dir=tmp_path / name / "model",
            plots_dir=tmp_path / name / "plots",
        )
    assert (tmp_path / "a/model/model.pt").read_bytes() == (
        tmp_path / "b/model/model.pt"
    ).read_bytes()
    assert (tmp_path / "a/plots/pseudo_labels.csv").read_text() == "epoch,num_clusters\n0,4\n"
    assert "pseudo" not in (tmp_path / "a/plots/history.csv").read_text()
    loaded = torch.load(tmp_path / "a/model/model.pt", weights_only=True)
    assert torch.equal(loaded["weight"], net.weight)
