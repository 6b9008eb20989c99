"""Each paper's ablation table as one command, through DVC experiments (a queue).

The rows live in ``conf/ablations.yaml`` (not part of the Hydra composition): per track
its rows ``{name, label, overrides}`` and the paper's own numbers where they were read.
``run`` queues every row as a named experiment of that track's stages only::

    dvc exp run --queue -n ablation-<track>-<row> [-S <track>/dataset=<option>] -S ... eval_<track>

removes an earlier experiment of the same name on this commit first (DVC refuses the
name otherwise), starts the queue with one worker (``dvc queue start -j 1``: on the
2-core machine parallel experiments were measured slower, README "MLflow"), follows it
with ``dvc exp show --json`` every 15 s, and names every failed experiment with the last
lines of its ``dvc queue logs``. A row whose params equal the workspace's, when ``dvc
status`` finds its track current, is not rerun: the workspace's metrics are that row's
(the full method on the default dataset, usually). Rows with equal params run once.
``run`` ends with ``report``, which reads ``dvc exp show --json`` (the ablation
experiments by name, nothing else) and writes ``reports/ablation_<track>.md`` and
``.json`` (``ablation_<track>_<dataset>`` for a non-default dataset option)::

    python -m pipeline.ablation run [--tracks dicl scl dclnet] [--dataset cuhk_sysu ...]
                                    [--rows full no_oic] [-S scl.train.epochs=2] [--dry-run]
    python -m pipeline.ablation report [--tracks ...] [--dataset ...]

``--dataset`` names dataset options (``conf/<track>/dataset/<name>.yaml``); each selects
its own track, and without ``--tracks`` only those tracks run. ``-S`` adds overrides to
every row (a quick check at a smaller size, say); they appear in the report's command.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.compose import compose_params
from pipeline.dvc_experiments import (
    REPO,
    ExperimentError,
    code_digest,
    digest,
    dvc,
    experiment_entries,
    file_data,
    machine,
    show_experiments,
    start_queue,
    track_params,
    workspace_is_current,
    workspace_state,
)
from pipeline.io import dumps_json, write_text
from pipeline.params import ParamsError, load_params, load_yaml

ABLATIONS_FILE = Path("conf/ablations.yaml")
CONF_DIR = Path("conf")
REPORT_DIR = Path("reports")
COMMAND = "python -m pipeline.ablation"
TRACKS = ("dicl", "scl", "dclnet")
POLL_SECONDS = 15.0
SHOW_RETRIES = 4  # consecutive failed `dvc exp show` calls before giving up
LOG_LINES = 40
NOT_FOUND = "not found"
WORKSPACE = "workspace"
TERMINAL = ("success", "failed")


class AblationError(ValueError):
    """The ablation sets, a run or its results cannot be used."""


def progress(message: str) -> None:
    print(f"ablation: {message}", file=sys.stderr, flush=True)


# -- the experiment sets ------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    name: str
    label: str
    overrides: tuple[str, ...]
    paper: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackTable:
    track: str
    metrics: tuple[str, ...]
    paper: Mapping[str, Any]
    rows: tuple[Row, ...]


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AblationError(f"{where}: expected a list of non-empty strings, got {value!r}")
    return tuple(value)


def load_ablations(path: Path = REPO / ABLATIONS_FILE) -> dict[str, TrackTable]:
    """Read and check ``conf/ablations.yaml``."""
    try:
        data = load_yaml(path)
    except ParamsError as exc:
        raise AblationError(str(exc)) from None
    tracks = (data or {}).get("tracks") if isinstance(data, dict) else None
    if not isinstance(tracks, dict) or not tracks:
        raise AblationError(f"{path}: expected `tracks:` with one entry per track")
    tables = {}
    for track, entry in tracks.items():
        where = f"{path}: tracks.{track}"
        if track not in TRACKS:
            raise AblationError(f"{where}: unknown track (known: {', '.join(TRACKS)})")
        if not isinstance(entry, dict) or not isinstance(entry.get("rows"), list):
            raise AblationError(f"{where}: expected metrics, paper and rows")
        rows, names = [], set()
        for i, row in enumerate(entry["rows"]):
            at = f"{where}.rows[{i}]"
            if not isinstance(row, dict) or not isinstance(row.get("name"), str):
                raise AblationError(f"{at}: expected a mapping with a name")
            unknown = sorted(set(row) - {"name", "label", "overrides", "paper"})
            if unknown:
                raise AblationError(f"{at}: unknown key(s) {unknown}")
            if row["name"] in names or not row["name"].replace("_", "").isalnum():
                raise AblationError(f"{at}: name {row['name']!r} repeated or not [A-Za-z0-9_]")
            names.add(row["name"])
            rows.append(
                Row(
                    name=row["name"],
                    label=str(row.get("label") or row["name"]),
                    overrides=_strings(row.get("overrides"), f"{at}.overrides"),
                    paper=row.get("paper") or {},
                )
            )
        tables[track] = TrackTable(
            track=track,
            metrics=_strings(entry.get("metrics"), f"{where}.metrics"),
            paper=entry.get("paper") or {},
            rows=tuple(rows),
        )
    return tables


def dataset_options(track: str, conf_dir: Path = REPO / CONF_DIR) -> list[str]:
    """The dataset options of a track: ``conf/<track>/dataset/<name>.yaml``."""
    return sorted(p.stem for p in (conf_dir / track / "dataset").glob("*.yaml"))


def datasets_by_track(names: Sequence[str], conf_dir: Path = REPO / CONF_DIR) -> dict[str, str]:
    """track -> dataset option, each name matched to the track that has it."""
    chosen: dict[str, str] = {}
    for name in names:
        owners = [t for t in TRACKS if name in dataset_options(t, conf_dir)]
        if not owners:
            known = {t: dataset_options(t, conf_dir) for t in TRACKS}
            raise AblationError(f"--dataset {name}: no track has that option ({known})")
        for track in owners:
            if track in chosen and chosen[track] != name:
                raise AblationError(f"--dataset: two options for {track}: {chosen[track]}, {name}")
            chosen[track] = name
    return chosen


def experiment_name(track: str, row: str, dataset: str | None = None) -> str:
    """``ablation-<track>-<row>``; a non-default dataset option goes in the middle."""
    return f"ablation-{track}-{dataset}-{row}" if dataset else f"ablation-{track}-{row}"


def report_stem(track: str, dataset: str | None = None) -> str:
    return f"ablation_{track}_{dataset}" if dataset else f"ablation_{track}"


def row_overrides(
    track: str, row: Row, dataset: str | None, extra: Sequence[str] = ()
) -> list[str]:
    """The ``-S`` list of a row: the dataset option, the row's own, then ``extra``."""
    return ([f"{track}/dataset={dataset}"] if dataset else []) + [*row.overrides, *extra]


