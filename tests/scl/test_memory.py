"""Memory banks: the paper's update rules on hand-worked vectors."""

from __future__ import annotations

import math

import pytest
import torch

from pipeline.models.scl.memory import ClusterMemory, InstanceMemory, momentum_update

R = 1 / math.sqrt(2)


def test_momentum_update_halfway_then_renormalised():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    momentum_update(bank, torch.tensor([0]), torch.tensor([[0.0, 1.0]]), 0.5)
    assert torch.allclose(bank, torch.tensor([[R, R], [0.0, 1.0]]))


def test_momentum_update_repeated_index_is_applied_twice_in_order():
    # 0 deg -> 45 deg -> 67.5 deg: each update halves the angle to the new vector.
    bank = torch.tensor([[1.0, 0.0]])
    momentum_update(bank, torch.tensor([0, 0]), torch.tensor([[0.0, 1.0], [0.0, 1.0]]), 0.5)
    angle = math.radians(67.5)
    assert torch.allclose(bank, torch.tensor([[math.cos(angle), math.sin(angle)]]), atol=1e-6)


def test_momentum_update_other_momentum_and_norm_of_input_matters():
    bank = torch.tensor([[1.0, 0.0]])
    # m = 0.75 with a new vector of norm 3: 0.75*[1,0] + 0.25*[0,3] = [0.75, 0.75].
    momentum_update(bank, torch.tensor([0]), torch.tensor([[0.0, 3.0]]), 0.75)
    assert torch.allclose(bank, torch.tensor([[R, R]]))


def _memory(size=3):
    return InstanceMemory(
        size=size, global_dim=4, num_stripes=2, local_dim=2, cameras=torch.tensor([1, 2, 1])
    )


def test_distance_banks_reset_and_update_only_own_slots():
    mem = _memory()
    g = torch.tensor([[2.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]])
    loc = torch.tensor([[[1.0, 0], [0, 1.0]]] * 3)
    mem.reset_distance_banks(g, loc)
    assert torch.allclose(mem.global_bank[0], torch.tensor([1.0, 0, 0, 0]))  # renormalised
    mem.update_distance_banks(
        torch.tensor([1]), torch.tensor([[1.0, 0, 0, 0]]), torch.tensor([[[0, 1.0], [1.0, 0]]])
    )
    assert torch.allclose(mem.global_bank[1], torch.tensor([R, R, 0, 0]))
    assert torch.allclose(mem.local_bank[1], torch.tensor([[R, R], [R, R]]))
    assert torch.allclose(mem.global_bank[2], torch.tensor([0, 0, 1.0, 0]))  # untouched
    assert torch.count_nonzero(mem.mixture_bank) == 0  # the mixture bank is separate


def test_mixture_update_every_valid_positive_global_then_local():
    mem = _memory()
    positives = torch.tensor([[0, 1, 2]])
    valid = torch.tensor([[True, True, False]])
    g = torch.tensor([[1.0, 0, 0, 0]])
    local_concat = torch.tensor([[0, 0, 2.0, 0]])  # stripes concatenated: norm sqrt(S)
    mem.update_mixture(positives, valid, g, local_concat)
    # zero slot -> g -> normalize(0.5 g + 0.5 l) = normalize([0.5, 0, 1, 0])
    expected = torch.tensor([0.5, 0, 1.0, 0]) / math.sqrt(1.25)
    assert torch.allclose(mem.mixture_bank[0], expected)
    assert torch.allclose(mem.mixture_bank[1], expected)
    assert torch.count_nonzero(mem.mixture_bank[2]) == 0  # padding column: no update


def test_memory_state_round_trip_and_shape_check():
    mem = _memory()
    mem.mixture_bank[1] = 1.0
    other = _memory()
    other.load_state_dict(mem.state_dict())
    assert torch.equal(other.mixture_bank, mem.mixture_bank)
    with pytest.raises(ValueError, match="mixture_bank"):
        other.load_state_dict({**mem.state_dict(), "mixture_bank": torch.zeros(2, 4)})


def test_instance_memory_rejects_mismatched_dims():
    with pytest.raises(ValueError, match="num_stripes"):
        InstanceMemory(size=2, global_dim=5, num_stripes=2, local_dim=2, cameras=torch.zeros(2))


def test_cluster_memory_centroids_and_update():
    mem = ClusterMemory(global_dim=2, local_concat_dim=2)
    labels = torch.tensor([0, 0, 1, -1])
    feats = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [9.0, 9.0]])
    mem.reset(labels, feats, feats * 2)
    assert mem.num_clusters == 2
    assert torch.allclose(mem.global_centroids, torch.tensor([[R, R], [-1.0, 0.0]]))
    assert torch.allclose(mem.local_centroids, mem.global_centroids)  # scale-free
    mem.update(torch.tensor([1]), torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 1.0]]))
    assert torch.allclose(mem.global_centroids[1], torch.tensor([-R, R]))
    assert torch.allclose(mem.global_centroids[0], torch.tensor([R, R]))
    fresh = ClusterMemory(global_dim=2, local_concat_dim=2)
    fresh.load_state_dict(mem.state_dict())
    assert fresh.num_clusters == 2 and torch.equal(fresh.local_centroids, mem.local_centroids)


def test_cluster_memory_with_no_cluster_is_empty():
    mem = ClusterMemory(global_dim=2, local_concat_dim=2)
    mem.reset(torch.tensor([-1, -1]), torch.ones(2, 2), torch.ones(2, 2))
    assert mem.num_clusters == 0
