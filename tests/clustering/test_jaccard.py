"""k-reciprocal Jaccard distance against a literal O(N^2) reading of Zhong et al. 2017."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pipeline.clustering.jaccard import (
    compute_jaccard_distance,
    compute_sparse_jaccard_distance,
    jaccard_distance,
    k_reciprocal_encoding,
    knn,
    knn_from_distmat,
    l2_normalize,
    sparse_jaccard_distance,
)
from pipeline.clustering.pseudo_labels import cluster


def clustered_features(n: int, n_ids: int, dim: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim))
    return centres[rng.integers(0, n_ids, n)] + noise * rng.normal(size=(n, dim))


def brute_force_jaccard(x: np.ndarray, k1: int, k2: int) -> tuple[np.ndarray, list, list]:
    """The paper's definitions, one sample at a time, in float64."""
    n = len(x)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    ranked = np.argsort(d, axis=1, kind="stable")

    def n_set(p, k):  # N(p, k): p itself and its k nearest neighbours
        return set(ranked[p, : k + 1].tolist())

    def r_set(p, k):  # k-reciprocal neighbours
        return {g for g in n_set(p, k) if p in n_set(g, k)}

    half = int(np.around(k1 / 2))
    recip, expanded = [], []
    v = np.zeros((n, n))
    for p in range(n):
        r = r_set(p, k1)
        r_star = set(r)
        for q in r:
            rq = r_set(q, half)
            if len(r & rq) > 2 / 3 * len(rq):
                r_star |= rq
        recip.append(r)
        expanded.append(r_star)
        members = sorted(r_star)
        w = np.exp(-d[p, members])
        v[p, members] = w / w.sum()
    v_qe = np.array([v[ranked[p, :k2]].mean(axis=0) for p in range(n)])
    jac = np.zeros((n, n))
    for p in range(n):
        for g in range(n):
            jac[p, g] = 1 - np.minimum(v_qe[p], v_qe[g]).sum() / np.maximum(v_qe[p], v_qe[g]).sum()
    return jac, recip, expanded


@pytest.mark.parametrize("k1,k2,seed", [(8, 3, 0), (6, 1, 1), (7, 4, 2), (9, 2, 3)])
def test_matches_brute_force(k1, k2, seed):
    x = l2_normalize(clustered_features(48, 6, 16, 0.8, seed)).astype(np.float64)
    expected, recip, expanded = brute_force_jaccard(x, k1, k2)
    # The data must exercise the expansion step, or the test proves little.
    assert any(e != r for e, r in zip(expanded, recip, strict=True))
    got = compute_jaccard_distance(x, k1=k1, k2=k2, use_faiss=False)
    np.testing.assert_allclose(got, expected, atol=2e-6)
    np.testing.assert_allclose(compute_jaccard_distance(x, k1=k1, k2=k2), expected, atol=2e-6)


def test_expansion_members_outside_the_lists_use_the_features():
    x = l2_normalize(clustered_features(60, 5, 8, 0.9, 3))
    k1, k2 = 10, 1
    _, _, expanded = brute_force_jaccard(x.astype(np.float64), k1, k2)
    idx, dist = knn(x, k1 + 1)
    assert any(not e <= set(idx[p].tolist()) for p, e in enumerate(expanded))
    with pytest.raises(ValueError, match="features= or distmat="):
        k_reciprocal_encoding(idx, dist, k1, k2)
    full = ((x[:, None] - x[None]) ** 2).sum(-1)
    by_features = k_reciprocal_encoding(idx, dist, k1, k2, features=x)
    by_matrix = k_reciprocal_encoding(idx, dist, k1, k2, distmat=full)
    np.testing.assert_allclose(by_features.toarray(), by_matrix.toarray(), atol=1e-6)
    for p, members in enumerate(expanded):
        assert set(by_features[p].indices.tolist()) == members
    np.testing.assert_allclose(np.asarray(by_features.sum(axis=1)).ravel(), 1.0, atol=1e-6)


def test_jaccard_on_a_hand_made_v():
    # Rows 0 and 1 share 0.5 of mass on column 1: d = 1 - 0.5 / (1 + 1 - 0.5) = 2/3.
    v = sp.csr_matrix(np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]]))
    d = jaccard_distance(v)
    expected = np.array([[0, 2 / 3, 1], [2 / 3, 0, 1 - 0.5 / 1.5], [1, 1 - 0.5 / 1.5, 0]])
    np.testing.assert_allclose(d, expected, atol=1e-7)
    np.testing.assert_allclose(jaccard_distance(v, rows=[2, 0], cols=[1]), expected[[2, 0]][:, [1]])


