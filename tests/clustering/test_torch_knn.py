"""The "torch" route (GPU clustering: kNN, encoding and sparse Jaccard) against the CPU routes, on CPU tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.clustering import jaccard, neighbours, sparse_jaccard, torch_encoding
from pipeline.clustering.jaccard import (
    compute_jaccard_distance,
    compute_sparse_jaccard_distance,
    k_reciprocal_encoding,
)
from pipeline.clustering.neighbours import knn
from pipeline.clustering.pseudo_labels import cluster
from pipeline.clustering.sparse_jaccard import (
    sparse_jaccard_distance,
    sparse_jaccard_distance_torch,
)
from pipeline.clustering.torch_encoding import k_reciprocal_encoding_torch
from tests.clustering.test_neighbours import blobs


def grid_points(n: int, dim: int, seed: int) -> np.ndarray:
    """Small-integer rows: squared distances are exact in float32 and tie often."""
    return np.random.default_rng(seed).integers(-2, 3, size=(n, dim)).astype(np.float32)


def ranked_by_distance_then_index(x: np.ndarray, k: int):
    """The reference lists: every pair's exact distance, sorted by (distance, column)."""
    x64 = x.astype(np.float64)
    d = ((x64[:, None, :] - x64[None, :, :]) ** 2).sum(-1)
    cols = np.broadcast_to(np.arange(len(x)), d.shape)
    order = np.lexsort((cols, d), axis=1)[:, :k]
    return order, np.take_along_axis(d, order, axis=1).astype(np.float32)


@pytest.fixture()
def blocks_of_rows(monkeypatch):
    """Blocks of 64 query rows (so 700 rows make 10 blocks and a ragged last one)."""

    def use(n: int, rows: int = 64) -> None:
        cell = neighbours._TORCH_BYTES_PER_CELL
        monkeypatch.setattr(neighbours, "_TORCH_BLOCK_BYTES", rows * n * cell)

    return use


def test_ties_fall_to_the_lower_index_across_blocks(blocks_of_rows):
    x = grid_points(700, 6, 0)
    blocks_of_rows(700)
    idx, dist = knn(x, 15, route="torch", device="cpu", show_progress=False)
    ref_idx, ref_dist = ranked_by_distance_then_index(x, 15)
    assert (np.diff(ref_dist, axis=1) == 0).sum() > 1000  # the problem is full of ties
    # Duplicated rows can outrank self; the self-first rule then applies as on every route.
    ref_idx, ref_dist = neighbours._put_self_first(ref_idx, ref_dist)
    assert np.array_equal(idx, ref_idx)
    assert np.array_equal(dist, ref_dist)
    # faiss's flat search orders ties the same way: the exact route's very lists.
    exact_idx, exact_dist = knn(x, 15, show_progress=False)
    assert np.array_equal(idx, exact_idx) and np.array_equal(dist, exact_dist)


def test_block_size_does_not_change_the_lists(blocks_of_rows):
    x = neighbours.l2_normalize(blobs(500, 10, 32, 0.5, 2))
    one_block = knn(x, 21, route="torch", device="cpu", show_progress=False)
    blocks_of_rows(500, rows=7)
    many = knn(x, 21, route="torch", device="cpu", show_progress=False)
    assert np.array_equal(one_block[0], many[0])
    # A GEMM's rounding depends on its shape: the bits may move, not the values.
    np.testing.assert_allclose(one_block[1], many[1], atol=1e-6)
    again = knn(x, 21, route="torch", device="cpu", show_progress=False)
    assert np.array_equal(many[1].view(np.uint32), again[1].view(np.uint32))


def test_lists_are_the_exact_routes_up_to_rounding():
    x = neighbours.l2_normalize(blobs(1200, 30, 64, 0.4, 5))
    idx, dist = knn(x, 31, route="torch", device="cpu", show_progress=False)
    ref_idx, ref_dist = knn(x, 31, show_progress=False)
    assert np.array_equal(idx[:, 0], np.arange(1200)) and (dist[:, 0] == 0).all()
    # Different GEMMs round differently: a near-tie may swap, the sets and values agree.
    same_rows = [set(a) == set(b) for a, b in zip(idx, ref_idx, strict=True)]
    assert np.mean(same_rows) > 0.995
    np.testing.assert_allclose(dist, ref_dist, atol=2e-6)
    assert (np.diff(dist, axis=1) >= 0).all()


