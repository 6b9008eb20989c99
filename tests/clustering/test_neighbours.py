"""Neighbour-search routes: the chunked exact search, the int8 route and the approximate IVF."""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path

import faiss
import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from pipeline.clustering import neighbours
from pipeline.clustering.jaccard import compute_sparse_jaccard_distance
from pipeline.clustering.neighbours import KNN_ROUTES, knn
from pipeline.clustering.pseudo_labels import cluster
from pipeline.models.dicl.settings import PseudoLabelSettings
from pipeline.models.scl.settings import ClusteringSettings
from tests.real_config import real_params

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"


def blobs(n: int, n_ids: int, dim: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim))
    x = centres[rng.integers(0, n_ids, n)] + noise * rng.normal(size=(n, dim))
    return x.astype(np.float32)


@pytest.fixture()
def small_blas_blocks(monkeypatch):
    """faiss's BLAS path from 100 rows of 16-d on, in 256-row query blocks (then restored)."""
    saved = faiss.cvar.distance_compute_blas_threshold, faiss.cvar.distance_compute_blas_query_bs
    faiss.cvar.distance_compute_blas_threshold = 1600
    faiss.cvar.distance_compute_blas_query_bs = 256
    monkeypatch.setattr(neighbours, "_SEARCH_ROWS", 512)
    yield
    faiss.cvar.distance_compute_blas_threshold, faiss.cvar.distance_compute_blas_query_bs = saved


def test_chunked_exact_search_is_one_faiss_call_bit_for_bit(small_blas_blocks):
    x = blobs(2 * 512 + 50, 20, 16, 0.5, 0)  # a 50-row tail would leave BLAS on its own
    assert neighbours._chunks(x.shape[0], 16) == [(0, 512), (512, 1074)]
    assert neighbours._chunks(90, 16) == [(0, 90)]
    flat = faiss.IndexFlatL2(16)
    flat.add(x)
    dist, idx = flat.search(x, 9)
    got_idx, got_dist = knn(x, 9)
    expected_idx, expected_dist = neighbours._put_self_first(idx, np.maximum(dist, 0.0))
    assert np.array_equal(got_idx, expected_idx)
    assert np.array_equal(got_dist.view(np.uint32), expected_dist.view(np.uint32))


@pytest.mark.parametrize("route", ["int8", "ivf"])
def test_route_gives_the_exact_routes_labels(route):
    x = blobs(1500, 40, 32, 0.35, 1)
    labels = {
        r: cluster(
            compute_sparse_jaccard_distance(x, 20, 6, max_distance=0.6, knn_route=r),
            "dbscan",
            0.6,
            4,
        )
        for r in ("exact", route)
    }
    assert labels["exact"].max() >= 30  # the problem has structure to agree on
    assert adjusted_rand_score(labels["exact"], labels[route]) >= 0.99


def same_lists(got, expected, atol=1e-5):
    """Equal neighbour sets per row and distances within atol (near-ties may swap ranks)."""
    (idx, dist), (ref_idx, ref_dist) = got, expected
    assert np.array_equal(idx[:, 0], np.arange(len(idx)))
    assert all(set(a) == set(b) for a, b in zip(idx, ref_idx, strict=True))
    np.testing.assert_allclose(dist, ref_dist, atol=atol)


@pytest.fixture()
def small_int8_blocks(monkeypatch):
    """int8 Gram blocks of 64 rows: several block pairs and a ragged last block."""
    monkeypatch.setattr(neighbours, "_INT8_BLOCK", 64)


def test_int8_lists_are_the_exact_lists(small_int8_blocks):
    x = neighbours.l2_normalize(blobs(300, 12, 24, 0.6, 3))
    got = knn(x, 11, route="int8")
    same_lists(got, knn(x, 11))
    again = knn(x, 11, route="int8")
    assert np.array_equal(got[0], again[0]) and np.array_equal(got[1], again[1])


def test_int8_ranks_unnormalised_rows_by_distance(small_int8_blocks):
    x = blobs(300, 12, 24, 0.6, 4) * np.linspace(0.5, 3.0, 300, dtype=np.float32)[:, None]
    same_lists(knn(x, 9, route="int8"), knn(x, 9), atol=1e-4)


def test_int8_rows_it_cannot_prove_are_searched_exactly(small_int8_blocks, monkeypatch):
    x = neighbours.l2_normalize(blobs(300, 12, 24, 0.6, 5))
    searched = []
    exact_search = faiss.knn

    def spy(xq, xb, k):
        searched.append(len(xq))
        return exact_search(xq, xb, k)

    monkeypatch.setattr(neighbours.faiss, "knn", spy)
    same_lists(knn(x, 9, route="int8"), knn(x, 9))
    # Well separated: (nearly) every row proved; at 7 bits (pinned kernels) a few are not.
    assert sum(searched) <= (0 if neighbours._int8_limit() == 127 else 30)
    searched.clear()
    monkeypatch.setattr(neighbours, "_INT8_SIGMAS", 1e6)  # no row can be proved
    same_lists(knn(x, 9, route="int8"), knn(x, 9))
    assert searched == [300]


def test_int8_list_as_long_as_the_data():
    x = blobs(20, 3, 8, 0.5, 6)
    same_lists(knn(x, 20, route="int8"), knn(x, 20), atol=1e-4)


def test_ivf_lists_are_ranked_self_first_and_deterministic():
    x = blobs(900, 12, 24, 0.6, 2)
    idx, dist = knn(x, 11, route="ivf")
    again = knn(x, 11, route="ivf")
    assert np.array_equal(idx, again[0]) and np.array_equal(dist, again[1])
    assert np.array_equal(idx[:, 0], np.arange(900)) and (np.diff(dist, axis=1) >= 0).all()
    exact, _ = knn(x, 11)
    recall = np.mean([len(set(a) & set(b)) / 11 for a, b in zip(idx, exact, strict=True)])
    assert recall > 0.9


