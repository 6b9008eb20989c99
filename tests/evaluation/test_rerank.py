"""k-reciprocal re-ranking (pipeline.evaluation.rerank) against a dense loop."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.evaluation.reid import evaluate_rank
from pipeline.evaluation.rerank import re_ranking


def dense_reference(q_g, q_q, g_g, k1, k2, lam):
    """Zhong et al.'s algorithm written out with dense matrices and loops."""
    nq = q_g.shape[0]
    dist = np.block([[q_q, q_g], [q_g.T, g_g]]).astype(np.float64) ** 2
    dist = dist / dist.max(axis=1, keepdims=True)
    n = dist.shape[0]
    ranked = np.argsort(dist, axis=1, kind="stable")

    def reciprocal(i, k):
        return np.array([j for j in ranked[i, : k + 1] if i in ranked[j, : k + 1]])

    v = np.zeros((n, n))
    for i in range(n):
        core = reciprocal(i, k1)
        members = list(core)
        for c in core:
            half = reciprocal(c, int(np.around(k1 / 2)))
            if len(np.intersect1d(half, core)) > 2 / 3 * len(half):
                members += list(half)
        members = np.unique(members)
        w = np.exp(-dist[i, members])
        v[i, members] = w / w.sum()
    if k2 > 1:
        v = np.stack([v[ranked[i, :k2]].mean(axis=0) for i in range(n)])
    jac = np.zeros((nq, n - nq))
    for i in range(nq):
        for j in range(nq, n):
            shared = np.minimum(v[i], v[j]).sum()
            jac[i, j - nq] = 1 - shared / (2 - shared)
    return jac * (1 - lam) + dist[:nq, nq:] * lam


def _euclidean(x):
    return np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))


@pytest.mark.parametrize("seed", range(3))
def test_matches_dense_reference(seed):
    rng = np.random.default_rng(seed)
    nq, ng = 6, 30
    d = _euclidean(rng.standard_normal((nq + ng, 5)))
    q_g, q_q, g_g = d[:nq, nq:], d[:nq, :nq], d[nq:, nq:]
    for k1, k2 in ((5, 3), (8, 1)):
        got = re_ranking(q_g, q_q, g_g, k1, k2, 0.3)
        np.testing.assert_allclose(got, dense_reference(q_g, q_q, g_g, k1, k2, 0.3), atol=1e-6)


def test_squared_inputs_and_lambda_one():
    rng = np.random.default_rng(5)
    d = _euclidean(rng.standard_normal((20, 4)))
    q_g, q_q, g_g = d[:4, 4:], d[:4, :4], d[4:, 4:]
    a = re_ranking(q_g, q_q, g_g, 4, 2)
    b = re_ranking(q_g**2, q_q**2, g_g**2, 4, 2, squared=True)
    np.testing.assert_allclose(a, b, atol=1e-6)
    # lambda = 1 keeps only the normalised original distance: each row over its max.
    sq = np.block([[q_q, q_g], [q_g.T, g_g]]) ** 2
    only = re_ranking(q_g, q_q, g_g, 4, 2, lambda_value=1.0)
    np.testing.assert_allclose(only, (sq / sq.max(axis=1, keepdims=True))[:4, 4:], atol=1e-6)


def test_reranking_helps_on_clustered_identities():
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(12), 6)
    x = rng.standard_normal((12, 16))[ids] + 0.9 * rng.standard_normal((ids.size, 16))
    q = np.arange(0, ids.size, 6)  # one query per identity, the rest gallery
    g = np.setdiff1d(np.arange(ids.size), q)
    d = _euclidean(x)
    q_g, q_q, g_g = d[np.ix_(q, g)], d[np.ix_(q, q)], d[np.ix_(g, g)]
    cams_q, cams_g = np.zeros(q.size), np.ones(g.size)
    before = evaluate_rank(q_g, ids[q], ids[g], cams_q, cams_g)["mAP"]
    after = evaluate_rank(re_ranking(q_g, q_q, g_g, 6, 3), ids[q], ids[g], cams_q, cams_g)["mAP"]
    assert after > before


def test_bad_inputs():
    d = np.ones((3, 3))
    with pytest.raises(ValueError, match=r"q_q_dist: expected shape \(3, 3\)"):
        re_ranking(d, np.ones((2, 2)), d)
    with pytest.raises(ValueError, match="k1=20"):
        re_ranking(d, d, d)
    with pytest.raises(ValueError, match="must be >= 0"):
        re_ranking(-d, d, d, 2, 1)