@pytest.mark.parametrize("k", [1, 2, 40])
def test_list_lengths_at_the_edges(k):
    x = grid_points(40, 3, 1)  # k = N ranks every sample
    idx, dist = knn(x, k, route="torch", device="cpu", show_progress=False)
    ref_idx, ref_dist = neighbours._put_self_first(*ranked_by_distance_then_index(x, k))
    assert idx.shape == (40, k) and idx.dtype == np.int64 and dist.dtype == np.float32
    assert np.array_equal(idx, ref_idx) and np.array_equal(dist, ref_dist)
    with pytest.raises(ValueError, match="k=41"):
        knn(x, 41, route="torch", device="cpu")


def test_duplicates_keep_self_first():
    x = np.repeat(grid_points(10, 4, 3), 3, axis=0)  # each row three times
    idx, dist = knn(x, 5, route="torch", device="cpu", show_progress=False)
    assert np.array_equal(idx[:, 0], np.arange(30))
    assert (dist[:, :3] == 0).all() and (dist[:, 3:] > 0).all()


def test_full_precision_matmul_is_restored():
    saved = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        knn(grid_points(20, 3, 4), 3, route="torch", device="cpu", show_progress=False)
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(saved)


def test_default_device_is_the_gpu_when_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert neighbours.default_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert neighbours.default_device() == torch.device("cuda")


def stored_pairs(m) -> set[tuple[int, int]]:
    """The (row, column) of every stored entry, explicit zeros included."""
    coo = m.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))


@pytest.mark.parametrize("k1, k2", [(20, 6), (1, 1), (29, 30)])
def test_jaccard_distances_and_labels_match_the_exact_route(k1, k2, blocks_of_rows):
    x = blobs(900, 25, 32, 0.35, 1)
    blocks_of_rows(900, rows=100)
    got = compute_sparse_jaccard_distance(
        x, k1, k2, max_distance=0.6, knn_route="torch", knn_device="cpu"
    )
    ref = compute_sparse_jaccard_distance(x, k1, k2, max_distance=0.6)
    # Same stored pairs up to pairs at the radius, and the same distances to rounding.
    pairs, ref_pairs = (stored_pairs(m) for m in (got, ref))
    assert len(pairs & ref_pairs) >= 0.999 * max(len(pairs), len(ref_pairs))
    rows, cols = np.array(sorted(pairs & ref_pairs)).T
    np.testing.assert_allclose(got[rows, cols].A1, ref[rows, cols].A1, atol=1e-5)
    labels, ref_labels = (cluster(d, "dbscan", 0.6, 4) for d in (got, ref))
    if k1 == 20:
        assert ref_labels.max() >= 20  # structure to agree on
    assert np.array_equal(labels, ref_labels)


def test_dense_jaccard_matches_the_exact_route():
    x = blobs(300, 10, 16, 0.4, 6)
    got = compute_jaccard_distance(x, 20, 6, knn_route="torch", knn_device="cpu")
    np.testing.assert_allclose(got, compute_jaccard_distance(x, 20, 6), atol=1e-5)


@pytest.mark.parametrize("max_distance", [0.0, 0.6, 0.95])
def test_torch_sparse_jaccard_is_the_cpu_matrix_bit_for_bit(max_distance, monkeypatch):
    x = neighbours.l2_normalize(blobs(600, 30, 32, 0.4, 8))
    idx, dist = knn(x, 21, show_progress=False)
    v = k_reciprocal_encoding(idx, dist, 20, 6, features=x)
    ref = sparse_jaccard_distance(v, max_distance, show_progress=False)
    # Row blocks of a few thousand pairs: many blocks, ragged at the end.
    monkeypatch.setattr(sparse_jaccard, "_TORCH_BLOCK_PAIRS", 20000)
    got = sparse_jaccard_distance_torch(v, max_distance, device="cpu", show_progress=False)
    assert ref.nnz >= (600 if max_distance == 0 else 5 * 600)  # the diagonal, and more
    assert np.array_equal(got.indptr, ref.indptr) and np.array_equal(got.indices, ref.indices)
    assert np.array_equal(got.data.view(np.uint32), ref.data.view(np.uint32))


