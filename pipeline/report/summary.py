"""``reports/summary.md`` and the comparison plot (docs/design.md, "The report").

Each track's metrics are set beside its two baselines (``init_``: the same model
untrained; ``hist_``: a colour histogram), the reproduced paper's figure and the
strongest peers' (``reference_numbers.yaml``). Numbers measured on the synthetic
world are marked as such: they check the pipeline, not the paper.

Below each track's table a learning check holds its metrics to the floors of
``metrics/expected.yaml`` and says in a sentence when training does not beat a
baseline; the report ends with the seed sweep's table (``reports/seed_sweep.json``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pipeline.params import load_yaml
from pipeline.report.expectations import (
    TRACKS,
    FloorResult,
    TrackExpectation,
    floor_result,
)
from pipeline.report.seed_sweep import SWEEP_COMMAND, SWEEP_FILE, render_sweep

REFERENCE_FILE = Path(__file__).with_name("reference_numbers.yaml")
BASELINES = (("init_", "untrained"), ("hist_", "colour histogram"))


@dataclass(frozen=True)
class TrackResult:
    """One track's outcome as the report needs it."""

    section: str  # params section: dicl | scl | dclnet
    dataset: str  # params dataset key, e.g. synthetic_cuhk_sysu
    layout: str  # the real dataset whose protocol and paper figures apply
    synthetic: bool
    metrics: dict[str, float] = field(default_factory=dict)
    # The track's entry of metrics/expected.yaml; None: no learning check.
    expectation: TrackExpectation | None = None


