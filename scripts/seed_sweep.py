"""Seed sweep: the default pipeline for several top-level seeds, one command.

For each track and seed it runs, one after another,

    dvc exp run --temp -n sweep-<track>-seed<N> -S seed=<N> eval_<track>

so only that track's train and eval stages run (the data stages come from DVC's
cache) in a temporary copy; the workspace and its params.yaml are left alone. Runs go
one at a time: on the 2-core machine queued parallel experiments were measured slower
(README, "MLflow"). An experiment of the same name on the current commit is removed
first (DVC refuses the name otherwise). Each run's metrics are read back with
``dvc exp show --json``; the metrics and floors come from ``metrics/expected.yaml``.

Writes ``reports/seed_sweep.json`` (per track and seed the metrics, the floors' margins
and verdicts; mean / min / max) and ``reports/seed_sweep.md`` (the table). A track's
entry replaces only that track's, so tracks can be swept separately. Run from the
repository root with the environment active::

    python scripts/seed_sweep.py [--seeds 0 1 2 3 4] [--tracks dicl scl dclnet]
                                 [--dry-run] [--collect-only]

The workspace's own seed is not rerun when ``dvc status`` finds its track up to date:
its committed metrics are that seed's run. ``--dry-run`` prints the dvc commands; ``--collect-only`` runs nothing and tabulates the
experiments an earlier sweep left (after an interruption, say). Progress goes to stderr.
Five seeds of the three tracks take about an hour on the 2-core machine (12.5 min of
training and evaluation per seed, README's per-stage times); don't run it beside other
training there.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.dvc_experiments import (
    code_digest,
    digest,
    dvc,
    dvc_binary,
    experiments_on_head,
    file_data,
    find_experiment,
    machine,
    show_experiments,
    track_params,
    workspace_is_current,
    workspace_state,
)
from pipeline.io import write_json, write_text
from pipeline.params import load_params
from pipeline.report.expectations import (
    EXPECTATIONS_FILE,
    TRACKS,
    TrackExpectation,
    check_floors,
    load_expectations,
)
from pipeline.report.seed_sweep import (
    SWEEP_COMMAND,
    SWEEP_FILE,
    SweepError,
    load_sweep,
    merge_sweep,
    summarize_track,
    sweep_markdown,
)
from pipeline.report.summary import TRACK_OF_SECTION

REPO = Path(__file__).resolve().parents[1]
SWEEP_MARKDOWN = SWEEP_FILE.with_suffix(".md")
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
# The params.yaml section of each track (its stages also read `seed` and `runtime`).
TRACK_SECTIONS = {track: section for section, track in TRACK_OF_SECTION.items()}
TAIL_LINES = 40


def progress(message: str) -> None:
    print(f"seed_sweep: {message}", file=sys.stderr, flush=True)


def experiment_name(track: str, seed: int) -> str:
    return f"sweep-{track}-seed{seed}"


def run_command(track: str, seed: int) -> list[str]:
    """The one experiment of a track and seed: that track's stages only, in a temporary copy."""
    name = experiment_name(track, seed)
    return ["dvc", "exp", "run", "--temp", "-n", name, "-S", f"seed={seed}", f"eval_{track}"]


def sweep_command(seeds: Sequence[int], tracks: Sequence[str], collect_only: bool) -> str:
    """The command line as a reader would type it (no interpreter path)."""
    words = [SWEEP_COMMAND, "--seeds", *map(str, seeds), "--tracks", *tracks]
    return " ".join(words + (["--collect-only"] if collect_only else []))


def seed_record(
    shown: Sequence[Mapping[str, Any]],
    track: str,
    seed: int,
    metrics_file: str,
    *,
    from_workspace: bool = False,
) -> tuple[dict, dict]:
    """One seed's metrics and what it ran on (baseline commit, params and code hashes).

    The params hash covers the track's own params (its section, ``runtime`` and its
    dataset's entry), not ``seed``, which is what varies; the code hash is over the
    hashes of the track's code dependencies as the experiment's dvc.lock recorded them,
    so uncommitted code that went into the experiment shows. ``from_workspace``: the
    workspace's own up-to-date run stands for its seed (nothing reran for it).
    """
    name = "workspace" if from_workspace else experiment_name(track, seed)
    baseline, data = workspace_state(shown) if from_workspace else find_experiment(shown, name)
    params = file_data(data, "params", "params.yaml", name)
    if params.get("seed") != seed:
        raise SweepError(f"experiment {name} ran with seed {params.get('seed')!r}, not {seed}")
    measured_on = {
        "git_commit": baseline,
        "params_sha256": digest(track_params(params, TRACK_SECTIONS[track])),
        "code_sha256": code_digest(data, track, REPO),
    }
    return file_data(data, "metrics", metrics_file, name), measured_on


