"""DVC experiments from Python: running ``dvc``, reading ``dvc exp show --json``.

Shared by ``scripts/seed_sweep.py`` (one experiment per seed) and ``pipeline.ablation``
(one experiment per row of a paper's ablation table). Nothing here trains; it runs the
``dvc`` next to the interpreter and reads what DVC recorded. No stage imports it.

Shape of ``dvc exp show --json`` with DVC 3.67 (checked on this repository's own
output; ``tests/fixtures/ablation/`` keeps a trimmed real one): a list of states
``{rev, name, data, error, experiments}``. The first is the workspace (rev
``"workspace"``), then the baseline commit, whose ``experiments`` is a list of
``{name, executor, revs: [state, ...]}``; ``revs[0]`` is the experiment's own commit
(for a queued or failed one, its stash entry). ``executor`` is null for a finished
experiment read from git, else ``{state: queued | running | success | failed, local:
{log, returncode, task_id, ...}}``. A state's ``data`` holds ``params {"params.yaml":
{"data": {...}}}``, ``metrics {"metrics/<track>.json": {"data": {...}}}`` (or
``{"error": ...}`` in place of ``data``) and ``deps {path: {hash, size, nfiles}}`` as
its dvc.lock recorded them, plus ``timestamp``; a state's ``error`` is set when the
experiment failed (``{"msg": "Experiment run failed"}``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.cpu_kernels import cpu_model
from pipeline.params import load_yaml

REPO = Path(__file__).resolve().parents[1]
# Code the stages run; their hashes in an experiment's dvc.lock identify it.
CODE_FOLDERS = ("pipeline/", "stages/")


class ExperimentError(ValueError):
    """A dvc command failed, or `dvc exp show` lacks what was asked of it."""


def dvc_binary() -> str:
    """The ``dvc`` of this interpreter's environment (else the one on PATH)."""
    found = Path(sys.executable).with_name("dvc")
    return str(found) if found.exists() else "dvc"


def dvc(args: Sequence[str], repo: Path = REPO) -> str:
    """Run a quick dvc command in ``repo`` and return its stdout."""
    proc = subprocess.run(
        [dvc_binary(), *args], cwd=repo, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ExperimentError(f"dvc {' '.join(args)} failed:\n{proc.stderr.strip()}")
    return proc.stdout


def start_queue(jobs: int = 1, repo: Path = REPO) -> None:
    """``dvc queue start -j <jobs>``, returning once the worker is started.

    The worker it spawns inherits the command's stdout and stderr: read through pipes,
    the call would last until the queue is empty. A file takes the output instead.
    """
    with tempfile.TemporaryFile(mode="w+") as out:
        code = subprocess.run(
            [dvc_binary(), "queue", "start", "-j", str(jobs)],
            cwd=repo,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
        if code != 0:
            out.seek(0)
            raise ExperimentError(f"dvc queue start -j {jobs} failed:\n{out.read().strip()}")


def show_experiments(
    *, queued: bool = False, rev: str | None = None, repo: Path = REPO
) -> list[dict]:
    """``dvc exp show --json`` of the current commit, or of ``rev`` (queued and running
    ones too when ``queued``: their ``executor`` carries the queue's state)."""
    args = ["exp", "show", "--json"] + ([] if queued else ["--hide-queued"])
    args += ["--rev", rev] if rev else []
    return json.loads(dvc(args, repo))


def experiments_on_head(repo: Path = REPO) -> set[str]:
    """Names DVC would refuse for a new experiment: those on the current commit."""
    return set(dvc(["exp", "list", "--name-only"], repo).split())


def workspace_is_current(track: str, repo: Path = REPO) -> bool:
    """True when ``dvc status`` finds nothing to rerun up to ``eval_<track>``: the
    workspace's metrics are then exactly what an experiment of its params would give."""
    return json.loads(dvc(["status", "--json", f"eval_{track}"], repo) or "{}") == {}


def experiment_entries(shown: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, dict]]:
    """name -> ``(baseline commit, {name, executor, revs})`` of every named experiment."""
    found: dict[str, tuple[str, dict]] = {}
    for baseline in shown:
        for exp_range in baseline.get("experiments") or []:
            if exp_range.get("name") and exp_range.get("revs"):
                found.setdefault(exp_range["name"], (baseline["rev"], exp_range))
    return found


def find_experiment(shown: Sequence[Mapping[str, Any]], name: str) -> tuple[str, dict]:
    """``(baseline commit, experiment state data)`` of the experiment called ``name``."""
    entry = experiment_entries(shown).get(name)
    if entry is None:
        raise ExperimentError(f"`dvc exp show` lists no experiment {name} on the current commit")
    baseline, exp_range = entry
    state = exp_range["revs"][0]
    if state.get("error"):
        raise ExperimentError(f"experiment {name}: DVC reports {state['error']}")
    return baseline, state.get("data") or {}


def file_data(data: Mapping[str, Any], kind: str, path: str, name: str) -> dict:
    """``data[kind][path]["data"]`` (kind: params or metrics), or a clear error."""
    entry = (data.get(kind) or {}).get(path)
    if not isinstance(entry, dict) or "data" not in entry:
        why = (entry or {}).get("error") if isinstance(entry, dict) else None
        raise ExperimentError(f"experiment {name}: no {path} ({why or 'not in dvc exp show'})")
    return entry["data"]


def workspace_state(shown: Sequence[Mapping[str, Any]]) -> tuple[str, dict]:
    """``(commit, data)`` of the workspace row of ``dvc exp show --json``; the commit is
    the baseline the workspace sits on (the one its experiments belong to)."""
    commits = [state["rev"] for state in shown if state.get("rev") != "workspace"]
    for state in shown:
        if state.get("rev") == "workspace" and commits:
            return commits[0], state.get("data") or {}
    raise ExperimentError("`dvc exp show` lists no workspace and baseline commit")


def digest(obj: Any) -> str:
    """sha256 of ``obj`` as sorted JSON."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def track_params(params: Mapping[str, Any], track: str) -> dict[str, Any]:
    """A track's own params: its section, ``runtime`` and its dataset's entry, so
    editing another track's leaves them (and their hash) alone. ``seed`` is not in it."""
    section = params.get(track) or {}
    return {
        "runtime": params.get("runtime"),
        track: section,
        "dataset": (params.get("datasets") or {}).get(section.get("dataset")),
    }


def track_code(track: str, repo: Path = REPO) -> set[str]:
    """The code paths (under pipeline/ and stages/) that ``train_<track>`` and
    ``eval_<track>`` depend on in dvc.yaml."""
    stages = (load_yaml(repo / "dvc.yaml") or {}).get("stages") or {}
    return {
        dep
        for stage in (f"train_{track}", f"eval_{track}")
        for dep in (stages.get(stage) or {}).get("deps") or []
        if isinstance(dep, str) and dep.startswith(CODE_FOLDERS)
    }


def code_digest(data: Mapping[str, Any], track: str, repo: Path = REPO) -> str:
    """Hash over the hashes of the track's code dependencies as the experiment's dvc.lock
    recorded them, so uncommitted code that went into the experiment shows."""
    own_code = track_code(track, repo)
    return digest(
        {
            path: dep.get("hash")
            for path, dep in (data.get("deps") or {}).items()
            if path in own_code
        }
    )


def machine() -> str:
    """The CPU the experiments ran on ("AMD EPYC, 2 cores"): outputs agree to the byte only
    on one kind of CPU, and the numbers move by about a seed's spread between kinds."""
    model = cpu_model() or platform.processor() or platform.machine() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores"
