"""Part-mask construction: class-activation stripes, parsed masks and rectification."""

from __future__ import annotations

import torch

from pipeline.models.dclnet.part_masks import (
    IGNORE,
    apply_ignore,
    cam_part_masks,
    kept_pixels,
    parsing_masks,
    stripe_window_mask,
)


def test_cam_part_masks_hand_example():
    # One channel, a 6x2 layer4 map in 3 stripes of 2 rows, output at the same size.
    fmap = torch.tensor(
        [[0.0, 1.0], [0.0, 1.0], [5.0, 5.0], [5.0, 9.0], [3.0, 3.0], [3.0, 3.0]]
    ).view(1, 1, 6, 2)
    weight = torch.ones(1, 3)  # class 0, one weight per stripe
    masks = cam_part_masks(fmap, weight, torch.tensor([0]), parts=3, size=(6, 2))
    # Stripe 0: normalised [[0,1],[0,1]], mean 0.5 -> right column is part 1.
    # Stripe 1: normalised [[0,0],[0,1]], mean 0.25 -> one pixel is part 2.
    # Stripe 2: flat -> no evidence, all background.
    expected = torch.tensor([[0, 1], [0, 1], [0, 0], [0, 2], [0, 0], [0, 0]])
    assert torch.equal(masks[0], expected)


def test_cam_part_masks_use_the_given_class_and_stripe_weights():
    fmap = torch.tensor([[1.0, 0.0], [1.0, 0.0]]).view(1, 1, 2, 2).repeat(2, 2, 1, 1)
    fmap[:, 1] = 1.0 - fmap[:, 1]  # channel 1 is the mirror image
    # Class 0 looks at channel 0 in both stripes, class 1 at channel 1.
    weight = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    masks = cam_part_masks(fmap, weight, torch.tensor([0, 1]), parts=2, size=(2, 2))
    assert masks[0].tolist() == [[1, 0], [2, 0]]
    assert masks[1].tolist() == [[0, 1], [0, 2]]


def test_cam_part_masks_upsample_each_stripe_to_its_rows():
    fmap = torch.zeros(1, 1, 6, 3)
    fmap[0, 0, :, 0] = 1.0  # left column active in every stripe
    masks = cam_part_masks(fmap, torch.ones(1, 6), torch.tensor([0]), parts=6, size=(24, 12))
    assert masks.shape == (1, 24, 12)
    for i in range(6):
        rows = masks[0, 4 * i : 4 * i + 4]
        assert set(rows.unique().tolist()) == {0, i + 1}
        assert (rows[:, 0] == i + 1).all() and (rows[:, -1] == 0).all()


def test_parsing_masks_take_fg_then_best_part():
    logits = torch.zeros(1, 8, 6, 1)
    logits[0, 1, :3] = 1.0  # rows 0-2 foreground, rows 3-5 background
    logits[0, 2 + 0, 0] = 5.0  # row 0: part 1 (its own stripe)
    logits[0, 2 + 1, 1] = 5.0  # row 1: part 2 (stripe 1)
    logits[0, 2 + 5, 2] = 5.0  # row 2 (stripe 2) says part 6: far outside its window
    logits[0, 2 + 3, 2] = 1.0  # ... its best allowed part (stripes 1..3) is part 4
    logits[0, 2 + 4, 3] = 5.0  # background row: no part
    free = parsing_masks(logits, window=None)[0, :, 0].tolist()
    rectified = parsing_masks(logits, window=1)[0, :, 0].tolist()
    assert free == [1, 2, 6, 0, 0, 0]
    assert rectified == [1, 2, 4, 0, 0, 0]


def test_stripe_window_mask():
    allowed = stripe_window_mask(6, 3, window=0)
    assert (
        allowed.tolist()
        == [[True, False, False]] * 2 + [[False, True, False]] * 2 + [[False, False, True]] * 2
    )
    assert stripe_window_mask(6, 3, window=1)[0].tolist() == [True, True, False]
    assert stripe_window_mask(6, 3, window=None).all()


def test_kept_pixels_and_ignore():
    images = torch.ones(1, 3, 8, 4)
    images[0, :, 0:4, 0:2] = 0.0  # an erased block (every channel 0)
    images[0, 0, 6, 3] = 0.0  # one channel 0 only: a real pixel
    kept = kept_pixels(images, (4, 2))
    assert kept[0].tolist() == [[False, True], [False, True], [True, True], [True, True]]
    masks = apply_ignore(torch.full((1, 4, 2), 3), kept)
    assert masks[0, :, 0].tolist() == [IGNORE, IGNORE, 3, 3]
