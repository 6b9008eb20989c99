"""SYSU-MM01 and RegDB protocols (pipeline.evaluation.cross_modality)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pipeline.evaluation import cross_modality as cm
from pipeline.evaluation.cross_modality import (
    evaluate_regdb,
    evaluate_sysu_mm01,
    evaluate_sysu_mm01_trial,
    flat_metrics,
    sysu_mm01_gallery,
)
from pipeline.evaluation.reid import evaluate_rank

# Gallery: 0 (id 2, cam 2), 1 (id 1, cam 2), 2 (id 2, cam 1), 3 (id 1, cam 1), 4 (id 3, cam 4).
G_PIDS = np.array([2, 1, 2, 1, 3])
G_CAMS = np.array([2, 2, 1, 1, 4])
# Probe 0 (id 1, cam 3) drops ALL of camera 2 (ids 2 and 1): kept 2 (id 2), 3 (hit), 4:
# AP 1/2, INP 1/2, first identity-level rank 2.
# Probe 1 (id 1, cam 6) keeps everything: order 0 (id 2), 2 (id 2), 1 (hit), 3 (hit), 4:
# AP (1/3 + 2/4) / 2, INP 2/4, but identity 2 counts once, so the CMC's first hit is rank 2.
DIST = np.array([[0.1, 0.2, 0.3, 0.4, 0.5], [0.1, 0.3, 0.2, 0.4, 0.5]])
Q_PIDS = np.array([1, 1])
Q_CAMS = np.array([3, 6])


def test_sysu_trial_hand_worked():
    out = evaluate_sysu_mm01_trial(DIST, Q_PIDS, Q_CAMS, G_PIDS, G_CAMS, max_rank=3)
    assert out["mAP"] == pytest.approx((0.5 + (1 / 3 + 2 / 4) / 2) / 2)
    assert out["mINP"] == pytest.approx(0.5)
    np.testing.assert_allclose(out["cmc"], [0.0, 1.0, 1.0])
    # The standard CMC would put probe 1's first hit at rank 3.
    std = evaluate_rank(DIST[1:], Q_PIDS[1:], G_PIDS, Q_CAMS[1:], G_CAMS, max_rank=3)
    np.testing.assert_allclose(std["cmc"], [0.0, 0.0, 1.0])


def test_cam3_rule_drops_other_identities_of_cam2():
    # Probe 0 of id 1 from cam 3: gallery 0 (id 2, cam 2) would rank first if only
    # same-identity cam-2 images were dropped; the official rule drops it too.
    out = evaluate_sysu_mm01_trial(DIST[:1], Q_PIDS[:1], Q_CAMS[:1], G_PIDS, G_CAMS)
    assert out["mAP"] == pytest.approx(0.5)  # hit ranks 2nd after gallery 2, not 3rd


def sysu_loop_reference(dist, q_pids, q_cams, g_pids, g_cams, max_rank):
    """eval_sysu's rules written out query by query (stable sort)."""
    cmcs, aps, inps = [], [], []
    for q in range(dist.shape[0]):
        order = np.argsort(dist[q], kind="stable")
        keep = ~((q_cams[q] == 3) & (g_cams[order] == 2))
        labels = g_pids[order][keep]
        hits = labels == q_pids[q]
        if not hits.any():
            continue
        _, first = np.unique(labels, return_index=True)
        distinct = labels[np.sort(first)]
        cmc = np.cumsum(distinct == q_pids[q])
        cmcs.append(np.concatenate([cmc, np.ones(max_rank)])[:max_rank])
        where = np.flatnonzero(hits)
        aps.append(np.mean(np.arange(1, where.size + 1) / (where + 1.0)))
        inps.append(where.size / (where[-1] + 1.0))
    return np.mean(cmcs, axis=0), np.mean(aps), np.mean(inps)


@pytest.mark.parametrize("seed", range(4))
def test_sysu_trial_matches_loop_on_random_data(seed):
    rng = np.random.default_rng(seed)
    q_pids, q_cams = rng.integers(0, 8, 30), rng.choice([3, 6], 30)
    g_pids, g_cams = rng.integers(0, 8, 60), rng.choice([1, 2, 4, 5], 60)
    dist = rng.integers(0, 7, (30, 60)).astype(float)  # many ties
    out = evaluate_sysu_mm01_trial(dist, q_pids, q_cams, g_pids, g_cams, max_rank=20)
    cmc, m_ap, m_inp = sysu_loop_reference(dist, q_pids, q_cams, g_pids, g_cams, 20)
    np.testing.assert_allclose(out["cmc"], cmc, atol=1e-12)
    assert out["mAP"] == pytest.approx(m_ap, abs=1e-12)
    assert out["mINP"] == pytest.approx(m_inp, abs=1e-12)


