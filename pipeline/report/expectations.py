"""What each track must reach on the embedded world: ``metrics/expected.yaml``.

Bytes that reproduce do not show that a model learns: a change can keep every stage
deterministic and still leave the trained network no better than its untrained self.
So each track has, in one committed file,

- a *headline* metric with the value the default pipeline reaches and an absolute
  tolerance (how far a change may move it before someone has to look), and
- *floors*: the trained metric beats a baseline of the same metrics file (``init_``:
  the same network untrained; ``hist_``: a colour histogram) by a margin, or reaches a
  fixed value. A floor marked ``open`` (with the reason) is one the pipeline does not
  meet yet: the gate does not fail on it, the report and the sweep still say it is not
  met, and a test fails once the committed metrics meet it, so the mark is removed.

Headline and floors are separate checks: the CI gate (``tests/test_expected_metrics.py``)
applies both to the committed metrics; the seed sweep (``scripts/seed_sweep.py``)
applies the floors to every seed, whose headline is expected to move.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.io import FLOAT_DIGITS
from pipeline.params import ParamsError, load_yaml

EXPECTATIONS_FILE = Path("metrics/expected.yaml")
# The metrics files of docs/design.md, "Metrics files": metrics/<track>.json.
TRACKS = ("dicl", "scl", "dclnet")


class ExpectationsError(ValueError):
    """The expectations file (or a metrics file it names) is unreadable or malformed."""


@dataclass(frozen=True)
class Headline:
    """The track's main metric: ``expected`` +- ``tolerance`` (absolute, a fraction)."""

    metric: str
    expected: float
    tolerance: float


@dataclass(frozen=True)
class Floor:
    """``metric >= over + margin`` (a baseline to beat) or ``metric >= at_least``.

    ``open``: why the pipeline does not meet it yet (None: it must be met).
    """

    metric: str
    over: str | None = None
    margin: float = 0.0
    at_least: float | None = None
    open: str | None = None

    @property
    def name(self) -> str:
        """The floor as one readable condition, also its key in the seed sweep's tables."""
        if self.over is None:
            return f"{self.metric} >= {self.at_least:g}"
        return f"{self.metric} >= {self.over} + {self.margin:g}"

    @property
    def metrics(self) -> tuple[str, ...]:
        return (self.metric,) if self.over is None else (self.metric, self.over)


@dataclass(frozen=True)
class FloorResult:
    """One floor on one metrics file.

    ``reference`` is the baseline's value (``over`` floors) or the fixed bound
    (``at_least`` floors); ``margin`` is how far the trained metric lies above it.
    """

    floor: Floor
    value: float
    reference: float

    @property
    def margin(self) -> float:
        # Metrics are rounded to FLOAT_DIGITS: 0.35 - 0.2 is a margin of 0.15, not 0.1499...
        return round(self.value - self.reference, FLOAT_DIGITS) + 0.0  # never -0.0

    @property
    def met(self) -> bool:
        return self.margin >= (0.0 if self.floor.over is None else self.floor.margin)


