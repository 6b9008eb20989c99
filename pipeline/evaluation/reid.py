"""Re-id ranking metrics: CMC, mAP and mINP under the Market-1501 protocol.

Protocol of Zheng et al., "Scalable Person Re-identification: A Benchmark" (ICCV
2015), as fast-reid ``fastreid/evaluation/rank.py`` (``eval_market1501``, from
torchreid) computes it, with mINP from Ye et al., "Deep Learning for Person
Re-identification: A Survey and Outlook" (TPAMI 2021):

- per query, gallery items with the query's identity AND camera are removed;
- a query with no correct match left is skipped (not counted as a miss);
- CMC(k) = share of the counted queries whose first correct match is within the
  top k; AP = mean over the correct matches of (hits so far / rank);
  INP = (number of correct matches) / (rank of the last one).

Ties rank by gallery index (a stable sort); see :mod:`pipeline.evaluation.ranking`
for that rule and for how rows are counted in bounded memory: pass a (Q, G)
array or memmap, or an iterable of row blocks such as :func:`iter_distance_chunks`
over features (3,368 x 15,913 evaluates in about 0.4 CPU-seconds; 20,000 x
80,000 from features in ~0.5 GiB).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from pipeline.evaluation.ranking import (
    DEFAULT_CHUNK_ROWS,
    DistanceSource,
    ExclusionRule,
    as_labels,
    group_indices,
    rank_matches,
    summarize,
    vocabulary_codes,
)


def iter_distance_chunks(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    metric: str = "euclidean",
    chunk_size: int = 1024,
) -> Iterator[np.ndarray]:
    """Distance rows computed block by block, for :func:`evaluate_rank`.

    Args:
        query_features: (Q, D).
        gallery_features: (G, D).
        metric: "euclidean", "sqeuclidean" or "cosine" (1 - cosine similarity of
            the L2-normalised features).
        chunk_size: query rows per yielded block; memory is chunk_size x G.

    Yields:
        (c, G) float32 distance blocks in query order.
    """
    q = np.asarray(query_features, dtype=np.float32)
    g = np.asarray(gallery_features, dtype=np.float32)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(
            f"features: need (Q, D) and (G, D) with equal D, got {q.shape} and {g.shape}"
        )
    if metric not in ("euclidean", "sqeuclidean", "cosine"):
        raise ValueError(f"metric={metric!r}: expected 'euclidean', 'sqeuclidean' or 'cosine'")
    if metric == "cosine":
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    g_sq = np.einsum("ij,ij->i", g, g)
    for s in range(0, q.shape[0], chunk_size):
        block = q[s : s + chunk_size]
        dots = block @ g.T
        if metric == "cosine":
            yield np.subtract(1.0, dots, out=dots)
            continue
        d2 = np.einsum("ij,ij->i", block, block)[:, None] + g_sq[None, :] - 2.0 * dots
        np.maximum(d2, 0.0, out=d2)
        yield d2 if metric == "sqeuclidean" else np.sqrt(d2, out=d2)


def same_identity_same_camera(
    q_pids: np.ndarray, q_camids: np.ndarray, g_pids: np.ndarray, g_camids: np.ndarray
) -> ExclusionRule:
    """The Market-1501 rule: drop gallery items sharing the query's id and camera."""
    pids, g_pid_codes = np.unique(g_pids, return_inverse=True)
    cams, g_cam_codes = np.unique(g_camids, return_inverse=True)
    # One group per (identity, camera) pair present in the gallery.
    g_keys = g_pid_codes.ravel() * cams.size + g_cam_codes.ravel()
    keys, g_key_codes = np.unique(g_keys, return_inverse=True)
    groups = group_indices(g_key_codes.ravel(), keys.size)
    q_pid_codes, q_cam_codes = vocabulary_codes(q_pids, pids), vocabulary_codes(q_camids, cams)
    q_keys = np.where(
        (q_pid_codes >= 0) & (q_cam_codes >= 0),
        vocabulary_codes(q_pid_codes * cams.size + q_cam_codes, keys),
        -1,
    )
    empty = np.empty(0, dtype=np.int64)

    def excluded(qi: int) -> np.ndarray:
        key = q_keys[qi]
        return groups[key] if key >= 0 else empty

    return excluded


