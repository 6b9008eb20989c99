"""Deformable RoI pooling against a loop reference of mmcv's kernel, RoIAlign and gradcheck."""

from __future__ import annotations

import math

import pytest
import torch
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Boxes
from torchvision.ops import roi_align

from pipeline.models.dicl.deform_roi_pool import DeformRoIPoolPack, deform_roi_pool


def _bilinear(plane: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """RoIAlign's bilinear_interpolate on one (H, W) plane, written as the kernel reads."""
    height, width = plane.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return plane.new_zeros(())
    y = torch.clamp(y, min=0)
    x = torch.clamp(x, min=0)
    y_low = int(math.floor(y.item()))
    x_low = int(math.floor(x.item()))
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = y.new_tensor(float(y_low)) + 0 * y
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = x.new_tensor(float(x_low)) + 0 * x
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    return (
        hy * hx * plane[y_low, x_low]
        + hy * lx * plane[y_low, x_high]
        + ly * hx * plane[y_high, x_low]
        + ly * lx * plane[y_high, x_high]
    )


def _reference(features, rois, offsets, output_size, scale, gamma):
    """deform_roi_pool_forward_cuda_kernel, one output element at a time."""
    ph, pw = output_size
    out = []
    for n in range(rois.shape[0]):
        image = int(rois[n, 0])
        x1, y1, x2, y2 = (rois[n, k] * scale - 0.5 for k in range(1, 5))
        roi_w, roi_h = x2 - x1, y2 - y1
        bin_w, bin_h = roi_w / pw, roi_h / ph
        grid_h = int(math.ceil((roi_h / ph).item()))
        grid_w = int(math.ceil((roi_w / pw).item()))
        channels = []
        for c in range(features.shape[1]):
            plane = features[image, c]
            rows = []
            for i in range(ph):
                row = []
                for j in range(pw):
                    start_w = x1 + gamma * roi_w * offsets[n, 0, i, j]
                    start_h = y1 + gamma * roi_h * offsets[n, 1, i, j]
                    total = features.new_zeros(())
                    for iy in range(grid_h):
                        y = start_h + i * bin_h + (iy + 0.5) * bin_h / grid_h
                        for ix in range(grid_w):
                            x = start_w + j * bin_w + (ix + 0.5) * bin_w / grid_w
                            total = total + _bilinear(plane, y, x)
                    row.append(total / max(grid_h * grid_w, 1))
                rows.append(torch.stack(row))
            channels.append(torch.stack(rows))
        out.append(torch.stack(channels))
    return torch.stack(out)


def _case(dtype=torch.float64):
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(2, 3, 9, 11, generator=gen, dtype=dtype)
    # image coordinates at scale 1/2: boxes inside, crossing the border, tiny, large
    rois = torch.tensor(
        [
            [0, 2.0, 3.0, 14.0, 15.0],
            [1, -3.0, 1.0, 9.0, 20.0],
            [0, 10.0, 6.0, 11.5, 7.0],
            [1, 0.0, 0.0, 22.0, 18.0],
            [0, 15.0, 4.0, 25.0, 17.0],
        ],
        dtype=dtype,
    )
    offsets = 0.6 * torch.randn(len(rois), 2, 3, 2, generator=gen, dtype=dtype)
    return features, rois, offsets


def test_values_and_gradients_match_the_loop_reference() -> None:
    features, rois, offsets = _case()
    feats_a = features.clone().requires_grad_(True)
    offs_a = offsets.clone().requires_grad_(True)
    feats_b = features.clone().requires_grad_(True)
    offs_b = offsets.clone().requires_grad_(True)
    got = deform_roi_pool(feats_a, rois, offs_a, (3, 2), 0.5, 0.1)
    want = _reference(feats_b, rois, offs_b, (3, 2), 0.5, 0.1)
    torch.testing.assert_close(got, want)
    weights = torch.randn(got.shape, generator=torch.Generator().manual_seed(1), dtype=got.dtype)
    (got * weights).sum().backward()
    (want * weights).sum().backward()
    torch.testing.assert_close(feats_a.grad, feats_b.grad)
    torch.testing.assert_close(offs_a.grad, offs_b.grad)
    assert offs_a.grad.abs().sum() > 0


def test_zero_offsets_are_roialign_and_detectron2s_pooler() -> None:
    features, rois, _ = _case(torch.float32)
    zero = torch.zeros(len(rois), 2, 3, 2)
    got = deform_roi_pool(features, rois, zero, (3, 2), 0.5, 0.1)
    want = roi_align(features, rois, (3, 2), spatial_scale=0.5, sampling_ratio=0, aligned=True)
    torch.testing.assert_close(got, want)
    pooler = ROIPooler((3, 2), scales=(0.5,), sampling_ratio=0, pooler_type="ROIAlignV2")
    boxes = [Boxes(rois[rois[:, 0] == i, 1:]) for i in range(2)]
    module = DeformRoIPoolPack((3, 2), in_channels=3, spatial_scale=0.5, fc_channels=8, gamma=0.1)
    torch.testing.assert_close(module([features], boxes), pooler([features], boxes))


def test_gradcheck_features_and_offsets() -> None:
    features, rois, offsets = _case()
    features = features[:, :2, :6, :7].contiguous().requires_grad_(True)
    rois = rois[:3] * 0.6
    # away from the kinks of the bilinear weights (samples on integer coordinates)
    offsets = offsets[:3].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda f, o: deform_roi_pool(f, rois, o, (3, 2), 0.5, 0.1), (features, offsets)
    )


def test_offset_branch_learns_from_the_loss() -> None:
    features, rois, _ = _case(torch.float32)
    module = DeformRoIPoolPack((3, 2), in_channels=3, spatial_scale=0.5, fc_channels=8, gamma=0.1)
    boxes = [Boxes(rois[rois[:, 0] == i, 1:]) for i in range(2)]
    module([features], boxes).square().sum().backward()
    # zero-initialised last layer: its weight's gradient is what moves the offsets first
    assert module.offset_fc[-1].weight.grad.abs().sum() > 0


def test_empty_rois() -> None:
    features, _, _ = _case(torch.float32)
    got = deform_roi_pool(features, torch.zeros(0, 5), torch.zeros(0, 2, 3, 2), (3, 2), 0.5, 0.1)
    assert got.shape == (0, 3, 3, 2)


@pytest.mark.parametrize("gamma", [0.0, 0.3])
def test_gamma_scales_the_shift(gamma: float) -> None:
    features, rois, offsets = _case()
    got = deform_roi_pool(features, rois, offsets, (3, 2), 0.5, gamma)
    torch.testing.assert_close(got, _reference(features, rois, offsets, (3, 2), 0.5, gamma))


def test_half_precision_features_sample_at_float32_positions() -> None:
    features, rois, offsets = _case(torch.float32)
    low = features.bfloat16()
    got = deform_roi_pool(low, rois, offsets, (3, 2), 0.5, 0.1)
    assert got.dtype == torch.bfloat16
    want = deform_roi_pool(low.float(), rois, offsets, (3, 2), 0.5, 0.1)
    torch.testing.assert_close(got.float(), want, rtol=1e-2, atol=1e-2)