@dataclass(frozen=True)
class TrackExpectation:
    """One track's entry of the expectations file."""

    name: str  # dicl | scl | dclnet
    metrics_file: str  # relative to the repository root, e.g. metrics/scl.json
    headline: Headline
    floors: tuple[Floor, ...]

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The headline metric and every metric a floor reads, each once, in file order."""
        names = [self.headline.metric] + [m for floor in self.floors for m in floor.metrics]
        return tuple(dict.fromkeys(names))


# -- loading -------------------------------------------------------------------------
def _key(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _mapping(value: Any, where: str, required: Sequence[str], optional: Sequence[str] = ()) -> dict:
    """``value`` as a mapping holding the ``required`` keys and no others but ``optional``."""
    if not isinstance(value, dict):
        raise ExpectationsError(f"{where or 'top level'}: expected a mapping, got {value!r}")
    missing = [k for k in required if k not in value]
    if missing:
        raise ExpectationsError(f"{_key(where, missing[0])}: required key is missing")
    unknown = sorted(set(value) - set(required) - set(optional), key=str)
    if unknown:
        allowed = ", ".join([*required, *optional])
        raise ExpectationsError(f"{_key(where, unknown[0])}: unknown key; allowed: {allowed}")
    return value


def _number(value: Any, where: str, low: float | None = None, high: float | None = None) -> float:
    # bool is an int in Python; `tolerance: true` is a slip, not a number.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExpectationsError(f"{where}: value {value!r} is not a number")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{low:g}, {high:g}]" if high is not None else f">= {low:g}"
        raise ExpectationsError(f"{where}: value {value!r} not allowed: expected {bounds}")
    return float(value)


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ExpectationsError(f"{where}: expected a metric name, got {value!r}")
    return value


def _headline(raw: Any, where: str) -> Headline:
    raw = _mapping(raw, where, ("metric", "expected", "tolerance"))
    return Headline(
        metric=_name(raw["metric"], f"{where}.metric"),
        expected=_number(raw["expected"], f"{where}.expected", 0.0, 1.0),
        tolerance=_number(raw["tolerance"], f"{where}.tolerance", 0.0),
    )


def _open(raw: dict, where: str) -> str | None:
    if "open" not in raw:
        return None
    reason = raw["open"]
    if not isinstance(reason, str) or not reason.strip():
        raise ExpectationsError(
            f"{where}.open: expected why the floor is not met yet, got {reason!r}"
        )
    return reason.strip()


def _floor(raw: Any, where: str) -> Floor:
    if isinstance(raw, dict) and "at_least" in raw:
        raw = _mapping(raw, where, ("metric", "at_least"), ("open",))
        return Floor(
            metric=_name(raw["metric"], f"{where}.metric"),
            at_least=_number(raw["at_least"], f"{where}.at_least", 0.0, 1.0),
            open=_open(raw, where),
        )
    raw = _mapping(raw, where, ("metric", "over", "margin"), ("open",))
    return Floor(
        metric=_name(raw["metric"], f"{where}.metric"),
        over=_name(raw["over"], f"{where}.over"),
        margin=_number(raw["margin"], f"{where}.margin"),
        open=_open(raw, where),
    )


def _track(name: str, raw: Any) -> TrackExpectation:
    where = f"tracks.{name}"
    raw = _mapping(raw, where, ("metrics", "headline", "floors"))
    floors = raw["floors"]
    if not isinstance(floors, list) or not floors:
        raise ExpectationsError(f"{where}.floors: expected a non-empty list, got {floors!r}")
    metrics_file = raw["metrics"]
    if not isinstance(metrics_file, str) or not metrics_file.endswith(".json"):
        raise ExpectationsError(f"{where}.metrics: expected a .json path, got {metrics_file!r}")
    return TrackExpectation(
        name=name,
        metrics_file=metrics_file,
        headline=_headline(raw["headline"], f"{where}.headline"),
        floors=tuple(_floor(f, f"{where}.floors.{i}") for i, f in enumerate(floors)),
    )


def parse_expectations(data: Any) -> dict[str, TrackExpectation]:
    """Validate the file's content; every track of :data:`TRACKS`, nothing else."""
    tracks = _mapping(data, "", ("tracks",))["tracks"]
    if not isinstance(tracks, dict):
        raise ExpectationsError(f"tracks: expected a mapping, got {tracks!r}")
    unknown = sorted(set(tracks) - set(TRACKS), key=str)
    if unknown:
        raise ExpectationsError(
            f"tracks.{unknown[0]}: unknown track; the tracks are {', '.join(TRACKS)}"
        )
    missing = [t for t in TRACKS if t not in tracks]
    if missing:
        raise ExpectationsError(f"tracks.{missing[0]}: required track is missing")
    return {name: _track(name, tracks[name]) for name in TRACKS}


def load_expectations(path: str | Path = EXPECTATIONS_FILE) -> dict[str, TrackExpectation]:
    """Read and validate the expectations file.

    Raises:
        ExpectationsError: naming the file and the key: a missing or unknown key or
            track, a value that is not a number or out of range, invalid YAML.
    """
    try:
        data = load_yaml(path)
    except ParamsError as exc:  # its message names the file
        raise ExpectationsError(str(exc)) from None
    try:
        return parse_expectations(data)
    except ExpectationsError as exc:
        raise ExpectationsError(f"{path}: {exc}") from None


