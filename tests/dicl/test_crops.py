"""Crop-branch geometry: RoIAlign sampling positions checked on coordinate ramps."""

from __future__ import annotations

import pytest
import torch

from pipeline.models.dicl.crops import crop_boxes


def _ramps(height: int = 100, width: int = 80) -> torch.Tensor:
    ys, xs = torch.meshgrid(
        torch.arange(height).float(), torch.arange(width).float(), indexing="ij"
    )
    return torch.stack([xs, ys, xs + ys])[None]  # channel 0 = column, 1 = row


def test_crop_samples_bin_centres_by_hand():
    # box 10..34 x 20..68 to 12 x 6: bins 4 px; column j samples x = 10 + 4 (j + 0.5),
    # i.e. index-space 11.5 + 4 j (pixel k covers [k, k + 1))
    crop = crop_boxes(_ramps(), [torch.tensor([[10.0, 20.0, 34.0, 68.0]])], (12, 6))
    assert crop.shape == (1, 3, 12, 6)
    expected_x = torch.tensor([11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    expected_y = 21.5 + 4 * torch.arange(12).float()
    assert torch.allclose(crop[0, 0], expected_x.expand(12, 6), atol=1e-4)
    assert torch.allclose(crop[0, 1], expected_y[:, None].expand(12, 6), atol=1e-4)


def test_crops_follow_image_order():
    images = torch.cat([_ramps(), _ramps() + 1000])
    boxes = [torch.tensor([[0.0, 0.0, 8.0, 16.0]]), torch.tensor([[0.0, 0.0, 8.0, 16.0]] * 2)]
    crops = crop_boxes(images, boxes, (4, 2))
    assert crops.shape[0] == 3
    assert crops[0].max() < 1000 and crops[1].min() >= 1000 and crops[2].min() >= 1000


def test_no_boxes_gives_an_empty_batch():
    assert crop_boxes(_ramps(), [torch.zeros(0, 4)], (8, 4)).shape == (0, 3, 8, 4)


def test_box_lists_must_match_images():
    with pytest.raises(ValueError, match="box lists"):
        crop_boxes(_ramps(), [], (8, 4))
