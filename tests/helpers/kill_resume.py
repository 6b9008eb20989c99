"""Kill a training stage at a fixed optimizer step, rerun it, compare with an uninterrupted run.

The kill is ``pipeline.checkpoint.KILL_AFTER_STEP_ENV``: the stage process ends itself right
after its N-th optimizer step with ``KILLED_EXIT_CODE``, skipping every cleanup as SIGKILL
would, so where it stops depends on no timing. The stage runs under `dvc repro` in the
reliability copy (``tests/reliability/conftest.py``), as a user meets a kill:

- only the stage's process killed (OOM killer, ``kill -9 <pid>``): `dvc repro` reports
  ``failed to reproduce 'train_<track>'`` and exits non-zero; nothing stale is left, rerunning
  `dvc repro` is all there is to do;
- DVC killed too (the whole process group: a closed terminal, a killed job):
  ``.dvc/tmp/rwlock`` still names the dead DVC process. DVC 3 notices the pid is gone, prints
  ``... had been killed. Auto removed it from the lock file.`` and goes on. Were DVC to
  refuse ("... is busy ... remove '.dvc/tmp/rwlock' and try again"), deleting that file once
  no DVC process runs is the fix DVC itself names.

The stage's outputs are ``persist: true`` (DVC leaves them alone) and replaced only when a run
succeeds, so after a kill they are the previous run's, never a partial one; the resume state
lives beside them in ``models/.<track>.resume/`` (not a DVC output) and is deleted on success.
"""

from __future__ import annotations

import subprocess

from pipeline.checkpoint import KILL_AFTER_STEP_ENV, KILLED_EXIT_CODE, has_resume_state
from tests.reliability.conftest import TinyRepo, hidden_leftovers


def killed_repro(tiny: TinyRepo, track: str, step: int, *options: str) -> str:
    """`dvc repro <options> train_<track>` with the stage ended after optimizer step ``step``.

    Returns DVC's output (the stage's included); fails unless the trigger ended the stage.
    """
    proc = subprocess.run(
        ["dvc", "repro", *options, f"train_{track}"],
        cwd=tiny.root,
        env=tiny.stage_env(**{KILL_AFTER_STEP_ENV: str(step)}),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert f"{KILL_AFTER_STEP_ENV}={step}: exiting ({KILLED_EXIT_CODE})" in output, output[-3000:]
    assert f"failed to reproduce 'train_{track}'" in output, output[-3000:]
    assert has_resume_state(tiny.root / "models" / track)
    return output


def kill_and_resume(tiny: TinyRepo, track: str, *, step: int, resumed: str) -> None:
    """Kill `dvc repro train_<track>` after optimizer step ``step``, rerun it, compare bytes.

    ``resumed`` is the rerun's log line naming where it resumes (the kill's epoch).
    """
    reference = tiny.reference(track)  # uninterrupted, outside DVC
    tiny.ensure_data(track)
    before = tiny.dvc_outputs(track)
    killed_repro(tiny, track, step)
    assert tiny.dvc_outputs(track) == before  # nothing written over the previous outputs

    proc = tiny.dvc("repro", f"train_{track}")
    output = proc.stdout + proc.stderr
    assert f"Running stage 'train_{track}'" in proc.stdout
    assert resumed in output, output[-3000:]
    assert tiny.dvc_outputs(track) == reference
    assert not has_resume_state(tiny.root / "models" / track)  # cleared on success
    assert hidden_leftovers(tiny.root / "models") == []
    assert hidden_leftovers(tiny.root / "plots" / track) == []