def test_knn_paths_agree_and_put_self_first():
    x = clustered_features(200, 10, 32, 0.5, 4).astype(np.float32)
    x[5] = x[7]  # a duplicate: both at distance 0 from each other
    i_faiss, d_faiss = knn(x, 12)
    i_np, d_np = knn(x, 12, use_faiss=False, chunk_size=37)
    assert np.array_equal(i_faiss[:, 0], np.arange(200)) and np.array_equal(
        i_np[:, 0], np.arange(200)
    )
    assert i_np[5, 1] == 7 and i_np[7, 1] == 5
    np.testing.assert_allclose(d_faiss, d_np, atol=1e-3)
    assert (np.diff(d_np, axis=1) >= 0).all()
    full = ((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1)
    i_mat, d_mat = knn_from_distmat(full, 12, chunk_size=50)
    assert np.array_equal(i_mat, i_np)
    np.testing.assert_allclose(d_mat, d_np, atol=1e-3)


def test_sparse_variant_keeps_exactly_the_near_pairs():
    x = clustered_features(150, 8, 16, 0.6, 5)
    dense = compute_jaccard_distance(x, k1=10, k2=3)
    near = compute_sparse_jaccard_distance(x, k1=10, k2=3, max_distance=0.7)
    rows, cols = np.nonzero(dense <= 0.7)
    coo = near.tocoo()
    assert set(zip(coo.row.tolist(), coo.col.tolist(), strict=True)) == set(
        zip(rows.tolist(), cols.tolist(), strict=True)
    )
    np.testing.assert_array_equal(near.toarray()[rows, cols], dense[rows, cols])
    assert (near.diagonal() == 0).all() and near.nnz >= 150


def test_output_is_symmetric_with_zero_diagonal():
    d = compute_jaccard_distance(clustered_features(120, 6, 16, 0.7, 6), k1=12, k2=4)
    assert d.dtype == np.float32
    assert np.array_equal(d, d.T)
    assert (np.diag(d) == 0).all() and d.min() >= 0 and d.max() <= 1


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="features"):
        knn(np.zeros((0, 4)), 1)
    with pytest.raises(ValueError, match="k=5"):
        knn(np.zeros((3, 4)), 5)
    with pytest.raises(ValueError, match="NaN"):
        knn(np.array([[0.0, np.nan], [1.0, 1.0]]), 1)
    idx, dist = knn(clustered_features(20, 2, 4, 0.1, 7), 5)
    with pytest.raises(ValueError, match="k1=6"):
        k_reciprocal_encoding(idx, dist, 6, 2)
    with pytest.raises(ValueError, match="self first"):
        k_reciprocal_encoding(idx[:, ::-1], dist, 3, 2)
    with pytest.raises(ValueError, match="max_distance"):
        compute_sparse_jaccard_distance(np.eye(4), 1, 1, max_distance=1.0)


@pytest.mark.parametrize("max_distance", [0.0, 0.3, 0.6, 0.95])
def test_sparse_route_is_the_dense_distance_bit_for_bit(max_distance):
    x = l2_normalize(clustered_features(260, 9, 16, 0.8, 8))
    idx, dist = knn(x, 13)
    v = k_reciprocal_encoding(idx, dist, 12, 4, features=x)
    dense = jaccard_distance(v)
    rows, cols = np.nonzero(dense <= max_distance)
    expected = sp.csr_matrix((dense[rows, cols], (rows, cols)), shape=dense.shape)
    expected.sort_indices()
    got = sparse_jaccard_distance(v, max_distance)
    assert np.array_equal(got.indptr, expected.indptr)
    assert np.array_equal(got.indices, expected.indices)
    assert np.array_equal(got.data.view(np.uint32), expected.data.view(np.uint32))


# Labels of the default route (exact faiss kNN, sparse Jaccard, DBSCAN) on a seeded
# problem, as the code before the sparse pair-wise Jaccard (commit e122fee) gave them:
# one character per sample, "0".. = cluster id + 48, "-" = outlier.
PINNED_LABELS = (
    "01234-567-58296:;393971-<330<7-=5572526=879:8=:>46<:97=18760-041--77=4-<5000-:5--<-6>>8;-<1->"
    "275-592-<<1?4427-<3-5559-:39->-4:6>5;49:9-4936:21?45-=41=71<7-7->1569-86=--=:<93<=4=:>43-1289"
    "008662=8?-0--59>-=><>0-1-6>3-9:-;3110373>--8;8189<;5972469-:994-77-=29288833<4?:<1--6:23<46>:"
    "2;;8->7<7:8<54:1714--"
)


def test_default_route_labels_are_unchanged():
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(15, 24))
    x = centres[rng.integers(0, 15, 300)] + 0.9 * rng.normal(size=(300, 24))
    near = compute_sparse_jaccard_distance(x.astype(np.float32), 10, 4, max_distance=0.5)
    labels = cluster(near, "dbscan", 0.5, 4)
    assert "".join("-" if lab < 0 else chr(48 + lab) for lab in labels) == PINNED_LABELS