def dclnet_reference_gallery(names, trial, cameras):
    """DCLNet's process_gallery_sysu loop on a name list (paths camX/PPPP/NNNN)."""
    rng = random.Random(trial)
    ids = sorted({n.split("/")[1] for n in names})
    files = []
    for pid in ids:
        for cam in cameras:
            in_dir = sorted(n for n in names if n.startswith(f"cam{cam}/{pid}/"))
            if in_dir:
                files.append(rng.choice(in_dir))
    return sorted(files)


def _sysu_candidates(rng, most=13):
    names, pids, cams = [], [], []
    for pid in (3, 12, 40):
        for cam in (1, 2, 4, 5):
            for n in range(int(rng.integers(0, most))):
                names.append(f"cam{cam}/{pid:04d}/{n + 1:04d}.jpg")
                pids.append(pid)
                cams.append(cam)
    order = rng.permutation(len(names))  # the caller's order must not matter
    return np.array(names)[order], np.array(pids)[order], np.array(cams)[order]


@pytest.mark.parametrize("mode", ["all", "indoor"])
def test_single_shot_gallery_equals_dclnet_draws(mode):
    names, pids, cams = _sysu_candidates(np.random.default_rng(1))
    cameras = (1, 2, 4, 5) if mode == "all" else (1, 2)
    for trial in range(3):
        picked = sysu_mm01_gallery(pids, cams, names, mode=mode, seed=trial)
        assert names[picked].tolist() == dclnet_reference_gallery(names.tolist(), trial, cameras)


def test_multi_shot_gallery():
    names, pids, cams = _sysu_candidates(np.random.default_rng(2), most=25)
    picked = sysu_mm01_gallery(pids, cams, names, num_shots=10, seed=5)
    for pid in np.unique(pids):
        for cam in (1, 2, 4, 5):
            available = np.count_nonzero((pids == pid) & (cams == cam))
            chosen = np.count_nonzero((pids[picked] == pid) & (cams[picked] == cam))
            assert chosen == min(10, available)
    assert np.array_equal(picked, sysu_mm01_gallery(pids, cams, names, num_shots=10, seed=5))
    assert not np.array_equal(picked, sysu_mm01_gallery(pids, cams, names, num_shots=10, seed=6))


def test_evaluate_sysu_mm01_trials_mean_and_std():
    rng = np.random.default_rng(0)
    names, g_pids, g_cams = _sysu_candidates(rng)
    q_pids = np.repeat([3, 12, 40], 4)
    q_cams = np.tile([3, 6], 6)
    dist = rng.random((q_pids.size, g_pids.size))
    out = evaluate_sysu_mm01(dist, q_pids, q_cams, g_pids, g_cams, names, num_trials=4, seed=7)
    assert out["num_runs"] == 4
    per_trial = []
    for i, trial in enumerate(out["trials"]):
        gallery = sysu_mm01_gallery(g_pids, g_cams, names, seed=7 + i)
        np.testing.assert_array_equal(trial["gallery"], gallery)
        again = evaluate_sysu_mm01_trial(
            dist[:, gallery], q_pids, q_cams, g_pids[gallery], g_cams[gallery]
        )
        per_trial.append(again["mAP"])
    assert out["mAP"] == pytest.approx(np.mean(per_trial))
    assert out["mAP_std"] == pytest.approx(np.std(per_trial))
    assert out["rank1"] == pytest.approx(np.mean([t["cmc"][0] for t in out["trials"]]))
    indoor = evaluate_sysu_mm01(dist, q_pids, q_cams, g_pids, g_cams, names, mode="indoor")
    assert all(set(g_cams[t["gallery"]]) <= {1, 2} for t in indoor["trials"])


def test_sysu_rejects_wrong_cameras_and_shapes():
    with pytest.raises(ValueError, match="probes must come from"):
        evaluate_sysu_mm01(DIST, Q_PIDS, np.array([1, 3]), G_PIDS, G_CAMS)
    with pytest.raises(ValueError, match="distmat: expected shape"):
        evaluate_sysu_mm01(DIST[:, :3], Q_PIDS, Q_CAMS, G_PIDS, G_CAMS)
    with pytest.raises(ValueError, match="mode="):
        sysu_mm01_gallery(G_PIDS, G_CAMS, mode="outdoor")