def queue_command(track: str, name: str, overrides: Sequence[str]) -> list[str]:
    """The ``dvc exp run --queue`` of one row: its track's stages only."""
    words = ["dvc", "exp", "run", "--queue", "-n", name]
    for override in overrides:
        words += ["-S", override]
    return [*words, f"eval_{track}"]


def missing_keys(overrides: Sequence[str], params: Mapping[str, Any]) -> list[str]:
    """Dotted keys of ``key=value`` overrides that the composed ``params`` lack (a
    ``group=option`` override, with a slash, selects a file and is not checked here)."""
    missing = []
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if "/" in key:
            continue
        node: Any = params
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                missing.append(key)
                break
            node = node[part]
    return missing


# -- what runs ----------------------------------------------------------------------
@dataclass
class PlannedRow:
    track: str
    row: Row
    name: str  # the experiment's name
    overrides: list[str]
    source: str  # "experiment", WORKSPACE or "same_as:<row>"

    @property
    def command(self) -> list[str]:
        return queue_command(self.track, self.name, self.overrides)


def plan_track(
    table: TrackTable,
    dataset: str | None,
    extra: Sequence[str] = (),
    *,
    rows: Sequence[str] | None = None,
    compose: Callable[[Sequence[str]], dict] | None = None,
    workspace_params: Mapping[str, Any] | None = None,
    workspace_current: Callable[[], bool] | None = None,
) -> list[PlannedRow]:
    """Decide per row: an experiment, the workspace's own results, or the same params as an
    earlier row. Raises on a row that names a key the composed params lack."""
    track = table.track
    compose = compose or (lambda o: compose_params(o, REPO / CONF_DIR))
    chosen = [r for r in table.rows if rows is None or r.name in rows]
    if rows is not None and len(chosen) != len(set(rows)):
        known = ", ".join(r.name for r in table.rows)
        raise AblationError(f"{track}: --rows {' '.join(rows)}: known rows are {known}")
    base = compose([f"{track}/dataset={dataset}"] if dataset else [])
    current: bool | None = None
    seen: dict[str, str] = {}
    planned = []
    for row in chosen:
        overrides = row_overrides(track, row, dataset, extra)
        name = experiment_name(track, row.name, dataset)
        missing = missing_keys(overrides, base)
        if missing:
            raise AblationError(
                f"{ABLATIONS_FILE}: {track} row {row.name}: -S {' -S '.join(overrides)} names "
                f"no key of the composed params: {', '.join(missing)}"
            )
        params = compose(overrides)
        key = digest({"seed": params.get("seed"), **track_params(params, track)})
        if key in seen:
            planned.append(PlannedRow(track, row, name, overrides, f"same_as:{seen[key]}"))
            continue
        seen[key] = row.name
        source = "experiment"
        if workspace_params is not None and key == digest(
            {"seed": workspace_params.get("seed"), **track_params(workspace_params, track)}
        ):
            if current is None:
                current = bool(workspace_current()) if workspace_current else False
            if current:
                source = WORKSPACE
        planned.append(PlannedRow(track, row, name, overrides, source))
    return planned


