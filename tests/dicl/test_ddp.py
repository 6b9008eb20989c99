"""Two CPU processes (gloo) train DICL together through detectron2's launcher."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dicl.tiny_world import write_tiny_world

SCRIPT = Path(__file__).with_name("tiny_run.py")


@pytest.mark.slow
def test_two_process_training_keeps_memories_identical(tmp_path):
    data = write_tiny_world(tmp_path / "data", tmp_path)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, str(SCRIPT), str(data), str(out), str(tmp_path), "1", "2"],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    # every rank updated its memory copy with all ranks' embeddings: the copies agree
    digests = {(out / f"memory_rank{r}.txt").read_text() for r in (0, 1)}
    assert len(digests) == 1
    assert (out / "model" / "model.pt").is_file()
    history = (out / "plots" / "history.csv").read_text().splitlines()
    assert len(history) == 2  # header + one epoch (12 images / (2 per batch x 2 ranks) = 3 iters)