def test_regdb_both_directions_mean_over_splits():
    # Split 1: visible ids [1, 2], thermal ids [2, 1].
    v2t_1 = np.array([[0.9, 0.1], [0.2, 0.8]])  # both visible queries find their match first
    # Split 2: visible [1, 2], thermal [1, 2]; visible 0 ranks its match 2nd.
    v2t_2 = np.array([[0.5, 0.4], [0.9, 0.1]])
    out = evaluate_regdb([v2t_1, v2t_2], [[1, 2], [1, 2]], [[2, 1], [1, 2]])
    assert out["v2t"]["mAP"] == pytest.approx((1.0 + (0.5 + 1.0) / 2) / 2)
    assert out["v2t"]["rank1"] == pytest.approx((1.0 + 0.5) / 2)
    assert out["v2t"]["rank1_std"] == pytest.approx(0.25)
    # Thermal -> visible uses the transposes: split 2 thermal 0 (id 1) sees 0.5 vs 0.9.
    assert out["t2v"]["mAP"] == pytest.approx(1.0)
    flat = flat_metrics(out["v2t"], "v2t")
    assert flat["v2t_mAP"] == out["v2t"]["mAP"] and "v2t_rank20_std" in flat
    with pytest.raises(ValueError, match="one of each per split"):
        evaluate_regdb([v2t_1], [[1, 2]], [])


# A gallery of named images: cam1 id 1 images 1-3, cam2 id 1 images 1-2, cam1 id 2 images
# 1-2, cam4 id 2 image 1 (no permutation given: left out, as get_testing_set.m skips it).
FIXED_NAMES = [
    "x/cam1/0001/0001.jpg",
    "x/cam1/0001/0002.jpg",
    "x/cam1/0001/0003.jpg",
    "x/cam1/0002/0001.jpg",
    "x/cam1/0002/0002.jpg",
    "x/cam2/0001/0001.jpg",
    "x/cam2/0001/0002.jpg",
    "x/cam4/0002/0001.jpg",
]
FIXED_PIDS = np.array([1, 1, 1, 2, 2, 1, 1, 2])
FIXED_CAMS = np.array([1, 1, 1, 1, 1, 2, 2, 4])
FIXED_PERMS = {(1, 1): [[3, 1, 2], [2, 3, 1]], (2, 1): [[2, 1], [1, 2]], (1, 2): [[2, 1], [1, 2]]}


@pytest.mark.parametrize(
    ("shots", "trial", "expected"),
    [
        (1, 0, [2, 4, 6]),  # cam1/0001/0003, cam1/0002/0002, cam2/0001/0002
        (1, 1, [1, 3, 5]),  # cam1/0001/0002, cam1/0002/0001, cam2/0001/0001
        (2, 1, [1, 2, 3, 4, 5, 6]),  # first two of each row
        (10, 0, [0, 1, 2, 3, 4, 5, 6]),  # multi-shot: every image of a shorter row
    ],
)
def test_fixed_gallery_takes_each_trials_row(shots, trial, expected):
    gallery = cm.sysu_mm01_fixed_gallery(
        FIXED_PIDS, FIXED_CAMS, FIXED_NAMES, FIXED_PERMS, num_shots=shots, trial=trial
    )
    assert gallery.tolist() == expected


def test_fixed_gallery_indoor_keeps_cameras_1_and_2():
    gallery = cm.sysu_mm01_fixed_gallery(
        FIXED_PIDS, FIXED_CAMS, FIXED_NAMES, {**FIXED_PERMS, (4, 2): [[1], [1]]}, mode="indoor"
    )
    assert gallery.tolist() == [2, 4, 6]


def test_fixed_gallery_refuses_missing_trials_and_images():
    with pytest.raises(ValueError, match="trial 2: cam1 id 1 has 2 trials only"):
        cm.sysu_mm01_fixed_gallery(FIXED_PIDS, FIXED_CAMS, FIXED_NAMES, FIXED_PERMS, trial=2)
    with pytest.raises(ValueError, match="cam1 id 2 image 7 is not in the gallery"):
        perms = {**FIXED_PERMS, (1, 2): [[7, 1]]}
        cm.sysu_mm01_fixed_gallery(FIXED_PIDS, FIXED_CAMS, FIXED_NAMES, perms)


def test_evaluate_sysu_mm01_uses_the_fixed_trials_when_given():
    dist = np.random.default_rng(0).random((2, len(FIXED_NAMES)))
    q_pids, q_cams = np.array([1, 2]), np.array([3, 6])
    args = (dist, q_pids, q_cams, FIXED_PIDS, FIXED_CAMS, FIXED_NAMES)
    fixed = cm.evaluate_sysu_mm01(*args, num_trials=2, permutations=FIXED_PERMS)
    assert [t["gallery"].tolist() for t in fixed["trials"]] == [[2, 4, 6], [1, 3, 5]]
    seeded = cm.evaluate_sysu_mm01(*args, num_trials=2)
    # The seeded fallback also draws from cam4 (no permutation there).
    assert all(7 in t["gallery"] for t in seeded["trials"])
