"""Part-mask construction: class-activation stripes, parsed masks, stripes and ``remask``."""

from __future__ import annotations

import torch

from pipeline.models.dclnet.part_masks import (
    IGNORE,
    apply_ignore,
    cam_part_masks,
    kept_pixels,
    parsing_masks,
    remask,
    stripe_masks,
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
    logits[0, 2 + 0, 0] = 5.0  # row 0: part 1
    logits[0, 2 + 1, 1] = 5.0  # row 1: part 2
    logits[0, 2 + 5, 2] = 5.0  # row 2 says part 6: kept (no window without SRM)
    logits[0, 2 + 4, 3] = 5.0  # background row: no part
    assert parsing_masks(logits)[0, :, 0].tolist() == [1, 2, 6, 0, 0, 0]


def test_stripe_masks_label_every_pixel_with_its_stripe():
    masks = stripe_masks(2, (6, 2), parts=3)
    assert masks.shape == (2, 6, 2)
    assert (
        masks[1, :, 0].tolist() == [1, 1, 2, 2, 3, 3] and (masks[:, :, 1] == masks[:, :, 0]).all()
    )


def _unit(*angles_deg: float) -> torch.Tensor:
    """(1, 2, len, 1) map of unit vectors (cos, sin) at the given angles, one per row."""
    rad = torch.tensor(angles_deg, dtype=torch.float64).deg2rad()
    return torch.stack((rad.cos(), rad.sin())).view(1, 2, len(angles_deg), 1)


# Six one-pixel rows in 3 stripes of 2 (the official flat cut: 6 // 3 pixels each).
# Features: (1,0), (0,1) | (0,1), (0.8,-0.6) | (-1,0), (1,0); labels 1, 1 | 2, bg | 3, erased.
# Prototypes: part 1 = mean of (1,0), (0,1) -> (0.707, 0.707); part 2 = (0,1); part 3 = (-1,0).
# Cosines (part 1, 2, 3): row 0 .707, 0, -1; row 1 .707, 1, 0; row 2 .707, 1, 0;
# row 3 .141, -.6, -.8; row 4 -.707, 0, 1; row 5 .707, 0, -1.
MAP = _unit(0.0, 90.0, 90.0, -36.869897645844, 180.0, 0.0)
LABELS = torch.tensor([[1, 1, 2, 0, 3, -1]]).view(1, 6, 1)


def test_remask_window_one_with_the_parsers_foreground():
    # Window +-1: stripe 0 may take parts 1-2, stripe 1 parts 1-3, stripe 2 parts 2-3.
    # Best allowed: 1, 2 | 2, 1 | 3, 2 (row 5 would be part 1, outside its window).
    # Foreground = the given labels > 0: rows 0, 1, 2, 4.
    out = remask(MAP, LABELS, parts=3, window=1, foreground=LABELS)
    assert out[0, :, 0].tolist() == [1, 2, 2, 0, 3, 0]


def test_remask_window_zero_keeps_each_stripe_to_its_part():
    out = remask(MAP, LABELS, parts=3, window=0, foreground=LABELS)
    assert out[0, :, 0].tolist() == [1, 1, 2, 0, 3, 0]


def test_remask_without_foreground_keeps_pixels_above_their_stripe_mean():
    # Best similarities per stripe: (.707, 1) mean .854 | (1, .141) mean .571 | (1, 0) mean .5.
    out = remask(MAP, LABELS, parts=3, window=1)
    assert out[0, :, 0].tolist() == [0, 2, 2, 0, 3, 0]


def test_remask_never_picks_an_absent_part_and_leaves_the_cut_remainder_background():
    # 7 pixels in 3 stripes: 2 each, pixel 6 lies past the official cut. No pixel is part 2.
    fmap = _unit(0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 0.0)
    labels = torch.tensor([1, 1, 0, 0, 3, 3, 3]).view(1, 7, 1)
    out = remask(fmap, labels, parts=3, window=0, foreground=torch.ones(1, 7, 1))
    assert out[0, :, 0].tolist() == [1, 1, 0, 0, 3, 3, 0]


def test_kept_pixels_and_ignore():
    images = torch.ones(1, 3, 8, 4)
    images[0, :, 0:4, 0:2] = 0.0  # an erased block (every channel 0)
    images[0, 0, 6, 3] = 0.0  # one channel 0 only: a real pixel
    kept = kept_pixels(images, (4, 2))
    assert kept[0].tolist() == [[False, True], [False, True], [True, True], [True, True]]
    masks = apply_ignore(torch.full((1, 4, 2), 3), kept)
    assert masks[0, :, 0].tolist() == [IGNORE, IGNORE, 3, 3]
