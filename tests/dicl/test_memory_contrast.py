"""Hybrid memory: cluster logits, hardest-negative selection, loss and momentum update."""

from __future__ import annotations

import math

import pytest
import torch

from pipeline.losses.memory_contrast import HybridMemory, hardest_negative_mask


def _memory(mass: float, temperature: float = 1.0) -> HybridMemory:
    memory = HybridMemory(4, 2, temperature=temperature, momentum=0.2, hard_negative_mass=mass)
    memory.initialize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]))
    memory.set_labels(torch.tensor([0, 0, 1, 2]))  # clusters {f0, f1}, {f2}, {f3}
    return memory


def test_cluster_logits_are_mean_slot_similarities():
    logits, present = _memory(0.6, temperature=0.5).cluster_logits(torch.tensor([[1.0, 0.0]]))
    # slot cosines 1, 0, -1, 0 -> clusters (1+0)/2, -1, 0, over T = 0.5
    assert torch.allclose(logits, torch.tensor([[1.0, -2.0, 0.0]]))
    assert present.tolist() == [True, True, True]


def test_hardest_negatives_keep_the_prefix_closest_to_the_mass():
    # negative probabilities 0.7311 (logit 0) and 0.2689 (logit -1)
    neg = torch.tensor([[float("-inf"), -1.0, 0.0]])
    assert hardest_negative_mask(neg, 0.6).tolist() == [
        [False, False, True]
    ]  # |0.73-0.6| < |1-0.6|
    assert hardest_negative_mask(neg, 0.9).tolist() == [[False, True, True]]  # |1-0.9| < |0.73-0.9|


def test_hardest_negatives_without_negatives_keep_nothing():
    neg = torch.full((1, 3), float("-inf"))
    assert not hardest_negative_mask(neg, 0.6).any()


def test_loss_by_hand():
    x, index = torch.tensor([[1.0, 0.0]]), torch.tensor([0])
    # target cluster logit 0.5; at mass 0.6 only cluster 2 (logit 0) stays as negative
    assert _memory(0.6).loss(x, index).item() == pytest.approx(
        math.log(1 + math.exp(-0.5)), abs=1e-6
    )
    # at mass 0.9 both negatives stay
    expected = math.log(1 + math.exp(-0.5) + math.exp(-1.5))
    assert _memory(0.9).loss(x, index).item() == pytest.approx(expected, abs=1e-6)


def test_loss_gradient_flows_to_inputs_only():
    memory = _memory(0.6)
    x = torch.tensor([[0.6, 0.8]], requires_grad=True)
    memory.loss(x, torch.tensor([0])).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert memory.features.grad is None


def test_update_is_sequential_momentum_with_renormalisation():
    memory = _memory(0.6)
    memory.update(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([1, 1]))
    # first: 0.2*(0,1) + 0.8*(1,0) = (0.8, 0.2) -> (0.970143, 0.242536)
    # then:  0.2*(0.970143, 0.242536) + 0.8*(0,1) -> (0.222917, 0.974838)
    assert torch.allclose(memory.features[1], torch.tensor([0.222917, 0.974838]), atol=1e-5)
    assert torch.equal(memory.features[0], torch.tensor([1.0, 0.0]))


def test_update_after_loss_keeps_backward_valid():
    memory = _memory(0.6)
    x = torch.tensor([[0.6, 0.8]], requires_grad=True)
    loss = memory.loss(x, torch.tensor([1]))
    memory.update(x, torch.tensor([1]))  # in place, before backward (as in training)
    loss.backward()
    assert torch.isfinite(x.grad).all()


def test_bad_labels_are_rejected():
    memory = _memory(0.6)
    with pytest.raises(ValueError, match="memory labels"):
        memory.set_labels(torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="memory initialisation"):
        memory.initialize(torch.zeros(3, 2))
