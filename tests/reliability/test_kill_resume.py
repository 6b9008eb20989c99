"""SIGKILL a training stage under `dvc repro`; the rerun resumes to the same bytes (issue 10).

Each training stage runs under `dvc repro` in the tiny copy and its python process
is killed after a random delay (seeded) once an epoch checkpoint exists; for SCL a
first kill lands earlier still, at a random point of the start. A plain `dvc repro`
then finishes the stage from the last checkpoint, and the stage's outputs (weights,
config, per-epoch metrics and curves) are byte-identical to an uninterrupted run.

DVC and a kill, as a user meets it:

- only the stage's process killed (OOM killer, ``kill -9 <pid>``): `dvc repro`
  reports ``failed to reproduce 'train_<track>'`` and exits non-zero; nothing stale
  is left, rerunning `dvc repro` is all there is to do;
- DVC killed too (the whole process group: a closed terminal, a killed job):
  ``.dvc/tmp/rwlock`` still names the dead DVC process. DVC 3 notices the pid is
  gone, prints ``... had been killed. Auto removed it from the lock file.`` and
  goes on; no lock file needs deleting by hand (the dead pid's read entries may
  stay in the file until they get in the way, and are removed then). Were DVC to
  refuse ("... is busy ... remove '.dvc/tmp/rwlock' and try again"), deleting
  that file once no DVC process runs is the fix DVC itself names.

The stage's outputs are ``persist: true`` (DVC leaves them alone) and replaced only
when a run succeeds, so after a kill they are the previous run's, never a partial
one; the resume state lives beside them in ``models/.<track>.resume/`` (not a DVC
output) and is deleted on success.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from pipeline.checkpoint import resume_dir
from tests.reliability.conftest import TRACKS, TinyRepo, hidden_leftovers

pytestmark = pytest.mark.slow

# The checkpoint the epoch loop (SCL, DCLNet) or the DICL hook writes after each epoch.
CHECKPOINT = {"scl": "last.pt", "dclnet": "main/last.pt", "dicl": "last.pt"}
RESUMED = {"scl": "resuming from epoch", "dclnet": "resuming from epoch", "dicl": "resuming from"}
SEEDS = {"scl": 101, "dclnet": 202, "dicl": 303}


def stage_process(dvc: subprocess.Popen, module: str) -> psutil.Process | None:
    """The python process DVC started for ``python -m <module>`` (not its shell)."""
    try:
        children = psutil.Process(dvc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    for child in children:
        try:
            cmdline = child.cmdline()
        except psutil.Error:
            continue
        if module in cmdline and "python" in Path(cmdline[0]).name:
            return child
    return None


def wait_for(condition, dvc: subprocess.Popen, what: str, timeout: float = 300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if dvc.poll() is not None:
            out = dvc.stdout.read() if dvc.stdout else ""
            pytest.fail(f"dvc exited ({dvc.returncode}) before {what}:\n{out[-3000:]}")
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def start_repro(tiny: TinyRepo, track: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["dvc", "repro", f"train_{track}"],
        cwd=tiny.root,
        env=tiny.stage_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: killable as a whole
    )


def kill_stage(
    tiny: TinyRepo,
    track: str,
    rng: random.Random,
    *,
    after_checkpoint: bool,
    whole_group: bool = False,
) -> str:
    """Run `dvc repro train_<track>`, SIGKILL its stage process at a random point.

    Returns DVC's output. Fails when the stage ended before the kill landed.
    """
    module = TRACKS[track][2]
    checkpoint = resume_dir(tiny.root / "models" / track) / CHECKPOINT[track]
    before = tiny.dvc_outputs(track)
    dvc = start_repro(tiny, track)
    try:
        stage = wait_for(lambda: stage_process(dvc, module), dvc, f"{module} started")
        if after_checkpoint:
            wait_for(checkpoint.is_file, dvc, f"a checkpoint at {checkpoint}")
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            time.sleep(rng.uniform(0.0, 2.0))
        assert stage.is_running(), f"{module} finished before the kill: lengthen KILL_EPOCHS"
        if whole_group:
            os.killpg(dvc.pid, signal.SIGKILL)
        else:
            stage.send_signal(signal.SIGKILL)
        out, _ = dvc.communicate(timeout=120)
    finally:
        if dvc.poll() is None:
            os.killpg(dvc.pid, signal.SIGKILL)
            dvc.wait()
    assert dvc.returncode != 0
    if not whole_group:
        assert f"failed to reproduce 'train_{track}'" in out, out[-2000:]
    # The killed stage wrote nothing over the previous outputs (persist: true).
    assert tiny.dvc_outputs(track) == before
    if after_checkpoint:
        assert checkpoint.is_file()
    return out or ""


def resume_and_compare(tiny: TinyRepo, track: str, expect_resume: bool) -> str:
    proc = tiny.dvc("repro", f"train_{track}")
    output = proc.stdout + proc.stderr
    assert f"Running stage 'train_{track}'" in proc.stdout
    if expect_resume:
        assert RESUMED[track] in output, output[-3000:]
    assert tiny.dvc_outputs(track) == tiny.reference(track)
    assert not resume_dir(tiny.root / "models" / track).exists()  # cleared on success
    assert hidden_leftovers(tiny.root / "models") == []
    assert hidden_leftovers(tiny.root / "plots" / track) == []
    return output


def test_killed_scl_training_resumes_to_identical_outputs(tiny):
    rng = random.Random(SEEDS["scl"])
    # A first kill anywhere in the first seconds (start-up, data, first epoch) ...
    kill_stage(tiny, "scl", rng, after_checkpoint=False)
    # ... and one after a checkpoint exists: the rerun must continue from it.
    kill_stage(tiny, "scl", rng, after_checkpoint=True)
    resume_and_compare(tiny, "scl", expect_resume=True)


def test_killed_dclnet_training_resumes_to_identical_outputs(tiny):
    rng = random.Random(SEEDS["dclnet"])
    kill_stage(tiny, "dclnet", rng, after_checkpoint=True)
    resume_and_compare(tiny, "dclnet", expect_resume=True)


def test_killed_dvc_and_dicl_training_resume_past_the_stale_lock(tiny):
    """DVC itself killed too: its rwlock names a dead pid; the rerun removes it and resumes."""
    rng = random.Random(SEEDS["dicl"])
    kill_stage(tiny, "dicl", rng, after_checkpoint=True, whole_group=True)
    rwlock = tiny.root / ".dvc" / "tmp" / "rwlock"
    assert "train_dicl" in rwlock.read_text()  # the dead DVC's entry is still there
    output = resume_and_compare(tiny, "dicl", expect_resume=True)
    assert "Auto removed it from the lock file" in output
