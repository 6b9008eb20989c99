"""``reports/summary.md`` and the comparison plot (DESIGN.md, the ``report`` stage).

Each track's metrics are set beside its two baselines (``init_``: the same model
untrained; ``hist_``: a colour histogram), the reproduced paper's figure and the
strongest peers' (``reference_numbers.yaml``). Numbers measured on the synthetic
world are marked as such: they check the pipeline, not the paper.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pipeline.params import load_yaml

REFERENCE_FILE = Path(__file__).with_name("reference_numbers.yaml")
BASELINES = (("init_", "untrained"), ("hist_", "colour histogram"))


@dataclass(frozen=True)
class TrackResult:
    """One track's outcome as the report needs it."""

    section: str  # params section: person_search | scl | dclnet
    dataset: str  # params dataset key, e.g. synthetic_cuhk_sysu
    layout: str  # the real dataset whose protocol and paper figures apply
    synthetic: bool
    metrics: dict[str, float] = field(default_factory=dict)


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
    "person_search": "Person search (DICL, weakly supervised)",
    "scl": "Unsupervised re-id (SCL with DBSCAN pseudo labels)",
    "dclnet": "Visible-infrared re-id (DCLNet)",
}


def build_summary(results: list[TrackResult]) -> str:
    """The Markdown report; percentages with one decimal, published figures as printed."""
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
