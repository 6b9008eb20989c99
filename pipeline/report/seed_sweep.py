"""The seed sweep's tables: each track's headline and floor metrics over top-level seeds.

``scripts/seed_sweep.py`` runs the default pipeline once per seed (a DVC experiment
each) and hands the metrics here; this module computes the floors' margins and
verdicts per seed and mean / min / max over the seeds, merges tracks swept at
different times into ``reports/seed_sweep.json`` and renders the Markdown table that
``reports/seed_sweep.md`` and the report show. It knows nothing of DVC.

A track's entry records what it was measured on (the command, the git commit of the
experiments' baseline, hashes of their params and code, the CPU: outputs agree to the
byte on one kind of CPU only) and no timestamps or paths,
so the same sweep writes the same bytes.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.report.expectations import Floor, TrackExpectation, floor_result

SWEEP_FILE = Path("reports/seed_sweep.json")
SWEEP_COMMAND = "python scripts/seed_sweep.py"
STATS = ("mean", "min", "max")


class SweepError(ValueError):
    """A sweep's metrics or its JSON file cannot be tabulated."""


def margin_label(floor: Floor) -> str:
    """The column of a floor's margin: trained minus the baseline (or the fixed bound)."""
    if floor.over is None:
        return f"{floor.metric} - {floor.at_least:g}"
    return f"{floor.metric} - {floor.over}"


def stats(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values)}


def _seed_entry(track: TrackExpectation, seed: int, metrics: Mapping[str, Any]) -> dict:
    entry: dict[str, dict] = {"metrics": {}, "margins": {}, "floors_met": {}}
    for key in track.metric_names:
        value = metrics.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SweepError(
                f"{track.name} seed {seed}: {key} is missing from {track.metrics_file} "
                f"or not a number ({value!r})"
            )
        entry["metrics"][key] = float(value)
    for floor in track.floors:
        result = floor_result(track, floor, entry["metrics"])
        assert not isinstance(result, str)  # every metric a floor reads was checked above
        entry["margins"][margin_label(floor)] = result.margin
        entry["floors_met"][floor.name] = result.met
    return entry


def summarize_track(
    track: TrackExpectation,
    seed_metrics: Mapping[int, Mapping[str, Any]],
    *,
    command: str,
    measured_on: Mapping[str, Any],
) -> dict[str, Any]:
    """One track's entry of ``reports/seed_sweep.json``.

    Args:
        track: the track's expectations (which metrics, which floors).
        seed_metrics: seed -> that seed's metrics file as loaded (at least one seed).
        command: the sweep's command line, as a reader would type it.
        measured_on: what the seeds ran on (git commit, params and code hashes).

    Returns:
        per seed its metrics, margins and floor verdicts; mean / min / max of every
        metric and margin; per floor how many seeds met it.
    """
    if not seed_metrics:
        raise SweepError(f"{track.name}: no seeds to summarize")
    seeds = {seed: _seed_entry(track, seed, seed_metrics[seed]) for seed in sorted(seed_metrics)}
    summary = {
        kind: {
            key: stats([entry[kind][key] for entry in seeds.values()])
            for key in next(iter(seeds.values()))[kind]
        }
        for kind in ("metrics", "margins")
    }
    floors = []
    for floor in track.floors:
        met = [seed for seed, entry in seeds.items() if entry["floors_met"][floor.name]]
        floors.append(
            {
                "name": floor.name,
                "margin": margin_label(floor),
                "seeds_met": len(met),
                "every_seed": len(met) == len(seeds),
                **({"open": floor.open} if floor.open else {}),
            }
        )
    headline = track.headline
    return {
        "command": command,
        "measured_on": dict(measured_on),
        "metrics_file": track.metrics_file,
        "metrics": list(track.metric_names),  # the table's columns, in this order
        "headline": {
            "metric": headline.metric,
            "expected": headline.expected,
            "tolerance": headline.tolerance,
        },
        "floors": floors,
        "seeds": {str(seed): entry for seed, entry in seeds.items()},
        "summary": summary,
    }


def merge_sweep(existing: Mapping[str, Any] | None, tracks: Mapping[str, Any]) -> dict[str, Any]:
    """``existing`` with the given tracks' entries replaced; the other tracks are kept."""
    merged = dict((existing or {}).get("tracks", {}))
    merged.update(tracks)
    return {"tracks": merged}


# -- the file ------------------------------------------------------------------------
_TRACK_KEYS = (
    "command",
    "measured_on",
    "metrics_file",
    "metrics",
    "headline",
    "floors",
    "seeds",
    "summary",
)
# How the table names what a track was measured on, in this order.
_MEASURED_ON = {
    "git_commit": "commit",
    "params_sha256": "params sha256",
    "code_sha256": "code sha256",
    "cpu": "CPU",
}
# Hashes are shown by their first 12 characters; other values in full.
_HASHES = ("git_commit", "params_sha256", "code_sha256")


def validate_sweep(data: Any) -> dict[str, Any]:
    """Check the shape the tables are rendered from; the message names the bad key."""
    if not isinstance(data, dict) or not isinstance(data.get("tracks"), dict):
        raise SweepError("expected a JSON object with a 'tracks' object")
    for name, entry in data["tracks"].items():
        if not isinstance(entry, dict):
            raise SweepError(f"tracks.{name}: expected an object")
        missing = [k for k in _TRACK_KEYS if k not in entry]
        if missing:
            raise SweepError(f"tracks.{name}.{missing[0]}: required key is missing")
        if not entry["seeds"] or not isinstance(entry["seeds"], dict):
            raise SweepError(f"tracks.{name}.seeds: expected a non-empty object")
        for seed, values in entry["seeds"].items():
            if not seed.isdigit() or not isinstance(values, dict) or "metrics" not in values:
                raise SweepError(f"tracks.{name}.seeds.{seed}: expected a seed's metrics")
    return data


