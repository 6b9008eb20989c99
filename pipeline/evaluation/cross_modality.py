"""Visible-infrared re-id protocols: SYSU-MM01 and RegDB.

SYSU-MM01 (Wu et al., "RGB-Infrared Cross-Modality Person Re-Identification",
ICCV 2017), as the AGW / DDAG / DCLNet code computes it (``eval_sysu`` with
``process_query_sysu`` / ``process_gallery_sysu``):

- probes: every infrared image (cameras 3 and 6) of the 96 test identities;
- gallery: per trial, for each test identity and each RGB camera of the mode
  (all-search 1, 2, 4, 5; indoor-search 1, 2), one random image (single-shot)
  or ten (multi-shot);
- cameras 2 and 3 film the same room, so a probe from camera 3 ignores the whole
  of camera 2 (every identity, not only its own: ``remove = (q_camid == 3) &
  (g_camids == 2)`` in ``eval_sysu``; DCLNet's port of the dataset's own
  evaluation, ``eval_sysu2``, relabels probe camera 3 as 2 and drops same-camera
  gallery images, the same thing);
- CMC counts each gallery identity once, at its best-ranked image (the dataset
  authors' rule, kept by the reference); mAP and mINP are the usual ones on the
  full ranking; results are averaged over 10 trials.

Trial galleries come from the dataset's own fixed draws when it has them: SYSU-MM01's
``rand_perm_cam.mat`` (wuancong/SYSU-MM01 ``evaluation/get_testing_set.m:40-50``),
which the converter carries into ``gallery_trials.json``: trial t takes, per test
identity and RGB camera, the first 1 or 10 image numbers of row t of that
identity's permutation (DCLNet's ``get_gallery_names``, ``eval_metrics.py:21-29``).
Without that file (fallback) trial i draws its gallery with ``random.Random(seed + i)``,
visiting identities in increasing order, the mode's cameras in the order above and
each camera's images sorted by name, with ``choice`` (single-shot) or ``sample``
(multi-shot): with seed 0 and the dataset's relative paths as names this is exactly
the gallery DCLNet's ``process_gallery_sysu(trial=i)`` draws. Galleries are ordered
by name, as there (the order decides only ties).

RegDB (Nguyen et al., Sensors 2017): 10 random splits of 206 test identities;
visible->thermal and thermal->visible retrieval over each split's test images
(``eval_regdb``: the standard CMC, no removals), averaged over splits.

Both reuse :func:`pipeline.evaluation.ranking.rank_matches` for the ranking maths.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from pipeline.evaluation.ranking import DEFAULT_CHUNK_ROWS, ExclusionRule, rank_matches, summarize
from pipeline.evaluation.reid import evaluate_rank

SYSU_RGB_CAMERAS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
SYSU_IR_CAMERAS = (3, 6)
REPORTED_RANKS = (1, 5, 10, 20)


def sysu_mm01_gallery(
    g_pids: np.ndarray,
    g_camids: np.ndarray,
    g_names: Sequence[str] | None = None,
    *,
    mode: str = "all",
    num_shots: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """One random SYSU-MM01 gallery: indices into the visible test images.

    Args:
        g_pids: (G,) identities of every visible test image.
        g_camids: (G,) their cameras (1, 2, 4, 5).
        g_names: (G,) names (e.g. ``cam1/0001/0004.jpg``) that order the
            candidates and the result; default: index order.
        mode: "all" or "indoor".
        num_shots: images per identity and camera (1 single-shot, 10 multi-shot);
            all of them when a camera has fewer.
        seed: the trial's seed.

    Returns:
        Sorted-by-name int64 indices of the drawn gallery.
    """
    cameras = _mode_cameras(mode)
    if num_shots < 1:
        raise ValueError(f"num_shots={num_shots}: must be >= 1")
    g_pids, g_camids = np.asarray(g_pids), np.asarray(g_camids)
    names = np.arange(g_pids.size) if g_names is None else np.asarray(g_names)
    if names.shape != g_pids.shape or g_camids.shape != g_pids.shape:
        raise ValueError(
            f"g_pids {g_pids.shape}, g_camids {g_camids.shape}, g_names {names.shape}: "
            "need equal lengths"
        )
    rng = random.Random(seed)
    picked: list[int] = []
    for pid in np.unique(g_pids):
        for cam in cameras:
            members = np.flatnonzero((g_pids == pid) & (g_camids == cam))
            if members.size == 0:
                continue
            members = members[np.argsort(names[members], kind="stable")].tolist()
            if num_shots == 1:
                picked.append(rng.choice(members))
            else:
                picked.extend(rng.sample(members, min(num_shots, len(members))))
    chosen = np.asarray(picked, dtype=np.int64)
    return chosen[np.argsort(names[chosen], kind="stable")]


def sysu_mm01_fixed_gallery(
    g_pids: np.ndarray,
    g_camids: np.ndarray,
    g_names: Sequence[str],
    permutations: Mapping[tuple[int, int], Sequence[Sequence[int]]],
    *,
    mode: str = "all",
    num_shots: int = 1,
    trial: int = 0,
) -> np.ndarray:
    """Trial ``trial``'s gallery from the dataset's fixed permutations (``rand_perm_cam.mat``).

    Args:
        g_pids, g_camids: (G,) identities and cameras of every visible test image.
        g_names: (G,) their paths, ending ``cam{c}/{pid:04d}/{n:04d}.jpg``: ``n`` is
            the image number the permutations list.
        permutations: (camera, pid) -> trials x images permutations of image numbers;
            an identity a camera saw without an entry adds nothing (as
            ``get_testing_set.m:41-43``).
        mode: "all" or "indoor".
        num_shots: the first ``num_shots`` numbers of the trial's row (all when fewer).
        trial: the row.

    Returns:
        Sorted-by-name int64 indices of the gallery.

    Raises:
        ValueError: a trial past the permutations' rows, or a number with no image.
    """
    cameras = _mode_cameras(mode)
    if num_shots < 1:
        raise ValueError(f"num_shots={num_shots}: must be >= 1")
    g_pids, g_camids, names = np.asarray(g_pids), np.asarray(g_camids), np.asarray(g_names)
    if not g_pids.shape == g_camids.shape == names.shape:
        raise ValueError(
            f"g_pids {g_pids.shape}, g_camids {g_camids.shape}, g_names {names.shape}: "
            "need equal lengths"
        )
    where: dict[tuple[int, int, int], int] = {}
    for index, (pid, cam, name) in enumerate(zip(g_pids, g_camids, names, strict=True)):
        stem = PurePosixPath(str(name)).stem
        if not stem.isdigit():
            raise ValueError(f"{name}: not an image number ({{n:04d}}.jpg), needed by the trials")
        where[(int(cam), int(pid), int(stem))] = index
    picked: list[int] = []
    for pid in np.unique(g_pids):
        for cam in cameras:
            rows = permutations.get((cam, int(pid)))
            if not rows:
                continue
            if trial >= len(rows):
                raise ValueError(f"trial {trial}: cam{cam} id {pid} has {len(rows)} trials only")
            for number in rows[trial][:num_shots]:
                if (cam, int(pid), int(number)) not in where:
                    raise ValueError(
                        f"trial {trial}: cam{cam} id {pid} image {number} is not in the gallery"
                    )
                picked.append(where[(cam, int(pid), int(number))])
    chosen = np.asarray(picked, dtype=np.int64)
    return chosen[np.argsort(names[chosen], kind="stable")]


def _mode_cameras(mode: str) -> tuple[int, ...]:
    if mode not in SYSU_RGB_CAMERAS:
        raise ValueError(f"mode={mode!r}: expected one of {sorted(SYSU_RGB_CAMERAS)}")
    return SYSU_RGB_CAMERAS[mode]


def sysu_mm01_exclusion(q_camids: np.ndarray, g_camids: np.ndarray) -> ExclusionRule:
    """Probes from camera 3 ignore every gallery image of camera 2."""
    cam2 = np.flatnonzero(np.asarray(g_camids) == 2)
    empty = np.empty(0, dtype=np.int64)
    from_cam3 = np.asarray(q_camids) == 3
    return lambda qi: cam2 if from_cam3[qi] else empty


def evaluate_sysu_mm01_trial(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    q_camids: np.ndarray,
    g_pids: np.ndarray,
    g_camids: np.ndarray,
    max_rank: int = 20,
) -> dict[str, Any]:
    """One gallery trial (the reference ``eval_sysu``): identity-level CMC, mAP, mINP.

    Args:
        distmat: (Q, G) infrared probes x drawn RGB gallery distances.
        q_pids, q_camids: (Q,) probe identities and cameras (3 or 6).
        g_pids, g_camids: (G,) gallery identities and cameras.
        max_rank: CMC length (shrinks to G).

    Returns:
        dict with ``mAP``, ``mINP``, ``cmc`` and ``num_valid_queries``.
    """
    rule = sysu_mm01_exclusion(q_camids, g_camids)
    ranks = rank_matches(distmat, q_pids, g_pids, rule, distinct_ids=True)
    return summarize(ranks, max_rank, len(g_pids), distinct_cmc=True)


def _aggregate(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and (population) std over trials or splits of mAP, mINP and rank-k."""
    cmc_len = min(len(r["cmc"]) for r in results)
    cmcs = np.stack([np.asarray(r["cmc"][:cmc_len]) for r in results])
    table: dict[str, np.ndarray] = {
        "mAP": np.array([r["mAP"] for r in results]),
        "mINP": np.array([r["mINP"] for r in results]),
    }
    for k in REPORTED_RANKS:
        table[f"rank{k}"] = cmcs[:, min(k, cmc_len) - 1]
    out: dict[str, Any] = {}
    for key, values in table.items():
        out[key] = float(values.mean())
        out[f"{key}_std"] = float(values.std())
    out["cmc"] = cmcs.mean(axis=0)
    out["num_runs"] = len(results)
    return out


