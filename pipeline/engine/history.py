"""Per-epoch training history as DVC plot data (CSV) and a PNG people can look at."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from pipeline.io import write_bytes, write_csv


def write_history(
    rows: Sequence[dict[str, float]],
    csv_path: str | Path,
    png_path: str | Path | None = None,
    title: str = "",
) -> None:
    """Write ``rows`` (one dict per epoch, with an ``epoch`` key) as CSV and, optionally, a grid of curves.

    Columns are the union of keys, ``epoch`` first, then sorted; missing values are empty.
    """
    keys = sorted({k for row in rows for k in row} - {"epoch"})
    header = ["epoch", *keys]
    write_csv(csv_path, header, ([row.get(k, "") for k in header] for row in rows))
    if png_path is not None and rows and keys:
        write_bytes(png_path, _plot(rows, keys, title))


# Key fragments that say what a curve measures (its y label); anything else is labelled by its key.
_FRACTIONS = ("mAP", "mINP", "rank", "top", "recall", "precision", "acc", "ap", "nmi", "ari")


def y_label(key: str) -> str:
    """What a history column measures, for its panel's y axis."""
    name = key.split("/")[-1]
    if name == "lr" or name.endswith("_lr"):
        return "learning rate"
    if "loss" in name:
        return "loss"
    parts = name.lower().split("_")
    if any(p.startswith(f.lower()) for p in parts for f in _FRACTIONS):
        return "fraction"
    return name


def _plot(rows: Sequence[dict[str, float]], keys: list[str], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    cols = min(4, len(keys))
    nrows = (len(keys) + cols - 1) // cols
    width, height = 3.2 * cols, 2.4 * nrows + (0.3 if title else 0.0)
    fig, axes = plt.subplots(nrows, cols, figsize=(width, height), squeeze=False)
    # Fixed margins in inches (tick labels, titles, x labels) instead of tight_layout,
    # which lays out every text once more: 16 curves took 1.6 s with it, 0.8-1.2 s without.
    fig.subplots_adjust(
        left=0.75 / width,
        right=1 - 0.15 / width,
        bottom=0.45 / height,
        top=1 - (0.6 if title else 0.3) / height,
        wspace=0.75 / 2.5,
        hspace=0.75 / 1.65,
    )
    for ax, key in zip(axes.flat, keys, strict=False):
        points = [
            (row["epoch"], row[key]) for row in rows if isinstance(row.get(key), (int, float))
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", markersize=3)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel(y_label(key), fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    buf = io.BytesIO()
    # No metadata: PNG bytes depend only on the data.
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