# -- running the queue ----------------------------------------------------------------
def executor_state(exp_range: Mapping[str, Any]) -> str:
    """queued | running | success | failed, for one entry of ``experiments``."""
    executor = exp_range.get("executor") or {}
    if executor.get("state"):
        return str(executor["state"])
    revs = exp_range.get("revs") or [{}]
    return "failed" if revs[0].get("error") else "success"


def log_tail(name: str, lines: int = LOG_LINES) -> str:
    """The last lines of ``dvc queue logs <name>`` (or why they cannot be read)."""
    try:
        text = dvc(["queue", "logs", name])
    except ExperimentError as exc:
        return f"(dvc queue logs {name} failed: {exc})"
    return "\n".join(text.rstrip().splitlines()[-lines:])


def failure_message(name: str, exp_range: Mapping[str, Any], tail: str) -> str:
    """What a reader needs of one failed experiment: its exit code, the command that
    shows its whole log, and that log's last lines."""
    local = (exp_range.get("executor") or {}).get("local") or {}
    code = local.get("returncode")
    return (
        f"experiment {name} failed (exit code {code}); whole log: `dvc queue logs {name}`; "
        f"last lines:\n{tail}"
    )


def follow_queue(
    names: Sequence[str],
    baseline: str | None = None,
    *,
    show: Callable[[], list[dict]] | None = None,
    logs: Callable[[str], str] = log_tail,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll: float = POLL_SECONDS,
) -> tuple[dict[str, float], dict[str, str]]:
    """Wait until every named experiment succeeded or failed.

    Returns:
        ``(wall, failures)``: name -> seconds from the previous experiment's end (or the
        queue's start) to its own, as seen every ``poll`` seconds (one worker runs them
        in turn); name -> failure message. ``baseline``: the commit they were queued on
        (a commit made meanwhile leaves them listed there, not under the new HEAD).
    """
    show = show or (lambda: show_experiments(queued=True, rev=baseline))
    state = dict.fromkeys(names, "queued")
    wall: dict[str, float] = {}
    failures: dict[str, str] = {}
    last_end = clock()
    absent_polls = failed_shows = 0
    while True:
        try:
            entries = experiment_entries(show())
            failed_shows = 0
        except ExperimentError as exc:
            # `dvc exp show` fails now and then while the worker sets an experiment's
            # temporary copy up ("directory .../.dvc does not exist"): ask again.
            failed_shows += 1
            if failed_shows >= SHOW_RETRIES:
                raise AblationError(f"following the queue: {exc}") from None
            sleep(poll)
            continue
        lost = [name for name in names if name not in entries and state[name] not in TERMINAL]
        absent_polls = absent_polls + 1 if lost else 0
        if absent_polls >= 3:
            raise AblationError(
                f"the queue no longer lists {', '.join(lost)} (baseline {baseline or 'HEAD'}): "
                "see `dvc queue status` and `dvc queue logs <name>`"
            )
        for name in names:
            if name not in entries or state[name] in TERMINAL:
                continue
            new = executor_state(entries[name][1])
            if new == state[name]:
                continue
            state[name] = new
            done = sum(s in TERMINAL for s in state.values())
            if new in TERMINAL:
                now = clock()
                wall[name], last_end = now - last_end, now
                progress(f"{name}: {new} after {wall[name]:.0f} s ({done}/{len(names)} done)")
                if new == "failed":
                    failures[name] = failure_message(name, entries[name][1], logs(name))
                    progress(failures[name])
            else:
                progress(f"{name}: {new} ({done}/{len(names)} done)")
        if all(s in TERMINAL for s in state.values()):
            return wall, failures
        sleep(poll)