@cache
def reference_numbers() -> dict:
    return load_yaml(REFERENCE_FILE)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _published(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _track_table(result: TrackResult) -> list[str]:
    ref = reference_numbers()[result.section]
    names: dict[str, str] = ref["metrics"]
    data = ref["datasets"].get(result.layout, {})
    paper = data.get("paper", {})
    peers: dict[str, dict] = data.get("peers", {})
    keys = [k for k in names if k in result.metrics or k in paper]
    if not keys:
        return ["No metrics for this track.", ""]
    baselines = [
        (p, label) for p, label in BASELINES if any(f"{p}{k}" in result.metrics for k in keys)
    ]
    paper_label = f"{ref['method']} paper ({result.layout})"
    header = ["metric", "this run", *(label for _, label in baselines), paper_label, *peers]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in keys:
        row = [names[key], _pct(result.metrics.get(key))]
        row += [_pct(result.metrics.get(f"{prefix}{key}")) for prefix, _ in baselines]
        row += [_published(paper.get(key))]
        row += [_published(peer.get(key)) for peer in peers.values()]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    if data.get("note"):
        lines += [f"Paper figure: {data['note']}.", ""]
    return lines


TITLES = {
    "dicl": "Person search (DICL, weakly supervised)",
    "scl": "Unsupervised re-id (SCL with DBSCAN pseudo labels)",
    "dclnet": "Visible-infrared re-id (DCLNet)",
}
# The metrics files' names for the params sections (docs/design.md, "Metrics files").
TRACK_OF_SECTION = {"dicl": "dicl", "scl": "scl", "dclnet": "dclnet"}
# Who a floor's baseline is, in a sentence; other baselines go by their metric name.
BASELINE_NAMES = {"init_": "the untrained model", "hist_": "the colour histogram"}
# Metrics the reference table does not name.
METRIC_NAMES = {"det_recall": "detection recall", "det_ap": "detection AP"}


def _metric_name(result: TrackResult, key: str) -> str:
    names = reference_numbers()[result.section]["metrics"]
    return names.get(key) or METRIC_NAMES.get(key, key)


def _baseline_name(key: str) -> str:
    prefix = next((p for p in BASELINE_NAMES if key.startswith(p)), None)
    return BASELINE_NAMES[prefix] if prefix else f"`{key}`"


def _verdict(result: TrackResult, check: FloorResult) -> str:
    """The plain sentence for a floor that is not met."""
    floor = check.floor
    name = _metric_name(result, floor.metric)
    known = f" Open: {floor.open}" if floor.open else ""
    if floor.over is None:
        return (
            f"**The {name} is below its floor** ({_pct(check.value)}; the floor asks at "
            f"least {_pct(floor.at_least)}).{known}"
        )
    return (
        f"**The trained model does not beat {_baseline_name(floor.over)}** ({name} "
        f"{_pct(check.value)} vs {_pct(check.reference)}; the floor asks "
        f"{100 * floor.margin:+.1f}).{known}"
    )


def _learning_check(result: TrackResult) -> list[str]:
    """Sentences for the floors not met, then a row per floor: trained, baseline, margin."""
    track = result.expectation
    if track is None:
        return []
    checks = [floor_result(track, floor, result.metrics) for floor in track.floors]
    sentences = [
        f"**The learning check cannot run**: {c}." if isinstance(c, str) else _verdict(result, c)
        for c in checks
        if isinstance(c, str) or not c.met
    ]
    if not sentences:
        sentences = ["Training beats every floor of `metrics/expected.yaml`."]
    lines = ["### Learning check", "", *sentences, ""]
    header = ["floor", "trained", "baseline", "margin", "the floor asks", "met"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for floor, check in zip(track.floors, checks, strict=True):
        if floor.over is None:
            label = _metric_name(result, floor.metric)
            asks = f"at least {_pct(floor.at_least)}"
        else:
            label = f"{_metric_name(result, floor.metric)} over {_baseline_name(floor.over)}"
            asks = f"{100 * floor.margin:+.1f}"
        if isinstance(check, str):
            row = [label, "–", "–", "–", asks, "metric missing"]
        else:
            baseline = "–" if floor.over is None else _pct(check.reference)
            margin = "–" if floor.over is None else f"{100 * check.margin:+.1f}"
            met = "yes" if check.met else "**no**"
            row = [label, _pct(check.value), baseline, margin, asks, met]
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def _seed_sweep(sweep: dict | None) -> list[str]:
    lines = ["## Seed sweep", ""]
    if sweep is None:
        return lines + [
            f"No seed sweep yet: `{SWEEP_FILE}` is absent; `{SWEEP_COMMAND}` writes it.",
            "",
        ]
    lines += [
        f"The default pipeline once per top-level `seed` (`{SWEEP_FILE}`); floors from",
        "`metrics/expected.yaml` as they were when each track was swept.",
        "",
    ]
    titles = {TRACK_OF_SECTION[section]: title for section, title in TITLES.items()}
    return lines + render_sweep(sweep, TRACKS, titles, level=3)


def build_summary(results: list[TrackResult], sweep: dict | None = None) -> str:
    """The Markdown report; percentages with one decimal, published figures as printed.

    Args:
        results: one per track, in the report's order.
        sweep: the seed sweep's file as loaded; None: there is none yet (the report says so).
    """
    lines = [
        "# Summary",
        "",
        "All figures in percent. *this run*: the final epoch of this pipeline's training, evaluated",
        "with the published protocol; *untrained*: the same model before training; *colour",
        "histogram*: a hand-crafted descriptor. Published figures are on the real datasets.",
        "",
    ]
    for result in results:
        data_note = (
            f"**synthetic** data (`{result.dataset}`, {result.layout} layout): checks the pipeline; "
            "not comparable to the published figures"
            if result.synthetic
            else f"dataset `{result.dataset}`"
        )
        lines += [f"## {TITLES[result.section]}", "", data_note + ".", ""]
        lines += _track_table(result)
        lines += _learning_check(result)
    lines += _seed_sweep(sweep)
    return "\n".join(lines).rstrip() + "\n"


def comparison_plot(results: list[TrackResult]) -> bytes:
    """Grouped bars per track: this run against its baselines, on the track's headline metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, max(1, len(results)), figsize=(4.2 * max(1, len(results)), 3.4), squeeze=False
    )
    for ax, result in zip(axes.flat, results, strict=False):
        names = reference_numbers()[result.section]["metrics"]
        keys = [k for k in names if k in result.metrics][:2]
        series = [("this run", "")] + [(label, prefix) for prefix, label in BASELINES]
        series = [
            (label, p) for label, p in series if any(f"{p}{k}" in result.metrics for k in keys)
        ]
        width = 0.8 / max(1, len(series))
        for i, (label, prefix) in enumerate(series):
            values = [100 * result.metrics.get(f"{prefix}{k}", 0.0) for k in keys]
            ax.bar([j + i * width for j in range(len(keys))], values, width, label=label)
        ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(keys))])
        ax.set_xticklabels([names[k] for k in keys], fontsize=8)
        ax.set_ylim(0, 100)
        suffix = " (synthetic)" if result.synthetic else ""
        ax.set_title(f"{result.section}: {result.dataset}{suffix}", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
