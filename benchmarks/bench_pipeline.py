"""Benchmark of the whole DVC pipeline on this machine: wall time per stage and in all.

Issue 9's figures: the default `dvc repro` at most 15 minutes on the 2-core
machine, a no-op `dvc repro` under 5 s, and the end-to-end test under 3 minutes.

1. ``--full``: `dvc repro --force` in a fresh clone of this repository (so the
   workspace's outputs and DVC cache are left alone), every stage timed from its
   "Running stage" line to the next; then checks that the clone's dvc.lock
   matches the committed one (gate B).
2. a no-op `dvc repro` in this repository, ``--noop`` times (default 5); the
   repository's outputs must be in place (run `dvc repro` or `dvc pull` first).

Run from the repository root: ``python benchmarks/bench_pipeline.py [--full] [--noop N]``.
Don't run it beside training or tests: two busy processes on two cores slow each
other several times over.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGE_LINE = re.compile(r"Running stage '([^']+)'")


def dvc_binary() -> str:
    found = Path(sys.executable).with_name("dvc")
    return str(found) if found.exists() else "dvc"


def timed_repro(cwd: Path, *args: str) -> tuple[float, list[tuple[str, float]]]:
    """Run `dvc repro *args` in ``cwd``; return its wall time and each stage's."""
    start = time.monotonic()
    marks: list[tuple[str, float]] = []
    proc = subprocess.Popen(
        [dvc_binary(), "repro", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tail: list[str] = []
    for line in proc.stdout:
        tail = (tail + [line])[-40:]
        match = STAGE_LINE.search(line)
        if match:
            marks.append((match.group(1), time.monotonic()))
            print(f"{marks[-1][1] - start:8.1f} s  {match.group(1)}", flush=True)
    if proc.wait() != 0:
        sys.exit(f"dvc repro {' '.join(args)} failed in {cwd}:\n{''.join(tail)}")
    end = time.monotonic()
    ends = [t for _, t in marks[1:]] + [end] * bool(marks)
    return end - start, [(name, stop - t) for (name, t), stop in zip(marks, ends, strict=True)]


def full_run() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        # The clone shares nothing with the workspace but the virtual environment.
        total, stages = timed_repro(clone, "--force")
        print("\nstage                              wall")
        for name, seconds in stages:
            print(f"{name:32s} {seconds:7.1f} s")
        print(f"{'total':32s} {total:7.1f} s ({total / 60:.1f} min; issue 9: at most 15 min)")
        changed = subprocess.run(["git", "diff", "--quiet", "--", "dvc.lock"], cwd=clone).returncode
        print("dvc.lock:", "changed (gate B would fail)" if changed else "reproduced byte for byte")


def noop_runs(count: int) -> None:
    walls = []
    for _ in range(count):
        wall, stages = timed_repro(REPO)
        if stages:
            sys.exit(f"not a no-op: {[name for name, _ in stages]} ran; run `dvc repro` first")
        walls.append(wall)
    print(
        f"no-op dvc repro: {', '.join(f'{w:.2f}' for w in walls)} s "
        f"(best {min(walls):.2f} s; issue 9: under 5 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="time a forced repro in a clone")
    parser.add_argument("--noop", type=int, default=5, help="no-op repro runs (0: none)")
    args = parser.parse_args()
    if args.full:
        full_run()
    if args.noop:
        noop_runs(args.noop)


if __name__ == "__main__":
    main()