def run_tracks(
    plans: Mapping[str, list[PlannedRow]],
    *,
    run_dvc: Callable[[Sequence[str]], str] = dvc,
    start: Callable[[int], None] = start_queue,
    follow: Callable[..., tuple[dict[str, float], dict[str, str]]] = follow_queue,
) -> tuple[dict[str, float], dict[str, str], str | None]:
    """Queue every planned experiment, start one worker, wait for all of them.

    Returns:
        ``(wall, failures, baseline)``: see :func:`follow_queue`; the commit queued on.
    """
    to_run = [p for plan in plans.values() for p in plan if p.source == "experiment"]
    if not to_run:
        progress("nothing to run: every row is the workspace's or the same as another")
        return {}, {}, None
    ours = {p.name for p in to_run}
    shown = show_experiments(queued=True)
    baseline = workspace_state(shown)[0]
    earlier = sorted(ours & set(experiment_entries(shown)))
    if earlier:
        progress(f"removing earlier experiments of the same names: {', '.join(earlier)}")
        run_dvc(["exp", "remove", *earlier])
    for planned in to_run:
        progress(f"queue: {shlex.join(planned.command)}")
        run_dvc(planned.command[1:])
    progress(f"starting the queue: {len(to_run)} experiment(s), one at a time")
    start(1)
    return (*follow([p.name for p in to_run], baseline), baseline)