def test_torch_route_clusters_on_the_torch_jaccard(monkeypatch):
    calls = []
    real = sparse_jaccard.sparse_jaccard_distance_torch

    def spy(v, max_distance, **kwargs):
        calls.append(kwargs["device"])
        return real(v, max_distance, **kwargs)

    monkeypatch.setattr(jaccard, "sparse_jaccard_distance_torch", spy)
    x = blobs(200, 10, 16, 0.4, 9)
    compute_sparse_jaccard_distance(x, 10, 4, max_distance=0.5, knn_route="torch", knn_device="cpu")
    compute_sparse_jaccard_distance(x, 10, 4, max_distance=0.5)
    assert calls == ["cpu"]


def test_track_rounds_with_knn_torch_give_the_exact_routes_labels():
    from pipeline.models.dicl.pseudo_labels import PseudoLabelConfig, assign_pseudo_labels
    from pipeline.models.scl.rounds import pseudo_labels

    x = blobs(400, 16, 16, 0.3, 10)
    images = np.arange(400)
    dicl = {
        route: assign_pseudo_labels(
            x, images, PseudoLabelConfig(knn=route, k1=10, k2=4), knn_device="cpu"
        ).labels
        for route in ("exact", "torch")
    }
    assert dicl["exact"].max() >= 10 and np.array_equal(dicl["exact"], dicl["torch"])
    g, loc = torch.from_numpy(x[:, :8]), torch.from_numpy(x[:, 8:].reshape(400, 2, 4))
    scl = {
        route: pseudo_labels(
            g,
            loc,
            lambda_g=0.5,
            method="dbscan",
            knn=route,
            knn_device=torch.device("cpu"),
            k1=10,
            k2=4,
            eps=0.5,
            min_samples=4,
        )
        for route in ("exact", "torch")
    }
    assert scl["exact"].max() >= 5 and np.array_equal(scl["exact"], scl["torch"])


def encodings(x: np.ndarray, k1: int, k2: int):
    """V from the CPU encoding and from the torch one (on the CPU), on the same lists."""
    idx, dist = knn(x, max(k1 + 1, k2), show_progress=False)
    ref = k_reciprocal_encoding(idx, dist, k1, k2, features=x)
    got = k_reciprocal_encoding_torch(idx, dist, k1, k2, features=x, device="cpu")
    return got, ref


def assert_same_v(got, ref) -> None:
    """Same CSR pattern; values within 1e-6 relative, about 8 float32 ulps (exp and the row
    sums round differently: torch_encoding's docstring), most of them bit for bit."""
    assert got.dtype == np.float32 and got.has_sorted_indices
    assert np.array_equal(got.indptr, ref.indptr) and np.array_equal(got.indices, ref.indices)
    np.testing.assert_allclose(got.data, ref.data, rtol=1e-6, atol=0)
    assert np.mean(got.data == ref.data) > 0.8
    np.testing.assert_allclose(got.sum(1).A1, 1.0, atol=1e-5)


@pytest.mark.parametrize("k1, k2", [(20, 6), (1, 1), (1, 2), (2, 3), (3, 1), (29, 30), (30, 6)])
def test_torch_encoding_is_the_cpu_encoding(k1, k2, monkeypatch):
    x = neighbours.l2_normalize(blobs(700, 25, 32, 0.4, 11))
    # Blocks of 64 rows and few query-expansion terms: many blocks, ragged last ones.
    monkeypatch.setattr(torch_encoding, "_BLOCK_ROWS", 64)
    monkeypatch.setattr(torch_encoding, "_QE_TERMS", 5000)
    got, ref = encodings(x, k1, k2)
    assert ref.nnz > 700 * (1 + (k1 > 1) + (k2 > 1))  # more than self, more with expansion
    assert_same_v(got, ref)


