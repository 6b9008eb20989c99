"""Ranking core shared by the re-id protocols: ranks of each query's correct matches.

Given distance rows, identities and an exclusion rule (which gallery items a
query must not see), :func:`rank_matches` finds, per query, the 0-based ranks of
its correct matches among the kept items; :func:`summarize` turns them into CMC,
mAP (mean over the matches of hits-so-far / rank) and mINP (matches / rank of the
last one; Ye et al., TPAMI 2021). Market-1501 (:mod:`pipeline.evaluation.reid`)
and SYSU-MM01 / RegDB (:mod:`pipeline.evaluation.cross_modality`) differ only
in their rules and CMC.

Ties: items with equal distance are ranked by gallery index, lower first, i.e.
``np.argsort(kind="stable")``. The references sort with numpy's default
quicksort, whose order among equal distances is unspecified for long rows, so
results agree whenever no correct match ties with another item.

Speed: the ranks of a query's matches are counted (items closer than each
match) instead of sorting its whole row, several times faster than ``argsort``
when identities have few gallery images; rows with many matches fall back to
one stable sort. Rows arrive in chunks, so memory stays bounded: an (Q, G) array
(``np.memmap`` works) or any iterable of row blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

# Above this many correct matches in a row one stable sort is cheaper than counting.
_COUNTING_MAX_MATCHES = 64
DEFAULT_CHUNK_ROWS = 256

DistanceSource = np.ndarray | Iterable[np.ndarray]
# Query index -> gallery indices removed from that query's ranking (sorted, int64).
ExclusionRule = Callable[[int], np.ndarray]


@dataclass(frozen=True)
class MatchRanks:
    """Per-query ranks of the correct matches, after the protocol's removals.

    Attributes:
        valid: (Q,) True where a correct match is left in the gallery.
        first_rank: (Q,) 0-based rank of the first correct match (-1: not valid).
        ap: (Q,) average precision (NaN: not valid).
        inp: (Q,) inverse negative penalty (NaN: not valid).
        first_distinct_rank: (Q,) 0-based rank of the first correct match when
            each gallery identity counts only at its best-ranked item (the
            SYSU-MM01 CMC); None unless asked for.
    """

    valid: np.ndarray
    first_rank: np.ndarray
    ap: np.ndarray
    inp: np.ndarray
    first_distinct_rank: np.ndarray | None = None


def as_labels(values: Any, name: str, length: int | None = None) -> np.ndarray:
    """``values`` as a 1-D array (of ``length`` entries if given); raises naming ``name``."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name}: expected {length} entries, got {arr.shape[0]}")
    return arr


def iter_distance_rows(
    distmat: DistanceSource, num_queries: int, num_gallery: int, chunk_size: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first query index, (c, G) float block) over the rows of ``distmat``.

    Args:
        distmat: (Q, G) array-like, or an iterable of (c, G) row blocks in query
            order.
        num_queries: Q, checked against the rows received.
        num_gallery: G, checked against every block.
        chunk_size: rows per block when ``distmat`` is an array.

    Raises:
        ValueError: a block has the wrong shape, holds NaN, or the row count is off.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size}: must be >= 1")
    if hasattr(distmat, "shape") and hasattr(distmat, "__getitem__"):
        shape = tuple(distmat.shape)
        if shape != (num_queries, num_gallery):
            raise ValueError(
                f"distmat: expected shape ({num_queries}, {num_gallery}) "
                f"(queries x gallery), got {shape}"
            )
        blocks: Iterable[Any] = (
            distmat[s : s + chunk_size] for s in range(0, num_queries, chunk_size)
        )
    else:
        blocks = distmat
    start = 0
    for raw in blocks:
        block = np.asarray(raw)
        if block.ndim != 2 or block.shape[1] != num_gallery:
            raise ValueError(
                f"distmat: rows from {start}: expected a (rows, {num_gallery}) block, "
                f"got shape {block.shape}"
            )
        if start + block.shape[0] > num_queries:
            raise ValueError(f"distmat: more than {num_queries} query rows received")
        if block.dtype.kind == "f" and np.isnan(block).any():
            raise ValueError(f"distmat: rows {start}..{start + block.shape[0] - 1} contain NaN")
        yield start, block
        start += block.shape[0]
    if start != num_queries:
        raise ValueError(f"distmat: received {start} query rows, expected {num_queries}")


def _row_counts(mask: np.ndarray) -> np.ndarray:
    """True entries per row of a 2-D bool array (per-row count_nonzero is ~3x faster
    here than ``count_nonzero(axis=1)``, which sums through a dtype cast)."""
    return np.fromiter(map(np.count_nonzero, mask), dtype=np.int64, count=mask.shape[0])


def _ranks_before(row: np.ndarray, items: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For each target index t: how many of ``items`` rank before t in ``row``.

    An item i ranks before t when row[i] < row[t], or row[i] == row[t] and i < t.
    """
    vi, vt = row[items][None, :], row[targets][:, None]
    return _row_counts((vi < vt) | ((vi == vt) & (items[None, :] < targets[:, None])))


def _ranks_in_row(row: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based stable rank of each target index among all items of ``row``."""
    if targets.size > _COUNTING_MAX_MATCHES:
        order = np.argsort(row, kind="stable")
        inverse = np.empty(row.size, dtype=np.int64)
        inverse[order] = np.arange(row.size)
        return inverse[targets]
    vals = row[targets][:, None]
    less = _row_counts(row[None, :] < vals)
    equal = _row_counts(row[None, :] <= vals) - less
    for j in np.flatnonzero(equal > 1):  # ties: equal items with a lower index come first
        less[j] += np.count_nonzero(row[: targets[j]] == row[targets[j]])
    return less


def group_indices(codes: np.ndarray, num_codes: int) -> list[np.ndarray]:
    """For each code 0..num_codes-1, the ascending indices holding it."""
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(num_codes + 1))
    return [order[bounds[c] : bounds[c + 1]] for c in range(num_codes)]