def evaluate_rank(
    distmat: DistanceSource,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    max_rank: int = 50,
    *,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    per_query: bool = False,
) -> dict[str, Any]:
    """Market-1501 protocol: CMC, mAP and mINP of a query-gallery ranking.

    Args:
        distmat: (Q, G) distances (smaller = more similar) as an array or memmap,
            or an iterable of (c, G) row blocks in query order (bounded memory),
            e.g. ``iter_distance_chunks(q_feats, g_feats)``.
        q_pids: (Q,) query identities.
        g_pids: (G,) gallery identities (0 = distractor, never a match for a
            real identity; junk -1 should be dropped beforehand).
        q_camids: (Q,) query cameras.
        g_camids: (G,) gallery cameras.
        max_rank: CMC length; min(max_rank, G) as in the reference.
        chunk_size: rows per block when ``distmat`` is an array.
        per_query: also return ``ap``, ``inp`` (NaN where skipped) and
            ``first_match_rank`` (0-based, -1 where skipped) per query.

    Returns:
        dict with ``mAP``, ``mINP`` (floats in [0, 1]), ``cmc`` (float64 array of
        length min(max_rank, G)) and ``num_valid_queries``.

    Raises:
        ValueError: inconsistent lengths or shapes, NaN distances, or no query
            with a correct match left.
    """
    q_pids = as_labels(q_pids, "q_pids")
    num_q = q_pids.shape[0]
    g_pids = as_labels(g_pids, "g_pids")
    q_camids = as_labels(q_camids, "q_camids", num_q)
    g_camids = as_labels(g_camids, "g_camids", g_pids.shape[0])
    rule = same_identity_same_camera(q_pids, q_camids, g_pids, g_camids)
    ranks = rank_matches(distmat, q_pids, g_pids, rule, chunk_size=chunk_size)
    out = summarize(ranks, max_rank, g_pids.shape[0])
    if per_query:
        out.update(ap=ranks.ap, inp=ranks.inp, first_match_rank=ranks.first_rank)
    return out


def top_k_matches(
    dist_rows: np.ndarray,
    q_pids: np.ndarray,
    q_camids: np.ndarray,
    g_pids: np.ndarray,
    g_camids: np.ndarray,
    k: int = 10,
    excluded: ExclusionRule | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The first k gallery items of some queries' rankings, after the protocol's removals.

    For ranked-list images: pass the distance rows of the sampled queries only.

    Args:
        dist_rows: (n, G) distances of n queries.
        q_pids, q_camids: (n,) their identities and cameras.
        g_pids, g_camids: (G,) gallery identities and cameras.
        k: results per query.
        excluded: row index -> removed gallery indices; default the Market-1501
            rule (same identity and camera).

    Returns:
        ranked (n, k) gallery indices (-1 past the end of a short gallery) and
        correct (n, k) bool, in stable rank order.
    """
    rows = np.asarray(dist_rows)
    q_pids, q_camids = as_labels(q_pids, "q_pids"), as_labels(q_camids, "q_camids")
    g_pids, g_camids = as_labels(g_pids, "g_pids"), as_labels(g_camids, "g_camids")
    if rows.ndim != 2 or rows.shape != (q_pids.size, g_pids.size):
        raise ValueError(
            f"dist_rows: expected shape ({q_pids.size}, {g_pids.size}), got {rows.shape}"
        )
    if excluded is None:
        excluded = same_identity_same_camera(q_pids, q_camids, g_pids, g_camids)
    ranked = np.full((rows.shape[0], k), -1, dtype=np.int64)
    correct = np.zeros((rows.shape[0], k), dtype=bool)
    for i, row in enumerate(rows):
        order = np.argsort(row, kind="stable")
        order = order[~np.isin(order, excluded(i))][:k]
        ranked[i, : order.size] = order
        correct[i, : order.size] = g_pids[order] == q_pids[i]
    return ranked, correct


def headline_metrics(
    result: dict[str, Any], ranks: tuple[int, ...] = (1, 5, 10), prefix: str = ""
) -> dict[str, float]:
    """The flat keys of ``metrics/<track>.json``: ``mAP``, ``mINP``, ``rank{k}``.

    Args:
        result: an :func:`evaluate_rank` result.
        ranks: CMC ranks to report (a rank past the curve's end reads its last value).
        prefix: put in front of every key (``init_``, ``hist_``).
    """
    cmc = np.asarray(result["cmc"])
    out = {f"{prefix}mAP": float(result["mAP"]), f"{prefix}mINP": float(result["mINP"])}
    for k in ranks:
        out[f"{prefix}rank{k}"] = float(cmc[min(k, cmc.size) - 1])
    return out
