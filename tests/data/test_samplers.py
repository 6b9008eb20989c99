"""P x K and paired visible/infrared identity samplers: composition, seeding, epochs, DDP shards."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch.distributed as dist

from pipeline.data.samplers import PairedModalityBatchSampler, PKBatchSampler

# 5 identities with 4, 4, 4, 2, 8 images, plus two outliers (-1) that must never be drawn.
LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, -1, -1])


def test_pk_batches_hold_p_distinct_ids_with_k_images_each():
    sampler = PKBatchSampler(LABELS, p=2, k=2, seed=0)
    batches = list(sampler)
    # groups of 2 per epoch: ids 0, 1, 2 -> 2 each, id 3 -> 1, id 4 -> 4; total 11 groups.
    # Batches take 2 groups of 2 different ids while >= 2 ids have groups left.
    assert len(batches) == len(sampler) >= 4
    for batch in batches:
        assert len(batch) == 4
        ids = LABELS[batch]
        assert sorted(Counter(ids.tolist()).values()) == [2, 2]
        assert (ids >= 0).all()
    drawn = [i for b in batches for i in b]
    assert len(drawn) == len(set(drawn))  # every id had >= k images: no repeats


def test_pk_identity_with_fewer_than_k_images_is_drawn_with_replacement():
    labels = np.array([0, 1, 1, 1, 1])
    sampler = PKBatchSampler(labels, p=2, k=4, seed=3)
    (batch,) = list(sampler)
    assert Counter(labels[batch].tolist()) == {0: 4, 1: 4}
    assert batch.count(0) == 4


def test_pk_is_deterministic_per_seed_and_epoch():
    a, b = PKBatchSampler(LABELS, 2, 2, seed=5), PKBatchSampler(LABELS, 2, 2, seed=5)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    a.set_epoch(0)
    assert list(a) == first
    assert list(PKBatchSampler(LABELS, 2, 2, seed=6)) != first


def test_pk_ddp_shards_are_disjoint_and_equal_in_number():
    full = list(PKBatchSampler(LABELS, 2, 2, seed=1, rank=0, num_replicas=1))
    shards = [list(PKBatchSampler(LABELS, 2, 2, seed=1, rank=r, num_replicas=2)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == len(full) // 2
    assert shards[0] == full[0 : 2 * len(shards[0]) : 2]
    assert shards[1] == full[1 : 2 * len(shards[1]) : 2]


def test_rank_and_world_come_from_the_process_group(tmp_path):
    """Under torchrun the samplers read rank and world size from the initialised group."""
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1
    )
    try:
        sampler = PKBatchSampler(LABELS, 2, 2, seed=1)
        assert (sampler.rank, sampler.world) == (0, 1)
    finally:
        dist.destroy_process_group()


def test_pk_errors():
    with pytest.raises(ValueError, match="needs >= 3 identities, the labels hold 2"):
        PKBatchSampler([0, 0, 1, 1, -1], p=3, k=2)
    with pytest.raises(ValueError, match="rank 2 is not in 0..1"):
        PKBatchSampler(LABELS, 2, 2, rank=2, num_replicas=2)


# ids 0-3 in both modalities; id 4 only visible; id 5 only infrared; -1 outliers.
VI_LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 0, 1, 1, 2, 3, 3, 3, -1, -1])
VI_MODALITY = np.array(["visible"] * 11 + ["infrared"] + ["infrared"] * 7 + ["visible", "infrared"])


def test_paired_batches_align_identities_across_modalities():
    sampler = PairedModalityBatchSampler(VI_LABELS, VI_MODALITY, n_ids=2, k=2, seed=0)
    # default length: the larger modality has 9 usable images (ids 0-3) -> 9 // (2 * 2) = 2
    assert len(sampler) == 2
    for batch in sampler:
        assert len(batch) == 8
        vis, ir = batch[:4], batch[4:]
        assert (VI_MODALITY[vis] == "visible").all() and (VI_MODALITY[ir] == "infrared").all()
        assert VI_LABELS[vis].tolist() == VI_LABELS[ir].tolist()
        ids = VI_LABELS[vis].tolist()
        assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
        assert set(ids) <= {0, 1, 2, 3}


def test_paired_sampler_uses_every_image_before_repeating():
    labels = np.array([7, 7, 7, 7, 7, 7])
    modality = np.array([0, 0, 0, 1, 1, 1])
    sampler = PairedModalityBatchSampler(labels, modality, n_ids=1, k=3, batches_per_epoch=2)
    first, second = list(sampler)
    assert sorted(first[:3]) == [0, 1, 2] and sorted(first[3:]) == [3, 4, 5]
    assert sorted(second[:3]) == [0, 1, 2]


def test_paired_sampler_seed_epoch_and_ddp():
    make = lambda **kw: PairedModalityBatchSampler(  # noqa: E731
        VI_LABELS, VI_MODALITY, 2, 2, seed=4, batches_per_epoch=6, **kw
    )
    full = list(make(rank=0, num_replicas=1))
    assert full == list(make(rank=0, num_replicas=1))
    shards = [list(make(rank=r, num_replicas=3)) for r in range(3)]
    assert [len(s) for s in shards] == [2, 2, 2]
    assert [b for r in range(3) for b in shards[r]] == [
        full[i] for r in range(3) for i in (r, r + 3)
    ]
    other = make(rank=0, num_replicas=1)
    other.set_epoch(1)
    assert list(other) != full


def test_paired_sampler_errors():
    with pytest.raises(ValueError, match="needs >= 5 identities seen in both modalities, found 4"):
        PairedModalityBatchSampler(VI_LABELS, VI_MODALITY, n_ids=5, k=1)
    with pytest.raises(ValueError, match="modalities must give"):
        PairedModalityBatchSampler([0, 0], [0, 2], n_ids=1, k=1)
