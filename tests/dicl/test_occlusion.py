"""OIC masking: cell geometry by hand, fill value, probability and the unmasked original."""

from __future__ import annotations

import torch

from pipeline.models.dicl.occlusion import cell_rectangles, mask_boxes

BOX = (10.7, 20.2, 70.9, 160.5)  # whole pixels 10..70 x 20..160: cells 10 x 10 on a 14 x 6 grid


def test_cell_rectangles_by_hand():
    rects = cell_rectangles(BOX, (14, 6), [(0, 0), (13, 5), (3, 2)])
    assert rects == [(20, 30, 10, 20), (150, 160, 60, 70), (50, 60, 30, 40)]


def test_cells_use_integer_cell_sizes():
    # 65 x 143 px: cells 65 // 6 = 10 wide, 143 // 14 = 10 high
    assert cell_rectangles((0, 0, 65, 143), (14, 6), [(13, 5)]) == [(130, 140, 50, 60)]


def test_small_boxes_are_left_alone():
    assert cell_rectangles((5, 5, 8, 40), (14, 6), [(0, 0)]) == []


def test_masking_fills_two_cells_with_the_channel_mean():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 200, 100)
    image[:, :, 180:, :] = 0  # padding outside the valid area must not enter the mean
    boxes = [torch.tensor([BOX])]
    original = image.clone()
    out = mask_boxes(image, boxes, [(180, 100)], prob=1.0, grid=(14, 6), cells=2)
    mean = image[0, :, :180, :].mean(dim=(1, 2))
    changed = (out != image).any(dim=1)[0]
    assert changed[:20].sum() == 0 and changed[160:].sum() == 0  # only inside the box rows
    filled = (out[0] == mean[:, None, None]).all(dim=0)
    assert filled.sum().item() in (100, 200)  # two 10x10 cells (or one, when both draws coincide)
    assert torch.equal(image, original)  # the input (crops come from it) is not modified
    assert not torch.equal(out, image)


def test_probability_zero_changes_nothing():
    image = torch.rand(2, 3, 64, 64)
    boxes = [torch.tensor([[0.0, 0.0, 30.0, 60.0]]), torch.zeros(0, 4)]
    out = mask_boxes(image, boxes, [(64, 64), (64, 64)], prob=0.0)
    assert torch.equal(out, image)


def test_masking_is_reproducible_with_a_generator():
    image = torch.rand(1, 3, 200, 100)
    boxes = [torch.tensor([BOX, (0.0, 0.0, 60.0, 140.0)])]
    runs = [
        mask_boxes(image, boxes, [(200, 100)], prob=0.5, generator=torch.Generator().manual_seed(3))
        for _ in range(2)
    ]
    assert torch.equal(runs[0], runs[1])
