"""SIC many-to-one and dense losses on hand-checkable tensors."""

from __future__ import annotations

import pytest
import torch

from pipeline.losses.sic_dense import sic_dense_loss
from pipeline.losses.sic_many_to_one import sic_many_to_one_loss

P = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
C = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # both proposals share one crop


def test_many_to_one_is_mean_one_minus_cosine():
    # cosines 1 and 0
    assert sic_many_to_one_loss(P, C).item() == pytest.approx(0.5)
    assert sic_many_to_one_loss(P, P).item() == pytest.approx(0.0)


def test_many_to_one_ignores_scale():
    assert sic_many_to_one_loss(3 * P, 0.5 * C).item() == pytest.approx(0.5)


def test_dense_is_symmetric_kl_averaged_over_entries():
    # softmax rows: proposals [0.731059, 0.268941] / [0.268941, 0.731059]; crops [0.5, 0.5]
    # KL(c||p) per row 0.120115, KL(p||c) per row 0.110943; sum over 2 rows / (2*2)
    expected = (2 * 0.120115 + 2 * 0.110943) / 4
    assert sic_dense_loss(P, C).item() == pytest.approx(expected, abs=1e-5)
    assert sic_dense_loss(C, P).item() == pytest.approx(expected, abs=1e-5)


def test_dense_is_zero_for_identical_structures():
    assert sic_dense_loss(P, P).item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("loss", [sic_many_to_one_loss, sic_dense_loss])
def test_empty_input_gives_zero_connected_to_graph(loss):
    p = torch.zeros(0, 4, requires_grad=True)
    value = loss(p, torch.zeros(0, 4))
    value.backward()
    assert value.item() == 0.0 and p.grad is not None


@pytest.mark.parametrize("loss", [sic_many_to_one_loss, sic_dense_loss])
def test_shape_mismatch_is_an_error(loss):
    with pytest.raises(ValueError, match="shapes differ"):
        loss(P, C[:1])
