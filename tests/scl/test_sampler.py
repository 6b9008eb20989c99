"""Cluster Contrast's identity-balanced batches over pseudo labels (PseudoIdentitySampler)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from pipeline.models.scl.data import PseudoIdentitySampler

# 12 clusters of 5 images (cameras 0-2) and 2 singletons; dataset indices offset by 100.
LABELS = np.array([k for k in range(12) for _ in range(5)] + [12, 13])
CAMERAS = np.array([i % 3 for i in range(60)] + [0, 1])
INDICES = np.arange(len(LABELS)) + 100
LABEL_OF = dict(zip(INDICES.tolist(), LABELS.tolist(), strict=True))
CAMERA_OF = dict(zip(INDICES.tolist(), CAMERAS.tolist(), strict=True))


def _sampler(**changes) -> PseudoIdentitySampler:
    kwargs = {"batch_size": 16, "num_instances": 4, "iters": 0, "seed": 3} | changes
    return PseudoIdentitySampler(INDICES, LABELS, CAMERAS, **kwargs)


def test_each_batch_holds_p_identities_of_k_images():
    batches = list(_sampler())
    assert len(batches) == len(_sampler()) == 14 * 4 // 16  # one pass of 14 clusters
    for batch in batches:
        assert len(batch) == 16 and set(batch) <= set(INDICES.tolist())
        counts = Counter(LABEL_OF[i] for i in batch)
        assert sorted(counts.values()) == [4, 4, 4, 4]  # 4 identities x 4 images


def test_mates_come_from_other_cameras_than_the_anchor_when_there_are_any():
    # Each 5-image cluster spans 3 cameras, so any anchor has 3 or 4 other-camera mates.
    # K = 3: at least K candidates, drawn without replacement; K = 4 draws with replacement
    # when only 3 exist (the official sampler's rule), yet still from other cameras.
    for k in (3, 4):
        for batch in _sampler(batch_size=4 * k, num_instances=k, iters=20):
            for start in range(0, 4 * k, k):
                anchor, *mates = batch[start : start + k]
                if LABEL_OF[anchor] < 12:
                    assert anchor not in mates
                    assert all(CAMERA_OF[m] != CAMERA_OF[anchor] for m in mates)
                    if k == 3:
                        assert len(set(mates)) == 2


def test_a_singleton_cluster_repeats_its_image():
    sampler = _sampler(batch_size=56, iters=3)
    seen = Counter()
    for batch in sampler:
        for start in range(0, 56, 4):
            chunk = batch[start : start + 4]
            assert len({LABEL_OF[i] for i in chunk}) == 1
            if LABEL_OF[chunk[0]] >= 12:
                assert chunk == [chunk[0]] * 4
                seen[LABEL_OF[chunk[0]]] += 1
    assert seen == {12: 3, 13: 3}


def test_iterations_per_epoch_draw_new_passes_and_the_epoch_seeds_them():
    sampler = _sampler(iters=10)
    first = list(sampler)
    assert len(first) == 10 and first == list(sampler)  # same epoch: same batches
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert list(_sampler(seed=4, iters=10)) != first


def test_ranks_split_each_global_batch():
    whole = list(_sampler(batch_size=16, iters=4))
    ranks = [list(_sampler(batch_size=8, iters=4, rank=r, world_size=2)) for r in range(2)]
    for step in range(4):
        assert ranks[0][step] + ranks[1][step] == whole[step]


def test_outliers_and_batches_that_split_identities_are_refused():
    with pytest.raises(ValueError, match="outliers"):
        PseudoIdentitySampler(
            INDICES, np.where(LABELS == 0, -1, LABELS), CAMERAS, 16, 4, iters=0, seed=0
        )
    with pytest.raises(ValueError, match="not a multiple"):
        _sampler(batch_size=10)
    with pytest.raises(ValueError, match="fill no batch"):
        list(_sampler(batch_size=64 * 4))
