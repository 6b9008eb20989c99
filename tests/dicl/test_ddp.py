"""DDP: two CPU processes (gloo) train DICL together through detectron2's launcher."""

from __future__ import annotations

import pytest

from tests.dicl.tiny_world import write_tiny_world
from tests.helpers.workers import run_worker


@pytest.mark.slow
def test_two_process_training_keeps_memories_identical(tmp_path):
    data = write_tiny_world(tmp_path / "data", tmp_path)
    out = tmp_path / "out"
    run_worker("tests.dicl.tiny_run", data, out, tmp_path, 1, 2, timeout=300)
    # every rank updated its memory copy with all ranks' embeddings: the copies agree
    digests = {(out / f"memory_rank{r}.txt").read_text() for r in (0, 1)}
    assert len(digests) == 1
    assert (out / "model" / "model.pt").is_file()
    history = (out / "plots" / "history.csv").read_text().splitlines()
    # header + one epoch (12 images / a step's 2 images, 1 per rank (batch_rule total) = 6 iters)
    assert len(history) == 2
