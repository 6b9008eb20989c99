"""A re-id model scored beside its baselines: the frame SCL's and DCLNet's evaluations share.

Each track scores three descriptors with its own protocol (docs/design.md,
"Metrics files"):

* ``model``: the trained network (keys without a prefix);
* ``init``: the same network untrained, same seed and initial weights (``init_``);
* ``hist``: a striped colour histogram, ``pipeline.models.color_histogram`` (``hist_``).

A track hands :func:`score_baselines` one scorer per descriptor (its feature
extractor, distance and protocol: the Market-1501 rule for SCL, DCLNet's
cross-modality trials) and gets back the flat metrics with the prefixes and one
CMC curve per descriptor; :func:`write_eval_plots` writes ``cmc.csv`` and whatever
else the track draws into the plots folder, atomically. Ranked lists:
:class:`TopK` keeps each query's best valid gallery items while distance blocks
stream past, :func:`top_k_ranking` does the same for a whole matrix, and
:func:`write_ranked_sample` draws a seeded sample of queries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from pipeline.evaluation.curves import cmc_rows, write_curve
from pipeline.evaluation.ranked_list import sample_queries, write_ranked_list
from pipeline.io import atomic_dir

MODEL = "model"
KINDS = (MODEL, "init", "hist")


def key_prefix(kind: str) -> str:
    """What goes in front of a descriptor's metric keys: nothing for the model, ``<kind>_``."""
    return "" if kind == MODEL else f"{kind}_"


def prefixed(metrics: Mapping[str, float], kind: str) -> dict[str, float]:
    """``metrics`` with ``kind``'s prefix on every key."""
    prefix = key_prefix(kind)
    return {prefix + k: v for k, v in metrics.items()}


class Scored(NamedTuple):
    """What a track's scorer returns for one descriptor."""

    metrics: dict[str, float]  # flat keys, no prefix
    cmc: np.ndarray  # the headline protocol's CMC curve
    details: Any = None  # anything else the track keeps (per-trial summaries, ...)


@dataclass
class BaselineScores:
    """The model's and its baselines' scores.

    Attributes:
        metrics: flat, prefixed keys of every descriptor.
        curves: CMC per curve name (the track's name for the model, ``init``, ``hist``),
            in the order scored, ready for :func:`pipeline.evaluation.curves.cmc_rows`.
        details: each descriptor's ``Scored.details``.
    """

    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def score_baselines(track: str, scorers: Mapping[str, Callable[[], Scored]]) -> BaselineScores:
    """Run each descriptor's scorer in order; collect prefixed metrics and CMC curves.

    Args:
        track: names the model's CMC curve (``scl``, ``dclnet``).
        scorers: descriptor (``model``, ``init``, ``hist``) -> a call that extracts its
            features and scores them with the track's protocol.
    """
    out = BaselineScores()
    for kind, score in scorers.items():
        scored = score()
        out.metrics.update(prefixed(scored.metrics, kind))
        out.curves[track if kind == MODEL else kind] = scored.cmc
        out.details[kind] = scored.details
    return out


def write_eval_plots(
    plots_dir: str | Path,
    curves: Mapping[str, np.ndarray],
    draw: Callable[[Path], None] | None = None,
) -> None:
    """Replace ``plots_dir`` atomically with ``cmc.csv`` and what ``draw(folder)`` writes."""
    with atomic_dir(plots_dir) as tmp:
        write_curve(tmp / "cmc.csv", cmc_rows(dict(curves)))
        if draw is not None:
            draw(tmp)


def top_k_ranking(dist: np.ndarray, excluded: np.ndarray | None, k: int) -> np.ndarray:
    """Gallery indices of each row's ``k`` smallest distances, excluded items last.

    Ties keep gallery order (stable sort), so the ranking is deterministic.
    """
    if excluded is not None:
        dist = np.where(excluded, np.inf, dist)
    return np.argsort(dist, axis=1, kind="stable")[:, :k]


class TopK:
    """Pass query-row blocks of distances through, keeping each query's top-k ranking.

    Args:
        blocks: ``(c, G)`` distance blocks in query order.
        excluded: query rows (a slice) -> ``(c, G)`` bool, the items the protocol
            does not count (not shown either); None: every item counts.
        k: results kept per query.
    """

    def __init__(
        self,
        blocks: Iterable[np.ndarray],
        excluded: Callable[[slice], np.ndarray] | None,
        k: int,
    ) -> None:
        self.blocks, self.excluded, self.k = blocks, excluded, k
        self.ranked: list[np.ndarray] = []

    def __iter__(self) -> Iterator[np.ndarray]:
        start = 0
        for block in self.blocks:
            rows = slice(start, start + block.shape[0])
            mask = None if self.excluded is None else self.excluded(rows)
            self.ranked.append(top_k_ranking(block, mask, self.k))
            start += block.shape[0]
            yield block

    def ranking(self) -> np.ndarray:
        """``(Q, k)`` gallery indices of every query seen, best first."""
        return np.concatenate(self.ranked)


def write_ranked_sample(
    path: str | Path,
    query_paths: Sequence[str | Path],
    gallery_paths: Sequence[str | Path],
    ranked: np.ndarray,
    correct: np.ndarray,
    *,
    count: int,
    seed: int,
    top_k: int,
) -> None:
    """Draw ``count`` seeded queries' ranked lists (nothing when ``count`` is 0)."""
    if count == 0:
        return
    write_ranked_list(
        path,
        list(query_paths),
        list(gallery_paths),
        ranked,
        correct,
        queries=sample_queries(len(query_paths), count, seed).tolist(),
        top_k=top_k,
    )
