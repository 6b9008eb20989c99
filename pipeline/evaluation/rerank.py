"""k-reciprocal re-ranking of a query-gallery distance matrix.

Zhong et al., "Re-ranking Person Re-identification with k-reciprocal Encoding"
(CVPR 2017), as their reference ``re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20,
k2=6, lambda_value=0.3)`` computes it:

1. the (Q+G) x (Q+G) matrix [[q-q, q-g], [g-q, g-g]] is squared (the inputs are
   Euclidean distances) and each row divided by its maximum;
2. every sample's k-reciprocal feature V (k1 neighbours, half-k1 expansion,
   exp(-d) weights, k2 local query expansion) and the Jaccard distance between
   the queries' and the gallery's features, from
   :mod:`pipeline.clustering.jaccard`;
3. final = (1 - lambda) * Jaccard + lambda * the normalised distance of step 1.

Memory: the dense (Q+G)^2 float32 matrix of step 1 (1.5 GB at Market-1501's
19,281 images), then sparse V and bounded Jaccard blocks.
"""

from __future__ import annotations

import numpy as np

from pipeline.clustering.jaccard import jaccard_distance, k_reciprocal_encoding, knn_from_distmat


def _matrix(values: np.ndarray, name: str, shape: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    if (arr < 0).any():
        raise ValueError(f"{name}: distances must be >= 0")
    return arr


def re_ranking(
    q_g_dist: np.ndarray,
    q_q_dist: np.ndarray,
    g_g_dist: np.ndarray,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
    *,
    squared: bool = False,
) -> np.ndarray:
    """Re-ranked (Q, G) distances.

    Args:
        q_g_dist: (Q, G) query-gallery distances.
        q_q_dist: (Q, Q) query-query distances.
        g_g_dist: (G, G) gallery-gallery distances.
        k1: k of the k-reciprocal neighbourhood (20 in the paper's evaluation).
        k2: neighbours averaged by local query expansion (6).
        lambda_value: weight of the original distance (0.3).
        squared: the inputs are already squared Euclidean distances (as fast-reid
            and torchreid compute them); they are then not squared again.

    Returns:
        (Q, G) float32 distances, smaller = more similar.

    Raises:
        ValueError: shapes disagree, values are negative or not finite, or k1 + 1
            exceeds the number of samples.
    """
    q_g = np.asarray(q_g_dist)
    if q_g.ndim != 2:
        raise ValueError(f"q_g_dist: expected a (Q, G) matrix, got shape {q_g.shape}")
    nq, ng = q_g.shape
    q_g = _matrix(q_g, "q_g_dist", (nq, ng))
    q_q = _matrix(q_q_dist, "q_q_dist", (nq, nq))
    g_g = _matrix(g_g_dist, "g_g_dist", (ng, ng))
    if not 0.0 <= lambda_value <= 1.0:
        raise ValueError(f"lambda_value={lambda_value}: must lie in [0, 1]")
    n = nq + ng
    if k1 + 1 > n or k2 > n:
        raise ValueError(f"k1={k1}, k2={k2}: need k1 + 1 <= {n} and k2 <= {n} samples")

    # The reference squares in the inputs' precision, casts to float32, divides each
    # column by its maximum and transposes; building the transpose directly (only
    # the q-q and g-g blocks differ) and dividing rows gives the same numbers.
    power = (lambda x: x) if squared else np.square
    full = np.empty((n, n), dtype=np.float32)
    full[:nq, :nq] = power(q_q).T
    full[:nq, nq:] = power(q_g)
    full[nq:, :nq] = power(q_g).T
    full[nq:, nq:] = power(g_g).T
    row_max = full.max(axis=1, keepdims=True)
    np.divide(full, row_max, out=full, where=row_max > 0)

    knn_idx, knn_dist = knn_from_distmat(full, max(k1 + 1, k2))
    v = k_reciprocal_encoding(knn_idx, knn_dist, k1, k2, distmat=full)
    jaccard = jaccard_distance(v, rows=np.arange(nq), cols=np.arange(nq, n))
    final = jaccard * np.float32(1.0 - lambda_value)
    final += full[:nq, nq:] * np.float32(lambda_value)
    return final