def load_sweep(path: str | Path = SWEEP_FILE) -> dict[str, Any] | None:
    """The sweep file's content, or None when there is none (no sweep run yet).

    Raises:
        SweepError: naming the file: not JSON, or not the shape this module writes.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return validate_sweep(json.loads(text))
    except json.JSONDecodeError as exc:
        raise SweepError(f"{path}: not valid JSON: {exc}") from None
    except SweepError as exc:
        raise SweepError(f"{path}: {exc}") from None


# -- Markdown ------------------------------------------------------------------------
def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _signed_pct(value: float) -> str:
    return f"{100 * value + 0.0:+.1f}"  # + 0.0: a margin of -0.0 shows as +0.0


def _measured_on(measured_on: Mapping[str, Any]) -> str:
    keys = [k for k in _MEASURED_ON if k in measured_on]
    keys += sorted(k for k in measured_on if k not in _MEASURED_ON)
    parts = []
    for key in keys:
        value = measured_on[key]
        width = 12 if key in _HASHES else None
        if isinstance(value, list):  # the seeds disagree (scripts/seed_sweep.py warns)
            shown = "differs between seeds: " + ", ".join(f"`{str(v)[:width]}`" for v in value)
        else:
            shown = f"`{str(value)[:width]}`"
        parts.append(f"{_MEASURED_ON.get(key, key)} {shown}")
    return ", ".join(parts) or "(not recorded)"


def _seed_table(entry: Mapping[str, Any]) -> list[str]:
    seeds = entry["seeds"]
    # Orders kept in lists: the JSON file sorts the keys of its objects.
    metric_keys = list(entry["metrics"])
    margin_keys = [floor["margin"] for floor in entry["floors"]]
    header = ["seed", *metric_keys, *margin_keys]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for seed in sorted(seeds, key=int):
        row = [seed] + [_pct(seeds[seed]["metrics"][k]) for k in metric_keys]
        row += [_signed_pct(seeds[seed]["margins"][k]) for k in margin_keys]
        lines.append("| " + " | ".join(row) + " |")
    for stat in STATS:
        row = [f"*{stat}*"] + [_pct(entry["summary"]["metrics"][k][stat]) for k in metric_keys]
        row += [_signed_pct(entry["summary"]["margins"][k][stat]) for k in margin_keys]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _floor_lines(entry: Mapping[str, Any]) -> list[str]:
    seeds = entry["seeds"]
    lines = []
    for floor in entry["floors"]:
        name, total = floor["name"], len(seeds)
        if floor["every_seed"]:
            lines.append(f"- `{name}`: met on every seed ({total} of {total}).")
            continue
        short = sorted((s for s in seeds if not seeds[s]["floors_met"][name]), key=int)
        lines.append(
            f"- `{name}`: **not met** on seed{'s' if len(short) > 1 else ''} "
            f"{', '.join(short)} ({floor['seeds_met']} of {total} met)."
            + (f" Open: {floor['open']}" if floor.get("open") else "")
        )
    return lines


def _headline_line(entry: Mapping[str, Any]) -> str:
    headline = entry["headline"]
    metric = headline["metric"]
    values = [seed["metrics"][metric] for seed in entry["seeds"].values()]
    mean = statistics.fmean(values)
    spread = max(abs(v - mean) for v in values)
    return (
        f"Headline {metric}: mean {_pct(mean)}, every seed within {100 * spread:.1f} of it; "
        f"`metrics/expected.yaml` expected {_pct(headline['expected'])} +- "
        f"{100 * headline['tolerance']:.1f} when this sweep ran."
    )


def render_track(entry: Mapping[str, Any]) -> list[str]:
    """One track's table (seeds, then mean / min / max), its floors and its headline."""
    return [
        f"Measured with `{entry['command']}` on {_measured_on(entry['measured_on'])}. "
        f"Percent, from `{entry['metrics_file']}`; margins are the trained metric minus the "
        "baseline (or the fixed floor).",
        "",
        *_seed_table(entry),
        "",
        *_floor_lines(entry),
        "",
        _headline_line(entry),
        "",
    ]


def render_sweep(
    sweep: Mapping[str, Any], tracks: tuple[str, ...], titles: Mapping[str, str], level: int
) -> list[str]:
    """Every track in ``tracks`` order, each under a heading; tracks not swept say so."""
    lines = []
    for name in tracks:
        lines += [f"{'#' * level} {titles.get(name, name)}", ""]
        entry = sweep.get("tracks", {}).get(name)
        if entry is None:
            lines += [f"Not swept yet: `{SWEEP_COMMAND} --tracks {name}` sweeps it.", ""]
        else:
            lines += render_track(entry)
    return lines


def sweep_markdown(sweep: Mapping[str, Any], tracks: tuple[str, ...]) -> str:
    """``reports/seed_sweep.md``: the tables of :func:`render_sweep` under a title."""
    lines = [
        "# Seed sweep",
        "",
        "The default pipeline once per top-level `seed`, each track's metrics from its own",
        f"DVC experiment (`{SWEEP_COMMAND}`). Floors from `metrics/expected.yaml`.",
        "",
        *render_sweep(sweep, tracks, {}, level=2),
    ]
    return "\n".join(lines).rstrip() + "\n"