def evaluate_sysu_mm01(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    q_camids: np.ndarray,
    g_pids: np.ndarray,
    g_camids: np.ndarray,
    g_names: Sequence[str] | None = None,
    *,
    mode: str = "all",
    num_shots: int = 1,
    num_trials: int = 10,
    seed: int = 0,
    max_rank: int = 20,
    permutations: Mapping[tuple[int, int], Sequence[Sequence[int]]] | None = None,
) -> dict[str, Any]:
    """SYSU-MM01 over ``num_trials`` galleries: the dataset's fixed ones, else seeded draws.

    Args:
        distmat: (Q, G) distances from every infrared test probe to every
            visible test image (the candidates the trials draw from).
        q_pids, q_camids: (Q,) probe identities and cameras (3 or 6).
        g_pids, g_camids: (G,) visible image identities and cameras (1, 2, 4, 5).
        g_names: (G,) image names ordering the draws (see module docstring).
        mode: "all" (cameras 1, 2, 4, 5) or "indoor" (1, 2).
        num_shots: 1 (single-shot) or 10 (multi-shot).
        num_trials: galleries drawn; trial i uses seed + i.
        seed: base seed (seeded draws only).
        max_rank: CMC length.
        permutations: the dataset's fixed trials (``gallery_trials.json``, see
            :func:`sysu_mm01_fixed_gallery`); trial i is row i. None: seeded draws.

    Returns:
        dict with mean ``mAP``, ``mINP``, ``rank1``/``5``/``10``/``20``, each
        with ``*_std``, the mean ``cmc``, ``num_runs`` and ``trials`` (per-trial
        results, each with its ``gallery`` indices).
    """
    _mode_cameras(mode)
    d = np.asarray(distmat)
    q_pids, q_camids = np.asarray(q_pids), np.asarray(q_camids)
    g_pids, g_camids = np.asarray(g_pids), np.asarray(g_camids)
    if d.shape != (q_pids.size, g_pids.size):
        raise ValueError(
            f"distmat: expected shape ({q_pids.size}, {g_pids.size}) (probes x visible "
            f"images), got {d.shape}"
        )
    bad_q = sorted(set(np.unique(q_camids).tolist()) - set(SYSU_IR_CAMERAS))
    bad_g = sorted(set(np.unique(g_camids).tolist()) - set(SYSU_RGB_CAMERAS["all"]))
    if bad_q or bad_g:
        raise ValueError(
            f"cameras: probes must come from {SYSU_IR_CAMERAS} (got {bad_q}), gallery from "
            f"{SYSU_RGB_CAMERAS['all']} (got {bad_g})"
        )
    if num_trials < 1:
        raise ValueError(f"num_trials={num_trials}: must be >= 1")
    trials = []
    if permutations is not None and g_names is None:
        raise ValueError("permutations need g_names: the image numbers come from the names")
    for i in range(num_trials):
        if permutations is None:
            gallery = sysu_mm01_gallery(
                g_pids, g_camids, g_names, mode=mode, num_shots=num_shots, seed=seed + i
            )
        else:
            gallery = sysu_mm01_fixed_gallery(
                g_pids, g_camids, g_names, permutations, mode=mode, num_shots=num_shots, trial=i
            )
        result = evaluate_sysu_mm01_trial(
            d[:, gallery], q_pids, q_camids, g_pids[gallery], g_camids[gallery], max_rank
        )
        result["gallery"] = gallery
        trials.append(result)
    out = _aggregate(trials)
    out["trials"] = trials
    return out