def two_thirds_rule(idx: np.ndarray, k1: int):
    """From the CPU path's own sets: the pairs (p, q in R(p, k1)) whose half set overlaps
    R(p, k1) in exactly 2/3 of it, those over 2/3, and the size of the expanded sets if
    the exact 2/3 ones were expanded too (a >= in place of the paper's >)."""
    recip = jaccard._reciprocal(idx[:, : k1 + 1])
    half = jaccard._reciprocal(idx[:, : int(np.around(k1 / 2.0)) + 1])
    shared = (recip @ half.T).multiply(recip).tocsr()
    shared.eliminate_zeros()
    sizes = np.diff(half.indptr)[shared.indices]
    at, over = 3 * shared.data == 2 * sizes, 3 * shared.data > 2 * sizes
    loose = shared.copy()
    loose.data = (at | over).astype(np.float64)
    loose.eliminate_zeros()
    return int(at.sum()), int(over.sum()), (recip + loose @ half).nnz


def test_expansion_at_exactly_two_thirds_is_the_cpu_rule():
    # Integer grid points: many tied distances and half sets of 3 or 6 members, so
    # overlaps of exactly 2/3 (not expanded: the rule is a strict >) occur by the dozen.
    x = grid_points(400, 4, 12)
    k1 = 6
    idx, dist = knn(x, k1 + 1, show_progress=False)
    at, over, loose_nnz = two_thirds_rule(idx, k1)
    assert at >= 100 and over >= 1000
    for k2 in (1, 3):
        ref = k_reciprocal_encoding(idx, dist, k1, k2, features=x)
        got = k_reciprocal_encoding_torch(idx, dist, k1, k2, features=x, device="cpu")
        assert_same_v(got, ref)
        if k2 == 1:  # V's pattern is the expanded sets: a >= would show
            assert loose_nnz > got.nnz


def test_torch_encoding_measures_members_outside_the_lists():
    x = neighbours.l2_normalize(blobs(500, 20, 16, 0.4, 13))
    idx, dist = knn(x, 21, show_progress=False)
    with pytest.raises(ValueError, match="outside the kNN lists"):
        k_reciprocal_encoding_torch(idx, dist, 20, 6, device="cpu")
    got = k_reciprocal_encoding_torch(idx, dist, 20, 6, features=x, device="cpu")
    assert_same_v(got, k_reciprocal_encoding(idx, dist, 20, 6, features=x))


@pytest.mark.parametrize(
    "k1, k2, message", [(0, 1, "k1=0"), (20, 1, "k1=20"), (5, 0, "k2=0"), (5, 21, "k2=21")]
)
def test_torch_encoding_refuses_what_the_cpu_refuses(k1, k2, message):
    x = neighbours.l2_normalize(blobs(100, 5, 8, 0.4, 14))
    idx, dist = knn(x, 20, show_progress=False)
    for encode in (k_reciprocal_encoding, k_reciprocal_encoding_torch):
        with pytest.raises(ValueError, match=message):
            encode(idx, dist, k1, k2, features=x)
    with pytest.raises(ValueError, match="self first"):
        k_reciprocal_encoding_torch(idx[::-1], dist, 5, 2, features=x, device="cpu")


def test_torch_route_encodes_with_torch(monkeypatch):
    calls = []
    real = torch_encoding.k_reciprocal_encoding_torch

    def spy(*args, **kwargs):
        calls.append(kwargs["device"])
        return real(*args, **kwargs)

    monkeypatch.setattr(torch_encoding, "k_reciprocal_encoding_torch", spy)
    x = blobs(200, 10, 16, 0.4, 9)
    compute_sparse_jaccard_distance(x, 10, 4, max_distance=0.5, knn_route="torch", knn_device="cpu")
    compute_sparse_jaccard_distance(x, 10, 4, max_distance=0.5)
    assert calls == ["cpu"]