# -- the report ---------------------------------------------------------------------
def row_record(
    table: TrackTable,
    planned: PlannedRow,
    shown: Sequence[Mapping[str, Any]],
    metrics_file: str,
) -> dict[str, Any]:
    """One row of the table: its metrics and what they were measured on."""
    record: dict[str, Any] = {
        "row": planned.row.name,
        "label": planned.row.label,
        "overrides": list(planned.overrides),
        "experiment": planned.name,
        "dvc_command": shlex.join(planned.command),
        "source": planned.source,
        "paper": dict(planned.row.paper),
    }
    if planned.source.startswith("same_as:"):
        return {**record, "status": "not run", "note": f"params equal row {planned.source[8:]}"}
    if planned.source == WORKSPACE:
        baseline, data = workspace_state(shown)
        record.update(experiment=WORKSPACE, status="success", exp_rev=WORKSPACE)
    else:
        entry = experiment_entries(shown).get(planned.name)
        if entry is None:
            return {**record, "status": "not run", "note": "no such experiment on this commit"}
        baseline, exp_range = entry
        status = executor_state(exp_range)
        if status != "success":
            note = f"see `dvc queue logs {planned.name}`" if status == "failed" else ""
            return {**record, "status": status, "note": note}
        data = exp_range["revs"][0].get("data") or {}
        record.update(status="success", exp_rev=exp_range["revs"][0].get("rev"))
    params = file_data(data, "params", "params.yaml", planned.name)
    values = file_data(data, "metrics", metrics_file, planned.name)
    record["metrics"] = {m: values.get(m) for m in table.metrics}
    missing = [m for m, v in record["metrics"].items() if not isinstance(v, (int, float))]
    if missing:
        raise AblationError(f"{planned.name}: {metrics_file} has no {', '.join(missing)}")
    record.update(
        git_commit=baseline,
        seed=params.get("seed"),
        params_sha256=digest(track_params(params, table.track)),
        code_sha256=code_digest(data, table.track),
    )
    return record


def track_report(
    table: TrackTable,
    plan: Sequence[PlannedRow],
    shown: Sequence[Mapping[str, Any]],
    *,
    dataset: str,
    layout: str,
    command: str,
    wall: Mapping[str, float],
    earlier: Mapping[str, Any] | None = None,
    cpu: str | None = None,
) -> dict[str, Any]:
    """The JSON of one track's table. Wall times come from this run, else from the
    earlier report when the experiment is the same commit."""
    metrics_file = f"metrics/{table.track}.json"
    old = {r.get("experiment"): r for r in (earlier or {}).get("rows", [])}
    rows = []
    for planned in plan:
        record = row_record(table, planned, shown, metrics_file)
        if planned.name in wall:
            record["wall_s"] = round(wall[planned.name], 1)
        elif (
            record.get("exp_rev")
            and old.get(record["experiment"], {}).get("exp_rev") == (record["exp_rev"])
        ):
            if "wall_s" in old[record["experiment"]]:
                record["wall_s"] = old[record["experiment"]]["wall_s"]
        rows.append(record)
    by_row = {r["row"]: r for r in rows}
    for record in rows:  # a row with another's params shows that row's results
        if record["source"].startswith("same_as:"):
            other = by_row[record["source"][len("same_as:") :]]
            shared = ("status", "metrics", "git_commit", "seed", "params_sha256", "code_sha256")
            record.update({k: other[k] for k in shared if k in other})
            record["experiment"] = other["experiment"]
    commits = sorted({r["git_commit"] for r in rows if r.get("git_commit")})
    return {
        "track": table.track,
        "dataset": dataset,
        "paper_dataset": layout,
        "metrics": list(table.metrics),
        "metrics_file": metrics_file,
        "paper": dict(table.paper),
        "command": command,
        "git_commit": commits[0] if len(commits) == 1 else commits,
        "cpu": cpu or machine(),
        "rows": rows,
    }


def _percent(value: Any) -> str:
    return f"{100 * value:.1f}" if isinstance(value, (int, float)) else "-"


def _paper_value(record: Mapping[str, Any], layout: str, metric: str) -> str:
    value = ((record.get("paper") or {}).get(layout) or {}).get(metric)
    return f"{value:g}" if isinstance(value, (int, float)) else NOT_FOUND


