"""A checkpoint left by a run of other settings is not resumed (subprocess).

Kill and resume to the same bytes: tests/reliability/test_kill_resume.py.
"""

from __future__ import annotations

import pytest
import torch

from pipeline.checkpoint import resume_dir
from tests.dicl.tiny_world import write_tiny_world
from tests.helpers.workers import run_worker


@pytest.mark.slow
def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    # Left by a run killed before its params were changed: resuming it would mix two runs.
    data = write_tiny_world(tmp_path / "data", tmp_path)
    out = tmp_path / "out"
    checkpoint = resume_dir(out / "model") / "last.pt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"iteration": 5, "fingerprint": "another run"}, checkpoint)
    rerun = run_worker("tests.dicl.tiny_run", data, out, tmp_path, 3)
    assert "not resuming it, starting over" in rerun.stderr
    assert "resuming from iteration" not in rerun.stderr
    assert (out / "model" / "model.pt").is_file()