def merge_measured_on(track: str, records: Mapping[int, Mapping[str, str]]) -> dict[str, Any]:
    """One value per key when every seed agrees; else the sorted values, with a warning."""
    merged: dict[str, Any] = {}
    for key in sorted({k for record in records.values() for k in record}):
        values = sorted({record[key] for record in records.values()})
        merged[key] = values[0] if len(values) == 1 else values
        if len(values) > 1:
            progress(f"warning: {track}: the seeds ran on different {key}: {', '.join(values)}")
    return merged


# -- running DVC ---------------------------------------------------------------------
def workspace_seed() -> int:
    """The top-level ``seed`` of the workspace's params.yaml."""
    return int(load_params(REPO / "params.yaml").get("seed", 0))


def run_experiment(command: Sequence[str]) -> float:
    """Run one experiment, echo DVC's stage lines with their time; return its wall time."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [dvc_binary(), *command[1:]],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tail: list[str] = []
    for line in proc.stdout:
        tail = (tail + [line])[-TAIL_LINES:]
        if line.startswith("Running stage"):
            progress(f"  {time.monotonic() - start:7.1f} s  {line.strip()}")
    if proc.wait() != 0:
        raise SweepError(f"{shlex.join(command)} failed:\n{''.join(tail)}")
    return time.monotonic() - start


def sweep_track(expectation: TrackExpectation, seeds: Sequence[int], collect_only: bool):
    """Run (unless ``collect_only``) and read back every seed of one track.

    Returns:
        ``(metrics, measured_on)``: seed -> its metrics file as DVC recorded it, and what
        the seeds ran on.
    """
    track = expectation.name
    existing = set() if collect_only else experiments_on_head()
    own_seed = workspace_seed() if workspace_is_current(track) else None
    metrics, measured_on = {}, {}
    for seed in seeds:
        command = run_command(track, seed)
        if seed == own_seed:
            progress(f"{track} seed {seed}: the workspace is up to date for it; no run")
        elif not collect_only:
            name = experiment_name(track, seed)
            if name in existing:
                progress(f"{track} seed {seed}: removing the earlier experiment {name}")
                dvc(["exp", "remove", name])
            progress(f"{track} seed {seed}: {shlex.join(command)}")
            seconds = run_experiment(command)
            progress(f"{track} seed {seed}: done in {seconds:.1f} s")
        metrics[seed], measured_on[seed] = seed_record(
            show_experiments(),
            track,
            seed,
            expectation.metrics_file,
            from_workspace=seed == own_seed,
        )
        findings = check_floors(expectation, metrics[seed], include_open=True)
        headline = expectation.headline.metric
        value = metrics[seed].get(headline)
        shown = f"{value:.3f}" if isinstance(value, (int, float)) else repr(value)
        verdict = "every floor met" if not findings else "; ".join(findings)
        progress(f"{track} seed {seed}: {headline} {shown}, {verdict}")
    return metrics, {**merge_measured_on(track, measured_on), "cpu": machine()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python scripts/seed_sweep.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--tracks", nargs="+", choices=TRACKS, default=list(TRACKS))
    parser.add_argument("--dry-run", action="store_true", help="print the dvc commands only")
    parser.add_argument(
        "--collect-only", action="store_true", help="run nothing; tabulate earlier experiments"
    )
    args = parser.parse_args(argv)
    seeds = list(dict.fromkeys(args.seeds))
    tracks = list(dict.fromkeys(args.tracks))
    if any(seed < 0 for seed in seeds):
        parser.error("seeds are integers >= 0 (params.yaml `seed`)")

    if args.dry_run:
        print("# each run first removes an experiment of the same name on this commit, if any")
        for track in tracks:
            for seed in seeds:
                print(shlex.join(run_command(track, seed)))
        return 0

    expectations = load_expectations(REPO / EXPECTATIONS_FILE)
    load_sweep(REPO / SWEEP_FILE)  # a malformed earlier table stops us before an hour of runs
    command = sweep_command(seeds, tracks, args.collect_only)
    for track in tracks:
        expectation = expectations[track]
        metrics, measured_on = sweep_track(expectation, seeds, args.collect_only)
        entry = summarize_track(expectation, metrics, command=command, measured_on=measured_on)
        # Written after each track, so an interrupted sweep keeps the tracks it finished.
        sweep = merge_sweep(load_sweep(REPO / SWEEP_FILE), {track: entry})
        write_json(REPO / SWEEP_FILE, sweep)
        write_text(REPO / SWEEP_MARKDOWN, sweep_markdown(sweep, TRACKS))
        progress(f"{track}: written to {SWEEP_FILE} and {SWEEP_MARKDOWN}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, OSError) as exc:  # SweepError, ExperimentError, ExpectationsError, a file
        sys.exit(f"seed_sweep: error: {exc}")
    except KeyboardInterrupt:
        sys.exit("seed_sweep: interrupted (finished tracks are written; --collect-only reads runs)")