def _wall(record: Mapping[str, Any]) -> str:
    if record.get("source") == WORKSPACE:
        return "workspace, not rerun"
    seconds = record.get("wall_s")
    if not isinstance(seconds, (int, float)):
        return "-"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def report_markdown(report: Mapping[str, Any]) -> str:
    """The Markdown page of one track's table."""
    metrics, layout = report["metrics"], report["paper_dataset"]
    paper = report.get("paper") or {}
    commit = report["git_commit"]
    commits = commit if isinstance(commit, list) else [commit]
    lines = [
        f"# Ablation table: {report['track']} on {report['dataset']}",
        "",
        f"Paper: {' '.join(str(paper.get('citation', '-')).split())}.",
        f"Its ablation numbers ({layout}): {paper.get('ablation', NOT_FOUND)}"
        + (
            " (conf/ablations.yaml says where they were searched)."
            if paper.get("ablation") == NOT_FOUND
            else "."
        ),
        "",
        f"Command: `{report['command']}`  ",
        f"Commit: {', '.join(f'`{c}`' for c in commits) or '-'}  ",
        f"CPU: {report['cpu']}  ",
        f"Metrics: `{report['metrics_file']}`, in percent; the paper's in percent on {layout}.",
        "",
        "| row | "
        + " | ".join(metrics)
        + " | "
        + " | ".join(f"paper {m}" for m in metrics)
        + " | wall time | experiment | params sha256 |",
        "|---" * (2 * len(metrics) + 4) + "|",
    ]
    for record in report["rows"]:
        if record.get("status") == "success":
            ours = [_percent(record["metrics"][m]) for m in metrics]
        else:
            ours = [record["status"]] + ["-"] * (len(metrics) - 1)
        theirs = [_paper_value(record, layout, m) for m in metrics]
        params = record.get("params_sha256", "")[:12] or "-"
        lines.append(
            f"| {record['label']} | "
            + " | ".join(ours + theirs)
            + f" | {_wall(record)} | {record['experiment']} | {params} |"
        )
    lines += ["", "Rows:", ""]
    for record in report["rows"]:
        how = (
            "the workspace's results (`dvc status` current, the same params)"
            if record["source"] == WORKSPACE
            else f"`{record['dvc_command']}`"
        )
        note = f" ({record['note']})" if record.get("note") else ""
        cited = record.get("paper") or {}
        source = (
            f'; paper: {cited["table"]}, row "{cited.get("row", "?")}"'
            if cited.get("table")
            else ""
        )
        lines.append(f"- `{record['row']}`: {how}{note}{source}")
    return "\n".join(lines) + "\n"


# -- the command --------------------------------------------------------------------
def ablation_command(args: argparse.Namespace) -> str:
    """The command line as a reader would type it."""
    words = [*COMMAND.split(), args.action]
    if args.tracks_given:
        words += ["--tracks", *args.tracks]
    if args.dataset:
        words += ["--dataset", *args.dataset]
    if args.rows:
        words += ["--rows", *args.rows]
    for override in args.set:
        words += ["-S", override]
    return shlex.join(words)


@dataclass
class TrackRun:
    """One track's part of a command: its dataset option, its plan, and what made it."""

    dataset: str | None
    plan: list[PlannedRow]
    command: str
    run: dict[str, Any]  # the rows and -S overrides the experiments were run with
    earlier: dict[str, Any] | None  # the track's report as it was before


def earlier_report(track: str, dataset: str | None) -> dict[str, Any] | None:
    path = REPO / REPORT_DIR / f"{report_stem(track, dataset)}.json"
    return load_yaml(path) if path.exists() else None