def read_metrics(path: str | Path) -> dict[str, Any]:
    """A ``metrics/<track>.json`` file as a dict; errors name the file."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError as exc:
        raise ExpectationsError(f"{path}: file not found") from exc
    except json.JSONDecodeError as exc:
        raise ExpectationsError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ExpectationsError(f"{path}: expected a JSON object of metrics")
    return data


# -- checking ------------------------------------------------------------------------
def _lookup(track: TrackExpectation, metrics: Mapping[str, Any], key: str) -> float | str:
    """The metric's value, or the finding that says why there is none."""
    if key not in metrics:
        return f"{track.name}: {key} is missing from {track.metrics_file}"
    value = metrics[key]
    # The metrics files write NaN as null (pipeline.io.round_floats).
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{track.name}: {key} in {track.metrics_file} is not a number ({value!r})"
    return float(value)


def floor_result(
    track: TrackExpectation, floor: Floor, metrics: Mapping[str, Any]
) -> FloorResult | str:
    """The floor on ``metrics``, or the finding that says which metric is missing."""
    value = _lookup(track, metrics, floor.metric)
    if isinstance(value, str):
        return value
    if floor.over is None:
        return FloorResult(floor, value, float(floor.at_least))
    reference = _lookup(track, metrics, floor.over)
    if isinstance(reference, str):
        return reference
    return FloorResult(floor, value, reference)


def describe_unmet(track: TrackExpectation, result: FloorResult) -> str:
    floor = result.floor
    head = f"{track.name} {floor.metric} {result.value:.3f}"
    if floor.over is None:
        return f"{head} is below its floor {floor.at_least:g}"
    return (
        f"{head} does not beat {floor.over} {result.reference:.3f} by {floor.margin:g} "
        f"(margin {result.margin:+.3f})"
    )


def check_floors(
    track: TrackExpectation, metrics: Mapping[str, Any], *, include_open: bool = False
) -> list[str]:
    """A finding per floor not met or not checkable (a metric missing); empty: all met.

    Floors marked ``open`` are left out unless ``include_open``.
    """
    findings = []
    for floor in track.floors:
        if floor.open and not include_open:
            continue
        result = floor_result(track, floor, metrics)
        if isinstance(result, str):
            findings.append(result)
        elif not result.met:
            findings.append(describe_unmet(track, result))
    return findings


def check_headline(track: TrackExpectation, metrics: Mapping[str, Any]) -> list[str]:
    """A finding when the headline metric is missing or outside its tolerance."""
    headline = track.headline
    value = _lookup(track, metrics, headline.metric)
    if isinstance(value, str):
        return [value]
    if round(abs(value - headline.expected), FLOAT_DIGITS) <= headline.tolerance:
        return []
    return [
        f"{track.name} {headline.metric} {value:.3f} is outside "
        f"{headline.expected:.3f} +- {headline.tolerance:g}"
    ]


def check_track(
    track: TrackExpectation,
    metrics: Mapping[str, Any],
    *,
    headline: bool = True,
    floors: bool = True,
) -> list[str]:
    """Readable findings for one track's metrics (empty: it meets its expectations).

    Args:
        track: the track's expectations.
        metrics: the track's metrics file as loaded.
        headline: check the headline metric against its expected value and tolerance.
        floors: check every floor.
    """
    findings = (check_headline(track, metrics) if headline else []) + (
        check_floors(track, metrics) if floors else []
    )
    return list(dict.fromkeys(findings))  # a missing metric is said once


def check_files(expectations: Mapping[str, TrackExpectation], root: str | Path = ".") -> list[str]:
    """Headline and floors of every track, each read from its metrics file under ``root``."""
    findings = []
    for track in expectations.values():
        metrics = read_metrics(Path(root) / track.metrics_file)
        findings += check_track(track, metrics)
    return findings