def test_unknown_route_is_named():
    with pytest.raises(ValueError, match="knn='hnsw'"):
        knn(np.eye(4, dtype=np.float32), 2, route="hnsw")


@pytest.mark.parametrize("settings", [ClusteringSettings, PseudoLabelSettings])
def test_settings_offer_the_library_routes(settings):
    assert typing.get_args(settings.model_fields["knn"].annotation) == KNN_ROUTES


def test_every_dataset_option_searches_exactly_on_its_device():
    # The default lists are the exact ones (faiss on a CPU, torch on a GPU); int8 and ivf
    # are opt-in (-S ...knn=int8).
    for track, section in (("scl", "clustering"), ("dicl", "pseudo_labels")):
        for option in sorted(p.stem for p in (CONF / track / "dataset").glob("*.yaml")):
            params = real_params(f"{track}/dataset={option}")
            assert params[track][section]["knn"] == "auto", (track, option)


def test_auto_route_is_torch_on_a_gpu_and_exact_elsewhere():
    assert neighbours.concrete_route("auto", "cpu") == "exact"
    assert neighbours.concrete_route("auto", torch.device("cuda", 1)) == "torch"
    assert neighbours.concrete_route("auto", "cuda") == "torch"
    assert neighbours.concrete_route("ivf", "cuda") == "ivf"  # an explicit route stays
    with pytest.raises(ValueError, match="knn='flat': must be one of auto, exact"):
        neighbours.concrete_route("flat", "cpu")
    # auto on the CPU gives exact's lists.
    x = neighbours.l2_normalize(blobs(60, 4, 8, 0.6, 3))
    auto, exact = neighbours.knn(x, 7, route="auto", device="cpu"), neighbours.knn(x, 7)
    np.testing.assert_array_equal(auto[0], exact[0])


def test_int8_lists_hold_under_the_stages_pinned_kernels():
    # Every stage pins AVX2 kernels (stages/__init__.py), under which torch's int8 matmul
    # saturates 8-bit products: the route must notice (its search then runs in an uncapped
    # child, or at 7 bits where the CPU has no exact 8-bit kernels at all).
    root = REPO
    probe = (
        "import stages, numpy as np\n"
        "from tests.clustering.test_neighbours import blobs\n"
        "from pipeline.clustering import neighbours\n"
        "x = neighbours.l2_normalize(blobs(300, 12, 24, 0.6, 5))\n"
        "(a, _), (b, _) = neighbours.knn(x, 9, route='int8'), neighbours.knn(x, 9)\n"
        "print(sum(set(p) != set(q) for p, q in zip(a, b)), neighbours._int8_limit())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    differing, limit = out.stdout.split()
    assert differing == "0"
    assert limit in ("63", "127")  # 63: this process is capped (the search itself ran uncapped)


def _uncapped_int8_limit() -> int:
    """``_int8_limit`` of a fresh process without oneDNN's cap (this worker may be pinned)."""
    env = {k: v for k, v in os.environ.items() if k != neighbours.ONEDNN_CAP}
    env["PYTHONPATH"] = str(REPO)
    probe = "from pipeline.clustering.neighbours import _int8_limit; print(_int8_limit())"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    return int(out.stdout.split()[-1])


def test_capped_kernels_search_in_an_uncapped_child(small_int8_blocks, monkeypatch):
    # Under the stages' oneDNN cap this process would have to quantise to 7 bits; the
    # 8-bit search goes to a child without the cap and returns exact int32 scores.
    if _uncapped_int8_limit() < 127:
        pytest.skip("this CPU's own int8 kernels cannot sum 8-bit products exactly")
    x = neighbours.l2_normalize(blobs(300, 12, 24, 0.6, 7))
    sq = np.einsum("ij,ij->i", x, x)
    children = []
    search_in_child = neighbours._int8_search_uncapped

    def spy(*args):
        found = search_in_child(*args)
        children.append(found is not None)
        return found

    monkeypatch.setenv(neighbours.ONEDNN_CAP, "AVX2")
    monkeypatch.setattr(neighbours, "_int8_limit", lambda: 63)
    monkeypatch.setattr(neighbours, "_int8_search_uncapped", spy)
    vals, ids, scale, shift = neighbours._int8_candidates(x, sq, 18, False)
    assert children == [True]
    q, h, want_scale, want_shift = neighbours._int8_quantize(x, sq, 127)
    assert (scale, shift, h) == (want_scale, want_shift, None)  # 8 bits, unit rows
    gram = q.astype(np.int64) @ q.T.astype(np.int64)  # exact, whatever the kernels
    assert np.array_equal(vals, -np.sort(-gram, axis=1)[:, :18])
    assert np.array_equal(np.take_along_axis(gram, ids, axis=1), vals)


def test_capped_kernels_without_a_child_search_here_at_7_bits(small_int8_blocks, monkeypatch):
    x = neighbours.l2_normalize(blobs(300, 12, 24, 0.6, 8))
    monkeypatch.setenv(neighbours.ONEDNN_CAP, "AVX2")
    monkeypatch.setattr(neighbours, "_int8_limit", lambda: 63)
    monkeypatch.setattr(neighbours, "_int8_search_uncapped", lambda *args: None)
    _, _, scale, _ = neighbours._int8_candidates(x, np.einsum("ij,ij->i", x, x), 18, False)
    assert scale == pytest.approx(63 / float(np.abs(x).max()))
    same_lists(knn(x, 9, route="int8"), knn(x, 9))