def _plans(args: argparse.Namespace, tables: Mapping[str, TrackTable]) -> dict[str, TrackRun]:
    """Per track what to run (``run``) or read (``report``). ``report`` without ``--rows``
    and ``-S`` reads the rows the last ``run`` made, with that run's overrides."""
    datasets = datasets_by_track(args.dataset)
    if args.tracks_given:
        stray = sorted(set(datasets) - set(args.tracks))
        if stray:
            raise AblationError(f"--dataset names an option of {stray}, not in --tracks")
        tracks = args.tracks
    else:
        tracks = [t for t in TRACKS if t in datasets] if datasets else list(TRACKS)
    workspace = load_params(REPO / "params.yaml")
    plans = {}
    for track in tracks:
        if track not in tables:
            raise AblationError(f"{ABLATIONS_FILE}: no rows for {track}")
        dataset = datasets.get(track)
        earlier = earlier_report(track, dataset)
        command, run = ablation_command(args), {"rows": args.rows, "set": list(args.set)}
        if args.action == "report" and not (args.rows or args.set) and (earlier or {}).get("run"):
            command, run = earlier["command"], earlier["run"]
        plan = plan_track(
            tables[track],
            dataset,
            run["set"],
            rows=run["rows"],
            workspace_params=workspace,
            workspace_current=lambda t=track: workspace_is_current(t),
        )
        plans[track] = TrackRun(dataset, plan, command, run, earlier)
    return plans


def write_reports(
    tables: Mapping[str, TrackTable],
    plans: Mapping[str, TrackRun],
    wall: Mapping[str, float],
    baseline: str | None = None,
) -> list[Path]:
    shown = show_experiments(queued=True, rev=baseline)
    written = []
    for track, part in plans.items():
        composed = compose_params([f"{track}/dataset={part.dataset}"] if part.dataset else [])
        name = composed[track]["dataset"]
        report = track_report(
            tables[track],
            part.plan,
            shown,
            dataset=name,
            layout=composed["datasets"][name]["layout"],
            command=part.command,
            wall=wall,
            earlier=part.earlier,
        )
        report["run"] = part.run
        stem = REPO / REPORT_DIR / report_stem(track, part.dataset)
        write_text(stem.with_suffix(".json"), dumps_json(report))
        write_text(stem.with_suffix(".md"), report_markdown(report))
        written += [stem.with_suffix(".json"), stem.with_suffix(".md")]
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("run", "report"))
    parser.add_argument("--tracks", nargs="+", choices=TRACKS)
    parser.add_argument("--dataset", nargs="+", default=[], help="dataset options, e.g. prw")
    parser.add_argument("--rows", nargs="+", help="only these rows (names in conf/ablations.yaml)")
    parser.add_argument(
        "-S", "--set", action="append", default=[], help="an override added to every row"
    )
    parser.add_argument("--dry-run", action="store_true", help="run: print the plan only")
    args = parser.parse_args(argv)
    args.tracks_given = args.tracks is not None
    args.tracks = list(dict.fromkeys(args.tracks or TRACKS))
    tables = load_ablations()
    plans = _plans(args, tables)
    wall: dict[str, float] = {}
    failures: dict[str, str] = {}
    baseline = None
    if args.action == "run":
        for track, part in plans.items():
            for planned in part.plan:
                what = {
                    "experiment": shlex.join(planned.command),
                    WORKSPACE: "the workspace's results (current, same params)",
                }.get(planned.source, planned.source.replace("_", " ").replace(":", " "))
                progress(f"{track} {planned.row.name}: {what}")
        if args.dry_run:
            return 0
        start = time.monotonic()
        wall, failures, baseline = run_tracks({t: part.plan for t, part in plans.items()})
        progress(f"queue finished in {time.monotonic() - start:.0f} s")
    for path in write_reports(tables, plans, wall, baseline):
        progress(f"wrote {os.path.relpath(path, REPO)}")
    if failures:
        raise AblationError(
            f"{len(failures)} experiment(s) failed:\n\n" + "\n\n".join(failures.values())
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, OSError) as exc:  # AblationError, ExperimentError, ParamsError, a file
        sys.exit(f"ablation: error: {exc}")
    except KeyboardInterrupt:
        sys.exit("ablation: interrupted (the queue goes on: `dvc queue status`; then `report`)")
