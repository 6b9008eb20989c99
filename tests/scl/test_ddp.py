"""DDP: two CPU processes (gloo) train the tiny run and keep identical state."""

from __future__ import annotations

import pytest

from tests.helpers.workers import run_worker


@pytest.mark.slow
def test_two_process_gloo_training(tiny_dataset, tmp_path):
    out = tmp_path / "ddp"
    run_worker("tests.scl.tiny_run", tiny_dataset.parent, out, 2, ranks=2, timeout=900)
    digests = [(out / f"rank{r}.txt").read_text().split() for r in (0, 1)]
    # Same weights, same memory banks, same pseudo labels on both ranks.
    assert digests[0] == digests[1]
    assert (out / "model/model.pt").is_file()
    history = (out / "plots/history.csv").read_text().splitlines()
    assert len(history) == 3  # header + 2 epochs, written once by rank 0
    # 90 images, the configured batch of 8 as the step's total (runtime.batch_rule: total),
    # 4 per rank: 11 steps of 8 images per epoch.
    assert history[1].split(",")[history[0].split(",").index("images")] == "88"
