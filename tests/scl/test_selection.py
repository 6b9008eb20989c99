"""Selection of positives and negatives on tiny constructed distances."""

from __future__ import annotations

import pytest
import torch

from pipeline.models.scl.selection import (
    select_in_clusters,
    select_knn,
    select_random,
    selection_distance,
)


def test_selection_distance_mixes_global_local_and_camera():
    global_bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    local_bank = torch.tensor([[[1.0], [1.0]], [[1.0], [-1.0]], [[-1.0], [-1.0]]])
    dist = selection_distance(
        torch.tensor([[1.0, 0.0]]),
        torch.tensor([[[1.0], [1.0]]]),
        torch.tensor([1]),
        global_bank,
        local_bank,
        torch.tensor([1, 2, 1]),
        lambda_g=0.5,
        camera_penalty=0.05,
    )
    # global |.|^2: 0, 2, 4; local mean over stripes: 0, 2, 4; +0.05 on cameras 1.
    assert torch.allclose(dist, torch.tensor([[0.05, 2.0, 4.05]]))


def test_selection_distance_lambda_one_ignores_local():
    dist = selection_distance(
        torch.tensor([[1.0, 0.0]]),
        torch.tensor([[[1.0]]]),
        torch.tensor([3]),
        torch.tensor([[0.0, 1.0]]),
        torch.tensor([[[-1.0]]]),
        torch.tensor([1]),
        lambda_g=1.0,
        camera_penalty=0.05,
    )
    assert torch.allclose(dist, torch.tensor([[2.0]]))


def test_select_knn_self_first_then_nearest_then_negatives():
    distance = torch.tensor([[0.5, 0.1, 0.0, 0.3, 0.3, 0.9]])
    sel = select_knn(distance, torch.tensor([2]), num_positives=2, num_negatives=2)
    assert sel.candidates.tolist() == [[2, 1, 3, 4, 0]]  # tie 3/4 keeps slot order
    assert sel.num_positive == 3
    assert sel.valid.all()
    assert sel.positives.tolist() == [[2, 1, 3]]


def test_select_knn_self_not_nearest_is_still_column_zero_and_not_a_neighbour():
    # The self slot carries the same-camera penalty and a stale memory: it can rank second.
    distance = torch.tensor([[0.0, 0.2, 0.06, 0.5], [0.3, 0.0, 0.1, 0.2]])
    sel = select_knn(distance, torch.tensor([2, 0]), num_positives=1, num_negatives=2)
    assert sel.candidates.tolist() == [[2, 0, 1, 3], [0, 1, 2, 3]]


def test_select_knn_small_bank_cuts_negatives():
    distance = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    sel = select_knn(distance, torch.tensor([0]), num_positives=2, num_negatives=5)
    assert sel.candidates.tolist() == [[0, 1, 2, 3]]
    assert sel.num_positive == 3


def test_select_in_clusters_mates_as_positives_other_labels_as_negatives():
    labels = torch.tensor([0, 0, 1, 1, -1, 0])
    distance = torch.tensor([[0.05, 0.9, 0.1, 0.2, 0.15, 0.3]])
    sel = select_in_clusters(distance, torch.tensor([0]), labels, num_positives=3, num_negatives=2)
    # ranks: 0, 2, 4, 3, 5, 1 -> mates of cluster 0: 5, 1 (+1 padding); others: 2, 4.
    assert sel.num_positive == 4
    assert sel.candidates.tolist() == [[0, 5, 1, 0, 2, 4]]
    assert sel.valid.tolist() == [[True, True, True, False, True, True]]
    assert sel.positive_valid.tolist() == [[True, True, True, False]]


def test_select_in_clusters_outliers_are_negatives_never_positives():
    labels = torch.tensor([1, -1, -1, 1])
    distance = torch.tensor([[0.0, 0.1, 0.2, 0.3], [0.4, 0.1, 0.2, 0.0]])
    sel = select_in_clusters(
        distance, torch.tensor([0, 3]), labels, num_positives=1, num_negatives=3
    )
    assert sel.candidates.tolist() == [[0, 3, 1, 2, 0], [3, 0, 1, 2, 0]]
    assert sel.valid.tolist() == [[True, True, True, True, False]] * 2


def test_select_random_excludes_self_and_is_seeded():
    idx = torch.tensor([3, 7])
    a = select_random(idx, 10, num_negatives=4, generator=torch.Generator().manual_seed(5))
    b = select_random(idx, 10, num_negatives=4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.candidates, b.candidates)
    assert a.num_positive == 1 and a.candidates[:, 0].tolist() == [3, 7]
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(5))[:5].tolist()
    for row, own in zip(a.candidates.tolist(), (3, 7), strict=True):
        negatives = row[1:]
        assert own not in negatives and len(set(negatives)) == 4
        # One shared order per batch, each sample skipping itself.
        assert negatives == [p for p in perm if p != own][:4]


@pytest.mark.parametrize("size", [2, 3])
def test_select_random_tiny_bank(size):
    sel = select_random(
        torch.tensor([0]), size, num_negatives=10, generator=torch.Generator().manual_seed(0)
    )
    assert sel.candidates.shape == (1, size)
    assert sorted(sel.candidates[0].tolist()) == list(range(size))
