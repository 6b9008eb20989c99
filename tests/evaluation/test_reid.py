"""Market-1501 protocol (pipeline.evaluation.reid): hand-worked cases and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.evaluation.reid import (
    evaluate_rank,
    headline_metrics,
    iter_distance_chunks,
    top_k_matches,
)


def loop_reference(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    """One query at a time, the protocol as written (stable sort), for comparison."""
    max_rank = min(max_rank, distmat.shape[1])
    cmcs, aps, inps = [], [], []
    for q in range(distmat.shape[0]):
        order = np.argsort(distmat[q], kind="stable")
        keep = ~((g_pids[order] == q_pids[q]) & (g_camids[order] == q_camids[q]))
        hits = (g_pids[order][keep] == q_pids[q]).astype(np.float64)
        if not hits.any():
            continue
        found = np.cumsum(hits)
        positions = np.flatnonzero(hits)
        aps.append(np.mean(found[positions] / (positions + 1.0)))
        inps.append(found[-1] / (positions[-1] + 1.0))
        cmc = np.minimum(found, 1.0)
        cmcs.append(np.concatenate([cmc, np.ones(max_rank)])[:max_rank])
    return np.mean(cmcs, axis=0), float(np.mean(aps)), float(np.mean(inps)), len(aps)


# Query 0 (id 1, cam 0): kept ranking 0 (id 2), 2 (id 1), 3 (id 3), 4 (id 1), 5 (id 0);
# gallery 1 (id 1, cam 0) is removed. Hits at ranks 2 and 4: AP = (1/2 + 2/4) / 2 = 0.5.
# Query 1 (id 2, cam 0): its only match ranks 6th: AP = INP = 1/6.
# Query 2 (id 9) has no match; query 3 (id 3, cam 1) only a same-camera one: both skipped.
HAND_DIST = np.array(
    [
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        [0.5, 0.1, 0.2, 0.3, 0.4, 0.05],
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    ]
)
HAND_Q_PIDS = np.array([1, 2, 9, 3])
HAND_Q_CAMS = np.array([0, 0, 0, 1])
HAND_G_PIDS = np.array([2, 1, 1, 3, 1, 0])
HAND_G_CAMS = np.array([1, 0, 1, 1, 2, 1])


def test_hand_worked_example():
    out = evaluate_rank(
        HAND_DIST, HAND_Q_PIDS, HAND_G_PIDS, HAND_Q_CAMS, HAND_G_CAMS, max_rank=6, per_query=True
    )
    assert out["num_valid_queries"] == 2
    assert out["mAP"] == pytest.approx((0.5 + 1 / 6) / 2, abs=1e-12)
    assert out["mINP"] == pytest.approx((2 / 4 + 1 / 6) / 2, abs=1e-12)
    np.testing.assert_allclose(out["cmc"], [0.0, 0.5, 0.5, 0.5, 0.5, 1.0])
    np.testing.assert_array_equal(out["first_match_rank"], [1, 5, -1, -1])
    assert np.isnan(out["ap"][2]) and np.isnan(out["ap"][3])


def test_max_rank_shrinks_to_gallery_size_and_headline_keys():
    out = evaluate_rank(HAND_DIST, HAND_Q_PIDS, HAND_G_PIDS, HAND_Q_CAMS, HAND_G_CAMS)
    assert out["cmc"].shape == (6,)
    flat = headline_metrics(out, ranks=(1, 5, 10), prefix="init_")
    assert flat == {
        "init_mAP": pytest.approx(1 / 3),
        "init_mINP": pytest.approx(1 / 3),
        "init_rank1": 0.0,
        "init_rank5": 0.5,
        "init_rank10": 1.0,
    }


def test_top_k_matches_follow_the_protocol():
    ranked, correct = top_k_matches(
        HAND_DIST[:2], HAND_Q_PIDS[:2], HAND_Q_CAMS[:2], HAND_G_PIDS, HAND_G_CAMS, k=6
    )
    # Query 0 loses gallery 1 (same id and camera): 5 results, the last slot empty.
    np.testing.assert_array_equal(ranked, [[0, 2, 3, 4, 5, -1], [5, 1, 2, 3, 4, 0]])
    np.testing.assert_array_equal(correct[0], [False, True, False, True, False, False])
    np.testing.assert_array_equal(correct[1], [False] * 5 + [True])


def test_ties_rank_lower_gallery_index_first():
    g_pids = np.array([2, 1, 3])
    g_cams = np.array([1, 1, 1])
    flat = np.array([[0.5, 0.5, 0.5]])
    out = evaluate_rank(flat, np.array([1]), g_pids, np.array([0]), g_cams, max_rank=3)
    assert out["mAP"] == pytest.approx(0.5)  # the match (index 1) ranks 2nd
    np.testing.assert_allclose(out["cmc"], [0.0, 1.0, 1.0])
    out = evaluate_rank(flat, np.array([2]), g_pids, np.array([0]), g_cams, max_rank=3)
    assert out["mAP"] == 1.0  # index 0 wins the tie


def test_removed_item_tied_with_match_does_not_count():
    # Gallery 0 (same id, same camera) ties with the match at index 2 and is removed.
    dist = np.array([[0.3, 0.1, 0.3]])
    out = evaluate_rank(dist, [1], [1, 5, 1], [0], [0, 1, 1], max_rank=2, per_query=True)
    assert out["first_match_rank"][0] == 1
    assert out["mAP"] == pytest.approx(0.5)


def test_many_matches_take_the_sorting_path():
    rng = np.random.default_rng(3)
    g_pids = np.concatenate([np.full(150, 7), rng.integers(0, 5, 300)])
    g_cams = rng.integers(0, 3, g_pids.size)
    q_pids, q_cams = np.array([7, 7, 1]), np.array([0, 1, 2])
    dist = rng.integers(0, 6, (3, g_pids.size)).astype(np.float32)  # many ties
    out = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams)
    cmc, m_ap, m_inp, n = loop_reference(dist, q_pids, g_pids, q_cams, g_cams)
    assert out["num_valid_queries"] == n
    assert out["mAP"] == pytest.approx(m_ap, abs=1e-12)
    assert out["mINP"] == pytest.approx(m_inp, abs=1e-12)
    np.testing.assert_allclose(out["cmc"], cmc, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_matches_per_query_loop_on_random_data(seed):
    rng = np.random.default_rng(seed)
    nq, ng, ids = 40, 300, 25
    q_pids, g_pids = rng.integers(0, ids, nq), rng.integers(0, ids, ng)
    q_cams, g_cams = rng.integers(0, 4, nq), rng.integers(0, 4, ng)
    if seed % 2:
        dist = rng.integers(0, 10, (nq, ng)).astype(np.float64)  # ties everywhere
    else:
        dist = rng.random((nq, ng)).astype(np.float32)
    out = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=20, chunk_size=7)
    cmc, m_ap, m_inp, n = loop_reference(dist, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    assert out["num_valid_queries"] == n
    assert out["mAP"] == pytest.approx(m_ap, abs=1e-12)
    assert out["mINP"] == pytest.approx(m_inp, abs=1e-12)
    np.testing.assert_allclose(out["cmc"], cmc, atol=1e-12)


def test_string_ids_and_row_chunks_from_features():
    rng = np.random.default_rng(0)
    qf, gf = rng.standard_normal((30, 8)), rng.standard_normal((90, 8))
    q_pids = np.array([f"p{i % 10}" for i in range(30)])
    g_pids = np.array([f"p{i % 12}" for i in range(90)])
    q_cams, g_cams = np.zeros(30, int), np.arange(90) % 3
    dense = np.sqrt(((qf[:, None] - gf[None]) ** 2).sum(-1))
    a = evaluate_rank(dense, q_pids, g_pids, q_cams, g_cams)
    b = evaluate_rank(iter_distance_chunks(qf, gf, chunk_size=4), q_pids, g_pids, q_cams, g_cams)
    assert a["mAP"] == pytest.approx(b["mAP"], abs=1e-6)
    np.testing.assert_allclose(a["cmc"], b["cmc"])


def test_cosine_and_squared_metrics():
    q = np.array([[1.0, 0.0]])
    g = np.array([[2.0, 0.0], [0.0, 1.0]])
    (cos,) = iter_distance_chunks(q, g, metric="cosine")
    np.testing.assert_allclose(cos, [[0.0, 1.0]], atol=1e-7)
    (sq,) = iter_distance_chunks(q, g, metric="sqeuclidean")
    np.testing.assert_allclose(sq, [[1.0, 2.0]], atol=1e-6)
    with pytest.raises(ValueError, match="metric"):
        next(iter_distance_chunks(q, g, metric="manhattan"))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"distmat: expected shape \(4, 6\)"):
        evaluate_rank(HAND_DIST[:, :5], HAND_Q_PIDS, HAND_G_PIDS, HAND_Q_CAMS, HAND_G_CAMS)
    with pytest.raises(ValueError, match="q_camids"):
        evaluate_rank(HAND_DIST, HAND_Q_PIDS, HAND_G_PIDS, HAND_Q_CAMS[:2], HAND_G_CAMS)
    bad = HAND_DIST.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluate_rank(bad, HAND_Q_PIDS, HAND_G_PIDS, HAND_Q_CAMS, HAND_G_CAMS)
    with pytest.raises(ValueError, match="no query has a correct match"):
        evaluate_rank(HAND_DIST[2:], HAND_Q_PIDS[2:], HAND_G_PIDS, HAND_Q_CAMS[2:], HAND_G_CAMS)
    with pytest.raises(ValueError, match="received 2 query rows"):
        evaluate_rank(iter([HAND_DIST[:2]]), HAND_Q_PIDS, HAND_G_PIDS, HAND_Q_CAMS, HAND_G_CAMS)


@st.composite
def rankings(draw):
    nq = draw(st.integers(1, 6))
    ng = draw(st.integers(1, 25))
    ids = draw(st.integers(1, 5))
    q_pids = np.array(draw(st.lists(st.integers(0, ids), min_size=nq, max_size=nq)))
    g_pids = np.array(draw(st.lists(st.integers(0, ids), min_size=ng, max_size=ng)))
    q_cams = np.array(draw(st.lists(st.integers(0, 2), min_size=nq, max_size=nq)))
    g_cams = np.array(draw(st.lists(st.integers(0, 2), min_size=ng, max_size=ng)))
    # Distinct distances: a permutation of 0..nq*ng-1 (no ties).
    perm = np.array(draw(st.permutations(range(nq * ng)))).reshape(nq, ng).astype(float)
    return perm, q_pids, g_pids, q_cams, g_cams


def _valid(q_pids, g_pids, q_cams, g_cams):
    return any(((g_pids == p) & (g_cams != c)).any() for p, c in zip(q_pids, q_cams, strict=True))


@settings(max_examples=60, deadline=None)
@given(rankings(), st.randoms(use_true_random=False))
def test_properties(case, rnd):
    dist, q_pids, g_pids, q_cams, g_cams = case
    if not _valid(q_pids, g_pids, q_cams, g_cams):
        return
    out = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=10)
    cmc = out["cmc"]
    assert np.all(np.diff(cmc) >= 0) and 0.0 <= cmc[0] and cmc[-1] <= 1.0 + 1e-12
    assert 0.0 < out["mINP"] <= 1.0 and 0.0 < out["mAP"] <= 1.0
    # Permuting the gallery (no ties) changes nothing.
    perm = list(range(len(g_pids)))
    rnd.shuffle(perm)
    again = evaluate_rank(dist[:, perm], q_pids, g_pids[perm], q_cams, g_cams[perm], max_rank=10)
    assert again["mAP"] == pytest.approx(out["mAP"], abs=1e-12)
    np.testing.assert_allclose(again["cmc"], cmc)
    # Ranking every kept match first gives a perfect score.
    perfect = dist + 1000.0 * (g_pids[None, :] != q_pids[:, None])
    best = evaluate_rank(perfect, q_pids, g_pids, q_cams, g_cams, max_rank=10)
    assert best["mAP"] == pytest.approx(1.0) and best["mINP"] == pytest.approx(1.0)
    np.testing.assert_allclose(best["cmc"], 1.0)
