"""Sanity of the synthetic world as a benchmark (docs/datasets.md, "The embedded synthetic world").

On small Market-layout, SYSU-layout and RegDB-layout renders: random features score near
chance; the colour histogram is well above chance on RGB re-id but far from
perfect (look-alike families, camera colour shifts, occlusion); on
infrared -> visible it falls back to near chance, because infrared is rendered
from fabric and skin temperature (thermal) or from each dye's reflectance (near
infrared), not from colour.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pipeline.evaluation.reid import evaluate_rank
from pipeline.models.color_histogram import color_histogram_features

MARKET_NAME = re.compile(r"(-?\d+)_c(\d)s\d+_\d+_\d+\.jpg")


def _market_split(folder: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Images of one Market folder without junk, with their pids and cameras."""
    files, pids, cams = [], [], []
    for path in sorted(folder.glob("*.jpg")):
        pid, cam = MARKET_NAME.fullmatch(path.name).groups()
        if int(pid) >= 0:
            files.append(path)
            pids.append(int(pid))
            cams.append(int(cam))
    return files, np.asarray(pids), np.asarray(cams)


def _sysu_split(root: Path, cameras: tuple[int, ...]) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Test-identity images of the given SYSU cameras, with pids and cameras."""
    test_ids = {int(v) for v in (root / "exp" / "test_id.txt").read_text().split(",")}
    files, pids, cams = [], [], []
    for cam in cameras:
        for path in sorted((root / f"cam{cam}").glob("*/*.jpg")):
            if int(path.parent.name) in test_ids:
                files.append(path)
                pids.append(int(path.parent.name))
                cams.append(cam)
    return files, np.asarray(pids), np.asarray(cams)


def _regdb_split(root: Path, modality: str, split: int = 1) -> tuple[list[Path], np.ndarray]:
    """Test images of one RegDB modality in one split's idx list, with their pids."""
    lines = (root / "idx" / f"test_{modality}_{split}.txt").read_text().splitlines()
    files = [root / line.split()[0] for line in lines]
    return files, np.asarray([int(path.parent.name) for path in files])


def _euclidean(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    return ((q[:, None, :] - g[None, :, :]) ** 2).sum(axis=2)


def _scores(q_feat, g_feat, q_pids, g_pids, q_cams, g_cams) -> tuple[float, float]:
    result = evaluate_rank(_euclidean(q_feat, g_feat), q_pids, g_pids, q_cams, g_cams, max_rank=50)
    return float(result["mAP"]), float(result["cmc"][0])


def _random_map(q_pids, g_pids, q_cams, g_cams) -> float:
    """Mean mAP of five draws of random 64-d features: the chance level of this split."""
    rng = np.random.default_rng(0)
    draws = [
        _scores(
            rng.normal(size=(len(q_pids), 64)),
            rng.normal(size=(len(g_pids), 64)),
            q_pids,
            g_pids,
            q_cams,
            g_cams,
        )[0]
        for _ in range(5)
    ]
    return float(np.mean(draws))


def test_market_random_near_chance_histogram_between(market_world) -> None:
    qf, qp, qc = _market_split(market_world.root / "query")
    gf, gp, gc = _market_split(market_world.root / "bounding_box_test")
    random_map = _random_map(qp, gp, qc, gc)
    hist_map, hist_rank1 = _scores(
        color_histogram_features(qf), color_histogram_features(gf), qp, gp, qc, gc
    )
    # 30 test identities: chance mAP is a few percent.
    assert random_map < 0.1
    assert 0.15 < hist_map < 0.6
    assert hist_map > 3 * random_map
    assert hist_rank1 < 0.8


@pytest.mark.parametrize("band", ["thermal", "near"])
def test_sysu_histogram_near_chance_from_infrared_to_visible(band, request) -> None:
    world = request.getfixturevalue("sysu_world" if band == "near" else "sysu_thermal_world")
    qf, qp, qc = _sysu_split(world.root, (3, 6))
    gf, gp, gc = _sysu_split(world.root, (1, 2, 4, 5))
    random_map = _random_map(qp, gp, qc, gc)
    ir_map, _ = _scores(color_histogram_features(qf), color_histogram_features(gf), qp, gp, qc, gc)
    # The same descriptor is informative visible -> visible on the same identities.
    vis_q = np.isin(gc, (1, 2))
    rgb_map, _ = _scores(
        color_histogram_features([f for f, m in zip(gf, vis_q, strict=True) if m]),
        color_histogram_features([f for f, m in zip(gf, vis_q, strict=True) if not m]),
        gp[vis_q],
        gp[~vis_q],
        gc[vis_q],
        gc[~vis_q],
    )
    assert random_map < 0.15
    assert ir_map < random_map + 0.06
    assert rgb_map > ir_map + 0.1


def test_regdb_histogram_near_chance_from_thermal_to_visible(regdb_sanity_world) -> None:
    root = regdb_sanity_world.root
    qf, qp = _regdb_split(root, "thermal")
    gf, gp = _regdb_split(root, "visible")
    # RegDB's protocol searches every gallery image: the two modalities are two cameras.
    qc, gc = np.full(len(qf), 2), np.full(len(gf), 1)
    random_map = _random_map(qp, gp, qc, gc)
    ir_map, _ = _scores(color_histogram_features(qf), color_histogram_features(gf), qp, gp, qc, gc)
    # The same descriptor finds a person's back views from the front ones (same garments).
    front = np.asarray(["_front_" in path.name for path in gf])
    gallery_feat = color_histogram_features(gf)
    rgb_map, _ = _scores(
        gallery_feat[front], gallery_feat[~front], gp[front], gp[~front], gc[front], gc[~front] + 1
    )
    assert random_map < 0.15
    assert ir_map < random_map + 0.06
    assert rgb_map > ir_map + 0.1
