"""Training runs on the tiny world: batches, outputs, determinism, RegDB units.

Kill and resume: tests/reliability/test_kill_resume.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.checkpoint import resume_dir
from pipeline.data.reid_index import IndexRow
from pipeline.models.dclnet.data import load_train_set
from pipeline.models.dclnet.evaluation import evaluate_dclnet, intra_modality_scores
from pipeline.models.dclnet.network import build_dclnet
from pipeline.models.dclnet.settings import DclnetSettings
from pipeline.models.dclnet.trainer import DclnetTrainer
from pipeline.models.dclnet.training import train_dclnet
from pipeline.runtime import setup
from tests.dclnet.dclnet_tiny import TINY_SETTINGS, write_tiny_regdb_dataset
from tests.real_config import merged, runtime_settings

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def train(root: Path, settings: DclnetSettings, layout="sysu_mm01", out="run", **kw):
    runtime = setup(runtime_settings(threads=1), 0)  # what the stage does first
    data = root / "processed"
    return train_dclnet(
        settings,
        layout,
        data_dir=data,
        model_dir=root / out / "models",
        plots_dir=root / out / "plots",
        runtime=runtime,
        seed=0,
        root=root,
        **kw,
    )


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_batches_pair_identities_across_modalities(tiny_vi, tiny_settings):
    train_set = load_train_set(tiny_vi / "processed" / "index.csv", tiny_settings.input, tiny_vi)
    assert train_set.num_classes == 6 and sorted(set(train_set.labels.tolist())) == list(range(6))
    model = build_dclnet(num_classes=6, seed=0, depth=18, width=8)
    runtime = setup(runtime_settings(threads=1), 0)
    trainer = DclnetTrainer(
        model, train_set.dataset, train_set.labels, train_set.modalities, tiny_settings, runtime, 0
    )
    trainer.sampler.set_epoch(0)
    n, k = tiny_settings.sampler.ids_per_batch, tiny_settings.sampler.images_per_id
    for batch in trainer._loader(0):
        assert batch.image.shape == (2 * n * k, 3, 96, 48)
        assert batch.modality.tolist() == [0] * (n * k) + [1] * (n * k)
        vis, ir = batch.pid[: n * k], batch.pid[n * k :]
        assert torch.equal(vis, ir)  # item i of each half: one identity
        assert len(set(vis.tolist())) == n
        assert all(vis.tolist().count(p) == k for p in set(vis.tolist()))


@pytest.mark.slow
def test_train_writes_outputs_and_is_byte_identical(tiny_vi, tiny_settings):
    result = train(tiny_vi, tiny_settings, out="a")
    train(tiny_vi, tiny_settings, out="b")
    a, b = files(tiny_vi / "a"), files(tiny_vi / "b")
    assert {"models/model.pt", "models/config.json", "plots/history.csv", "plots/history.png",
            "plots/part_masks.png"} <= set(a)  # fmt: skip
    assert a == b
    rows = result["main"]["history"]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert {"loss", "loss_dense", "loss_pixel", "lr", "dense_pixels"} <= set(rows[0])
    config = json.loads(a["models/config.json"])
    assert config["units"] == {
        "main": {"model": "model.pt", "num_classes": 6, "validation_ids": []}
    }
    assert not resume_dir(tiny_vi / "a" / "models").exists()
    # The final weights are a plain state dict that loads into the network.
    state = torch.load(tiny_vi / "a" / "models" / "model.pt", weights_only=True)
    build_dclnet(num_classes=6, seed=0, depth=18, width=8).load_state_dict(state)


def test_regdb_trains_one_model_per_split_and_keeps_finished_splits(tmp_path):
    write_tiny_regdb_dataset(tmp_path, splits=(1, 2))
    settings = DclnetSettings.model_validate(
        merged(TINY_SETTINGS, {"dataset": "tiny_regdb", "splits": [1, 2]})
    )
    calls = []

    def crash_in_split_2(unit, epoch, row):
        calls.append((unit, epoch))
        if unit == "split_2":
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        train(tmp_path, settings, layout="regdb", on_epoch_end=crash_in_split_2)
    assert calls == [("split_1", 0), ("split_1", 1), ("split_2", 0)]
    calls.clear()
    train(tmp_path, settings, layout="regdb", on_epoch_end=lambda u, e, r: calls.append((u, e)))
    assert calls == [("split_2", 1)]  # split 1 not redone; split 2 resumed after epoch 0
    out = files(tmp_path / "run")
    assert {"models/splits/1/model.pt", "models/splits/2/model.pt", "plots/split_1/history.csv",
            "plots/split_2/history.csv", "plots/part_masks.png"} <= set(out)  # fmt: skip

    config = json.loads(out["models/config.json"])
    metrics = evaluate_dclnet(
        settings, "regdb", config,
        data_dir=tmp_path / "processed", model_dir=tmp_path / "run" / "models",
        plots_dir=tmp_path / "eval", device=torch.device("cpu"), root=tmp_path,
    )  # fmt: skip
    for prefix in ("", "init_", "hist_"):
        for key in ("v2t_mAP", "t2v_mAP", "v2t_rank1", "t2v_rank1", "t2v_mINP"):
            assert 0.0 <= metrics[prefix + key] <= 1.0
    assert (tmp_path / "eval" / "ranked_lists.png").is_file()


def test_eval_sysu_keys_and_determinism(tiny_vi, tiny_settings):
    train(tiny_vi, tiny_settings)
    config = json.loads((tiny_vi / "run" / "models" / "config.json").read_text())

    def evaluate(out):
        return evaluate_dclnet(
            tiny_settings, "sysu_mm01", config,
            data_dir=tiny_vi / "processed", model_dir=tiny_vi / "run" / "models",
            plots_dir=tiny_vi / out, device=torch.device("cpu"), root=tiny_vi,
        )  # fmt: skip

    first, second = evaluate("e1"), evaluate("e2")
    assert first == second and files(tiny_vi / "e1") == files(tiny_vi / "e2")
    for prefix in ("", "init_", "hist_"):
        for proto in ("all_single", "all_multi", "indoor_single", "indoor_multi"):
            for metric in ("mAP", "mINP", "rank1", "rank5", "rank10", "rank20"):
                assert 0.0 <= first[f"{prefix}{proto}_{metric}"] <= 1.0
        for modality in ("visible", "infrared"):
            for metric in ("mAP", "mINP", "rank1"):
                assert 0.0 <= first[f"{prefix}intra_{modality}_{metric}"] <= 1.0
    assert len(first) == 3 * 4 * 6 + 3 * 2 * 3
    assert set(files(tiny_vi / "e1")) == {
        "cmc.csv",
        "precision_recall.csv",
        "ranked_lists.png",
        "runs.json",
    }
    runs = json.loads((tiny_vi / "e1" / "runs.json").read_text())
    assert len(runs["all_single"]) == tiny_settings.eval.trials


def _row(pid: int, camera: int, modality: str = "visible") -> IndexRow:
    return IndexRow(f"c{camera}/{pid}.jpg", pid, camera, "gallery", modality)


def test_intra_modality_scores_follow_the_market_rule():
    # Ids 1 and 2 each in cameras 1 and 2; id 3 only in camera 1 (no valid match: skipped).
    rows = [_row(1, 1), _row(1, 2), _row(2, 1), _row(2, 2), _row(3, 1)]
    by_identity = np.eye(3, dtype=np.float32)[[0, 0, 1, 1, 2]]
    perfect = intra_modality_scores(by_identity, rows, "visible")
    assert perfect == {
        "intra_visible_mAP": 1.0,
        "intra_visible_mINP": 1.0,
        "intra_visible_rank1": 1.0,
    }
    # Unit vectors at these angles (degrees): each image's nearest neighbour is the other
    # identity's image of its own camera, so the true match ranks 2nd or 3rd of the 4 others
    # (an image never matches itself: same id, same camera) and id 3 is skipped.
    angles = np.radians([0, 90, 10, 100, 210])
    on_circle = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    swapped = intra_modality_scores(on_circle, rows, "infrared")
    # Ranks of the true match: 2 (0 deg), 3 (90), 3 (10), 2 (100).
    assert swapped["intra_infrared_rank1"] == 0.0
    assert swapped["intra_infrared_mAP"] == pytest.approx((1 / 2 + 1 / 3 + 1 / 3 + 1 / 2) / 4)


def test_missing_index_is_a_clear_error(tmp_path, tiny_settings):
    with pytest.raises(FileNotFoundError, match="index.csv"):
        train(tmp_path, tiny_settings)
    shutil.rmtree(tmp_path, ignore_errors=True)