def evaluate_regdb(
    distmats_v2t: Sequence[np.ndarray],
    visible_pids: Sequence[np.ndarray],
    thermal_pids: Sequence[np.ndarray],
    distmats_t2v: Sequence[np.ndarray] | None = None,
    *,
    max_rank: int = 20,
) -> dict[str, dict[str, Any]]:
    """RegDB over its splits, both directions (the reference ``eval_regdb``).

    Args:
        distmats_v2t: per split, (V, T) visible-query x thermal-gallery distances.
        visible_pids: per split, (V,) identities of the visible test images.
        thermal_pids: per split, (T,) identities of the thermal test images.
        distmats_t2v: per split (T, V) distances; default the transposes.
        max_rank: CMC length.

    Returns:
        {"v2t": ..., "t2v": ...}, each with the mean (and ``*_std``) over splits
        of ``mAP``, ``mINP``, ``rank1``/``5``/``10``/``20``, the mean ``cmc``,
        ``num_runs`` and ``splits`` (per-split results).
    """
    n = len(distmats_v2t)
    if n == 0 or len(visible_pids) != n or len(thermal_pids) != n:
        raise ValueError(
            f"evaluate_regdb: {n} distance matrices, {len(visible_pids)} visible and "
            f"{len(thermal_pids)} thermal label arrays: need one of each per split (>= 1)"
        )
    if distmats_t2v is not None and len(distmats_t2v) != n:
        raise ValueError(f"distmats_t2v: {len(distmats_t2v)} matrices for {n} splits")
    per_direction: dict[str, list[dict[str, Any]]] = {"v2t": [], "t2v": []}
    for s in range(n):
        v2t = np.asarray(distmats_v2t[s])
        t2v = v2t.T if distmats_t2v is None else np.asarray(distmats_t2v[s])
        vis, th = np.asarray(visible_pids[s]), np.asarray(thermal_pids[s])
        for key, dist, q, g in (("v2t", v2t, vis, th), ("t2v", t2v, th, vis)):
            # Queries and gallery are always different cameras: nothing is removed.
            result = evaluate_rank(
                dist,
                q,
                g,
                np.ones(q.size, dtype=np.int64),
                np.full(g.size, 2, dtype=np.int64),
                max_rank,
                chunk_size=DEFAULT_CHUNK_ROWS,
            )
            per_direction[key].append(result)
    out = {}
    for key, results in per_direction.items():
        out[key] = _aggregate(results)
        out[key]["splits"] = results
    return out


def flat_metrics(summary: dict[str, Any], prefix: str) -> dict[str, float]:
    """``{"mAP": .., "rank1": ..}`` -> ``{"<prefix>_mAP": .., "<prefix>_rank1": ..}``.

    Keeps the scalar metrics (and their ``_std``), as ``metrics/dclnet.json``
    wants them (``all_single_mAP``, ``v2t_rank1``, ...).
    """
    keys = ["mAP", "mINP", *(f"rank{k}" for k in REPORTED_RANKS)]
    out = {}
    for key in keys:
        for name in (key, f"{key}_std"):
            if name in summary:
                out[f"{prefix}_{name}"] = float(summary[name])
    return out
