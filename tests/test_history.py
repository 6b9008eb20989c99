"""Training-history plots (pipeline.engine.history): what each panel's axes say."""

from __future__ import annotations

import pytest

from pipeline.engine.history import write_history, y_label


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("loss_id", "loss"),
        ("total_loss", "loss"),
        ("lr", "learning rate"),
        ("val_mAP", "fraction"),
        ("val_det_recall", "fraction"),
        ("val_all_single_rank1", "fraction"),
        ("acc", "fraction"),
        ("pseudo/nmi", "fraction"),
        ("num_clusters", "num_clusters"),
    ],
)
def test_each_panel_says_what_it_measures(key, label):
    assert y_label(key) == label


def test_history_writes_csv_and_png(tmp_path):
    rows = [{"epoch": e, "loss": 1.0 / (e + 1), "val_mAP": 0.1 * e} for e in range(3)]
    write_history(rows, tmp_path / "h.csv", tmp_path / "h.png", title="demo")
    assert (tmp_path / "h.csv").read_text().splitlines()[0] == "epoch,loss,val_mAP"
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