def rank_matches(
    distmat: DistanceSource,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    excluded: ExclusionRule,
    *,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    distinct_ids: bool = False,
) -> MatchRanks:
    """Rank each query's correct matches under an exclusion rule (the shared core).

    Args:
        distmat: (Q, G) distances or row blocks (see :func:`iter_distance_rows`).
        q_pids: (Q,) query identities.
        g_pids: (G,) gallery identities.
        excluded: query index -> sorted gallery indices removed for that query.
        chunk_size: rows per block when ``distmat`` is an array.
        distinct_ids: also rank the first match counting each gallery identity
            once, at its best-ranked kept item.

    Returns:
        The per-query :class:`MatchRanks`.
    """
    q_pids = as_labels(q_pids, "q_pids")
    g_pids = as_labels(g_pids, "g_pids")
    num_q, num_g = q_pids.shape[0], g_pids.shape[0]
    if num_q == 0:
        raise ValueError("q_pids: no queries")
    gallery_ids, g_codes = np.unique(g_pids, return_inverse=True)
    g_codes = g_codes.ravel()
    groups = group_indices(g_codes, gallery_ids.size)
    q_codes = vocabulary_codes(q_pids, gallery_ids)

    first_rank = np.full(num_q, -1, dtype=np.int64)
    first_distinct = np.full(num_q, -1, dtype=np.int64) if distinct_ids else None
    ap = np.full(num_q, np.nan)
    inp = np.full(num_q, np.nan)
    is_removed = np.zeros(num_g, dtype=bool)  # scratch mask, cleared after each query
    for start, block in iter_distance_rows(distmat, num_q, num_g, chunk_size):
        for r in range(block.shape[0]):
            qi = start + r
            if q_codes[qi] < 0:
                continue
            removed = excluded(qi)
            matches = groups[q_codes[qi]]
            if removed.size:
                is_removed[removed] = True
                matches = matches[~is_removed[matches]]
                is_removed[removed] = False
            if matches.size == 0:
                continue
            row = block[r]
            ranks = _ranks_in_row(row, matches)
            if removed.size:
                ranks = ranks - _ranks_before(row, removed, matches)
            order = np.argsort(ranks, kind="stable")
            ranks = ranks[order]
            hits = np.arange(1, ranks.size + 1)
            first_rank[qi] = ranks[0]
            ap[qi] = float(np.mean(hits / (ranks + 1.0)))
            inp[qi] = ranks.size / (ranks[-1] + 1.0)
            if first_distinct is not None:
                best = matches[order[0]]
                ahead = (row < row[best]) | ((row == row[best]) & (np.arange(num_g) < best))
                ahead[removed] = False
                seen = np.bincount(g_codes[ahead], minlength=gallery_ids.size)
                first_distinct[qi] = np.count_nonzero(seen)
    return MatchRanks(
        valid=first_rank >= 0,
        first_rank=first_rank,
        ap=ap,
        inp=inp,
        first_distinct_rank=first_distinct,
    )


def cmc_from_ranks(first_rank: np.ndarray, valid: np.ndarray, max_rank: int) -> np.ndarray:
    """CMC(k), k = 1..max_rank: share of valid queries with a first match at rank <= k."""
    counts = np.bincount(first_rank[valid], minlength=max_rank)[:max_rank]
    return np.cumsum(counts) / float(np.count_nonzero(valid))


def summarize(
    ranks: MatchRanks, max_rank: int, num_gallery: int, *, distinct_cmc: bool = False
) -> dict[str, Any]:
    """mAP, mINP, CMC and the valid-query count from :class:`MatchRanks`.

    ``max_rank`` shrinks to the gallery size when the gallery is smaller, as in
    the reference. ``distinct_cmc`` uses ``first_distinct_rank`` for the CMC.

    Raises:
        ValueError: no query has a correct match left.
    """
    if max_rank < 1:
        raise ValueError(f"max_rank={max_rank}: must be >= 1")
    valid = ranks.valid
    if not valid.any():
        raise ValueError(
            "no query has a correct match left in the gallery (after the protocol's removals)"
        )
    first = ranks.first_distinct_rank if distinct_cmc else ranks.first_rank
    if first is None:
        raise ValueError("distinct_cmc=True needs ranks computed with distinct_ids=True")
    return {
        "mAP": float(np.mean(ranks.ap[valid])),
        "mINP": float(np.mean(ranks.inp[valid])),
        "cmc": cmc_from_ranks(first, valid, min(max_rank, num_gallery)),
        "num_valid_queries": int(np.count_nonzero(valid)),
    }


def vocabulary_codes(values: np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
    """Position of each value in the sorted ``vocabulary``; -1 where absent."""
    if vocabulary.size == 0:
        return np.full(values.shape[0], -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(vocabulary, values), vocabulary.size - 1)
    return np.where(vocabulary[pos] == values, pos, -1)
