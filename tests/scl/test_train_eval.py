"""End to end on the tiny dataset: outputs, kNN mode, evaluation, a foreign checkpoint.

Kill and resume: tests/reliability/test_kill_resume.py.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.checkpoint import resume_dir
from pipeline.models.scl.evaluate import evaluate_scl
from pipeline.models.scl.train import train_scl
from pipeline.models.scl.validation import query_mask
from pipeline.runtime import setup
from tests.helpers.workers import run_worker
from tests.real_config import runtime_settings
from tests.scl.tiny_data import tiny_settings

OUTPUT_FILES = (
    "model/model.pt",
    "model/config.json",
    "model/pseudo_labels/round_00.csv",
    "model/pseudo_labels/round_01.csv",
    "plots/history.csv",
    "plots/history.png",
    "plots/pseudo_labels.csv",
    "plots/pseudo_labels.png",
)


@pytest.fixture(scope="module")
def uninterrupted(tiny_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scl_run_a")
    run_worker("tests.scl.tiny_run", tiny_dataset.parent, out, 3, timeout=900)
    return out


@pytest.mark.slow
def test_outputs_of_a_cluster_mode_run(uninterrupted, tiny_dataset):
    for name in OUTPUT_FILES:
        assert (uninterrupted / name).is_file(), name
    assert not (uninterrupted / "model/pseudo_labels/round_02.csv").exists()  # 3 epochs, 1 warm-up
    state = torch.load(uninterrupted / "model/model.pt", weights_only=True)
    assert "global_fc.weight" in state and "trunk.0.weight" in state
    config = json.loads((uninterrupted / "model/config.json").read_text())
    assert config["seed"] == 0 and config["num_rounds"] == 2
    assert config["settings"]["model"]["backbone"] == "resnet18"
    with (uninterrupted / "model/pseudo_labels/round_01.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["path", "camera", "label"] and len(rows) == 90
    assert all(int(r["label"]) >= -1 for r in rows)
    with (uninterrupted / "plots/history.csv").open() as fh:
        history = list(csv.DictReader(fh))
    assert [h["epoch"] for h in history] == ["0", "1", "2"]
    assert history[0]["pl_num_clusters"] == "" and float(history[1]["pl_num_clusters"]) > 0
    with (uninterrupted / "plots/pseudo_labels.csv").open() as fh:
        rounds = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rounds] == ["1", "2"] and "nmi" in rounds[0]
    assert not resume_dir(uninterrupted / "model").exists()  # cleared on success


@pytest.mark.slow
def test_evaluation_metrics_and_plots_are_deterministic(uninterrupted, tiny_dataset, tmp_path):
    runtime = setup(runtime_settings(threads=1, device="cpu"), 0)
    outs = []
    for run in ("x", "y"):
        metrics = evaluate_scl(
            tiny_settings(),
            model_dir=uninterrupted / "model",
            index_csv=tiny_dataset,
            root=tiny_dataset.parent,
            metrics_path=tmp_path / run / "scl.json",
            plots_dir=tmp_path / run / "eval",
            runtime=runtime,
            pretrained_cache=tmp_path / "cache",
        )
        outs.append(tmp_path / run)
    keys = {
        f"{p}{k}"
        for p in ("", "init_", "hist_")
        for k in ("mAP", "rank1", "rank5", "rank10", "mINP")
    }
    assert set(metrics) == keys
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert metrics["rank1"] <= metrics["rank5"] <= metrics["rank10"]
    for name in ("scl.json", "eval/cmc.csv", "eval/ranked_lists.png"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    header = (outs[0] / "eval/cmc.csv").read_text().splitlines()[0]
    assert header == "rank,scl,init,hist"


@pytest.mark.slow
def test_knn_mode_runs_the_papers_selection(tiny_dataset, tmp_path):
    runtime = setup(runtime_settings(threads=1, device="cpu"), 0)
    history = train_scl(
        tiny_settings(mode="knn", train={"epochs": 2, "warmup_epochs": 1}),
        index_csv=tiny_dataset,
        root=tiny_dataset.parent,
        model_dir=tmp_path / "model",
        plots_dir=tmp_path / "plots",
        runtime=runtime,
        seed=0,
    )
    assert "positive_precision" not in history[0]  # warm-up: self only
    assert 0.0 <= history[1]["positive_precision"] <= 1.0
    assert "pl_num_clusters" not in history[1] and "loss_cluster" not in history[1]
    assert list((tmp_path / "model/pseudo_labels").iterdir()) == []


@pytest.mark.slow
def test_a_checkpoint_of_other_settings_is_not_resumed(uninterrupted, tiny_dataset, tmp_path):
    # Left by a run killed before its params were changed: resuming it would mix two runs.
    out = tmp_path / "run_c"
    checkpoint = resume_dir(out / "model") / "last.pt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"epoch": 1, "fingerprint": "another run"}, checkpoint)
    proc = run_worker("tests.scl.tiny_run", tiny_dataset.parent, out, 3, timeout=900)
    assert "not resuming it, starting over" in proc.stderr
    for name in OUTPUT_FILES:
        assert (out / name).read_bytes() == (uninterrupted / name).read_bytes(), name


@pytest.mark.slow
def test_held_out_identities_never_train_and_are_scored(tiny_dataset, tmp_path):
    # Train ids 1-10 of the tiny set; 9 and 10 are held out for validation.
    runtime = setup(runtime_settings(threads=1, device="cpu"), 0)
    settings = tiny_settings(
        train={"epochs": 2, "warmup_epochs": 1}, validation={"pids": [9, 10], "every": 1}
    )
    history = train_scl(
        settings,
        index_csv=tiny_dataset,
        root=tiny_dataset.parent,
        model_dir=tmp_path / "model",
        plots_dir=tmp_path / "plots",
        runtime=runtime,
        seed=0,
    )
    config = json.loads((tmp_path / "model/config.json").read_text())
    assert config["num_train_images"] == 8 * 3 * 3  # 8 of 10 ids x 3 cameras x 3 images
    rounds = (tmp_path / "model/pseudo_labels/round_00.csv").read_text()
    assert "/0009_" not in rounds and "/0010_" not in rounds
    for row in history:  # every epoch scored (every: 1)
        assert 0.0 < row["val_mAP"] <= 1.0 and 0.0 <= row["val_rank1"] <= 1.0
    validation = config["validation"]
    assert validation["val_mAP"] == pytest.approx(history[-1]["val_mAP"], abs=1e-6)  # rounded
    assert {"val_init_mAP", "val_hist_mAP", "val_init_rank1", "val_hist_rank1"} <= set(validation)


def test_validation_ids_without_train_images_are_refused(tiny_dataset, tmp_path):
    runtime = setup(runtime_settings(threads=1, device="cpu"), 0)
    with pytest.raises(ValueError, match=r"scl.validation.pids: \[11\] have no train images"):
        train_scl(
            tiny_settings(validation={"pids": [9, 11]}),  # 11 is a test identity
            index_csv=tiny_dataset,
            root=tiny_dataset.parent,
            model_dir=tmp_path / "model",
            plots_dir=tmp_path / "plots",
            runtime=runtime,
            seed=0,
        )
    assert not (tmp_path / "model").exists()


def test_queries_are_the_first_image_of_each_identity_and_camera():
    pids = np.array([5, 5, 5, 7, 7, 5])
    cams = np.array([1, 1, 2, 1, 1, 2])
    assert query_mask(pids, cams).tolist() == [True, False, True, True, False, False]


def _trainer(settings, tiny_dataset):
    from pipeline.models.scl.data import test_dataset, train_dataset
    from pipeline.models.scl.network import build_net_for
    from pipeline.models.scl.trainer import SCLTrainer

    d = settings.data
    train_set = train_dataset(
        tiny_dataset, tiny_dataset.parent, height=d.height, width=d.width, flip=d.flip
    )
    extract = test_dataset(
        tiny_dataset, tiny_dataset.parent, "train", height=d.height, width=d.width
    )
    runtime = setup(runtime_settings(threads=1, device="cpu"), 0)
    return SCLTrainer(
        net=build_net_for(settings, None, 0),
        settings=settings,
        train_set=train_set,
        extract_set=extract,
        runtime=runtime,
        seed=0,
        report_ids=train_set.pids,
    )


@pytest.mark.slow
def test_selection_off_keeps_the_warm_up_rule_in_every_epoch(tiny_dataset):
    settings = tiny_settings(selection={"enabled": False}, train={"epochs": 2, "warmup_epochs": 1})
    trainer = _trainer(settings, tiny_dataset)
    rows = [trainer.train_epoch(epoch) for epoch in range(2)]
    assert trainer.rounds == []  # no pseudo-label round in cluster mode either
    for row in rows:  # self the only positive: no neighbour precision, no cluster term
        assert "positive_precision" not in row and "loss_cluster" not in row
        assert "pl_num_clusters" not in row
    # The same trainer with selection on selects after the warm-up epoch.
    on = _trainer(tiny_settings(train={"epochs": 2, "warmup_epochs": 1}), tiny_dataset)
    assert "pl_num_clusters" in [on.train_epoch(e) for e in range(2)][1]


@pytest.mark.slow
def test_cluster_contrast_recipe_trains_with_adam_and_identity_batches(tiny_dataset):
    settings = tiny_settings(
        data={"sampler": "pk", "num_instances": 4, "pad": 2, "erasing": 0.5},
        train={"epochs": 2, "warmup_epochs": 0, "optimizer": "adam", "iters_per_epoch": 3},
        memory={"cluster_momentum": 0.1},
    )
    trainer = _trainer(settings, tiny_dataset)
    assert isinstance(trainer.optimizer, torch.optim.Adam)
    batches = []
    original = trainer._step

    def spy(images, cams, idx, warm):
        batches.append(idx.tolist())
        return original(images, cams, idx, warm)

    trainer._step = spy
    row = trainer.train_epoch(0)
    labels = trainer.labels.cpu().numpy()
    assert row["pl_num_clusters"] >= 2, row  # enough clusters for 2 identities x 4 images
    assert len(batches) == 3 and row["images"] == 24.0  # iters_per_epoch, not one pass
    for batch in batches:
        assert sorted(Counter(labels[batch].tolist()).values()) == [4, 4]
        assert (labels[batch] >= 0).all()  # outliers never train
