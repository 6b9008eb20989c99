"""A training stage killed mid-training under `dvc repro` resumes to the same bytes (issue 10).

One test per track, through ``tests/helpers/kill_resume.py``: the reliability copy trains two
epochs; the stage is ended (``PIPELINE_TEST_KILL_AFTER_STEP``) in the second epoch, after the
first epoch's checkpoint, and a plain `dvc repro` then finishes it from that checkpoint with
weights, config, per-epoch history and curves byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import pytest

from tests.helpers.kill_resume import kill_and_resume

pytestmark = pytest.mark.slow


def test_scl_training_killed_in_its_second_epoch_resumes_to_identical_outputs(tiny):
    # Epoch 0 (warm-up) takes 3 steps; step 4 is the first of epoch 1, after the first clustering.
    kill_and_resume(tiny, "scl", step=4, resumed="resuming from epoch 1 of 2")


def test_dclnet_training_killed_in_its_second_epoch_resumes_to_identical_outputs(tiny):
    # One step per epoch: step 2 is epoch 1's, killed before its checkpoint.
    kill_and_resume(tiny, "dclnet", step=2, resumed="resuming from epoch 1 of 2")


def test_dicl_training_killed_in_its_second_epoch_resumes_to_identical_outputs(tiny):
    # 8 steps per epoch (16 training scenes, 2 per batch): step 10 is the second of epoch 1.
    kill_and_resume(tiny, "dicl", step=10, resumed="resuming from iteration 8")
