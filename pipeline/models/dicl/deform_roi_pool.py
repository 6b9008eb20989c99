"""Deformable RoI pooling (mmcv's ``DeformRoIPoolPack``) on torchvision and torch ops.

The official DICL pools every RoI of the scene branch with mmcv's
``DeformRoIPoolPack`` (configs/dicl/cuhk_dicl.py:45-52 of jiabeiwangTJU/DICL:
``output_size=(14, 6)``, ``output_channels=1024``, stride 16; ``deform_fc_channels``
1024, ``sampling_ratio`` 0 and ``gamma`` 0.1 are mmcv's defaults,
mmcv/mmcv/ops/deform_roi_pool.py:110-148). It works in two passes:

1. RoIAlign of each RoI to the output size (the kernel with no offset is
   ``aligned=True`` RoIAlign: box corners scaled and shifted by -0.5, an adaptive
   ``ceil(roi size / bins)`` sample grid per bin, no minimum RoI size) -- here
   :func:`torchvision.ops.roi_align`, the op detectron2's ``ROIAlignV2`` runs;
2. three fully connected layers on the flattened pooled features give a (dx, dy) per
   bin (the last layer zero-initialised, so training starts from plain RoIAlign); bin
   (i, j) is pooled again with its samples moved by ``gamma * roi width * dx`` and
   ``gamma * roi height * dy`` (deform_roi_pool_cuda_kernel.cuh, forward kernel).

The second pass lays every shifted sample point out in one list and samples it with
:func:`torch.nn.functional.grid_sample` (one call per image) on coordinates clamped the way RoIAlign's
bilinear interpolation clamps them (points beyond one pixel outside the map read 0), so
with zero offsets it gives RoIAlign's values and autograd carries gradients to both the
features and the offsets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from detectron2.modeling.poolers import convert_boxes_to_pooler_format
from detectron2.structures import Boxes
from torch import nn
from torchvision.ops import roi_align


def deform_roi_pool(
    features: torch.Tensor,
    rois: torch.Tensor,
    offsets: torch.Tensor,
    output_size: tuple[int, int],
    spatial_scale: float,
    gamma: float,
) -> torch.Tensor:
    """Average of bilinear samples in each RoI bin shifted by ``offsets`` (adaptive grid).

    Every sample point of every RoI is laid out in one flat list (RoIs have
    ``ceil(roi size / bins)`` points per bin side, so their counts differ), sampled
    with one ``grid_sample`` per image and summed into its bin.

    Args:
        features: (N, C, H, W) feature maps.
        rois: (R, 5) rows of (batch index, x1, y1, x2, y2) in image coordinates.
        offsets: (R, 2, ph, pw) normalised bin shifts, x then y (mmcv's layout).
        output_size: (ph, pw) bins.
        spatial_scale: map size / image size (1 / stride).
        gamma: offset scale (mmcv default 0.1).

    Returns:
        (R, C, ph, pw) pooled features.
    """
    # Sample positions in at least float32 (half precision cannot place a point to a pixel
    # on a 100-wide map); the result goes back to the features' dtype.
    out_dtype = features.dtype
    compute = torch.promote_types(features.dtype, torch.float32)
    features, rois, offsets = features.to(compute), rois.to(compute), offsets.to(compute)
    ph, pw = output_size
    bins_per_roi = ph * pw
    num_rois = rois.shape[0]
    num_images, channels, height, width = features.shape
    pooled = features.new_zeros((num_rois * bins_per_roi, channels))
    if num_rois == 0:
        return pooled.reshape(0, channels, ph, pw).to(out_dtype)
    device, dtype = rois.device, rois.dtype
    start = rois[:, 1:3] * spatial_scale - 0.5  # (R, 2): x, y of the RoI's corner
    size = rois[:, 3:5] * spatial_scale - 0.5 - start  # (R, 2): width, height
    bin_size = size / size.new_tensor([pw, ph])
    # RoIAlign's adaptive grid; 0 for an empty or inverted RoI (its bins read 0).
    grid = torch.ceil(bin_size).clamp(min=0).long()  # (R, 2): points across, down
    per_bin = grid[:, 0] * grid[:, 1]
    counts = per_bin * bins_per_roi
    roi_of = torch.repeat_interleave(torch.arange(num_rois, device=device), counts)
    if roi_of.numel() == 0:
        return pooled.reshape(num_rois, channels, ph, pw).to(out_dtype)
    first = torch.cumsum(counts, 0) - counts
    local = torch.arange(roi_of.numel(), device=device) - first[roi_of]
    n_bin = per_bin[roi_of]
    bin_index, sample = local // n_bin, local % n_bin
    across = grid[roi_of, 0]
    row, col = bin_index // pw, bin_index % pw
    iy, ix = sample // across, sample % across
    shift = gamma * size[:, :, None, None] * offsets  # (R, 2, ph, pw) in map pixels
    step_x, step_y = bin_size[roi_of, 0], bin_size[roi_of, 1]
    xs = (
        start[roi_of, 0]
        + shift[roi_of, 0, row, col]
        + col.to(dtype) * step_x
        + (ix.to(dtype) + 0.5) * step_x / across.to(dtype)
    )
    ys = (
        start[roi_of, 1]
        + shift[roi_of, 1, row, col]
        + row.to(dtype) * step_y
        + (iy.to(dtype) + 0.5) * step_y / grid[roi_of, 1].to(dtype)
    )
    # RoIAlign's bilinear rule: beyond one pixel outside reads 0, else clamp to the map.
    inside = (ys >= -1.0) & (ys <= height) & (xs >= -1.0) & (xs <= width)
    norm_x = 2.0 * xs.clamp(min=0, max=width - 1) / max(width - 1, 1) - 1.0
    norm_y = 2.0 * ys.clamp(min=0, max=height - 1) / max(height - 1, 1) - 1.0
    weight = inside.to(features.dtype) / n_bin.to(features.dtype)
    target = roi_of * bins_per_roi + bin_index
    image_of = rois[roi_of, 0].long()
    for image in range(num_images):
        points = torch.nonzero(image_of == image).flatten()
        if points.numel() == 0:
            continue
        where = torch.stack([norm_x[points], norm_y[points]], dim=-1).reshape(1, -1, 1, 2)
        values = F.grid_sample(
            features[image : image + 1], where, mode="bilinear", align_corners=True
        )  # (1, C, P, 1)
        values = values.reshape(channels, -1).t() * weight[points, None]
        pooled = pooled.index_add(0, target[points], values)
    pooled = pooled.reshape(num_rois, ph, pw, channels).permute(0, 3, 1, 2).contiguous()
    return pooled.to(out_dtype)


class DeformRoIPoolPack(nn.Module):
    """mmcv's ``DeformRoIPoolPack`` with detectron2's pooler call (``(features, boxes)``).

    Args:
        output_size: (ph, pw) bins.
        in_channels: channels of the pooled map (the offset branch's input is C * ph * pw).
        spatial_scale: 1 / stride of the map.
        fc_channels: width of the offset branch (mmcv ``deform_fc_channels``).
        gamma: offset scale.
    """

    def __init__(
        self,
        output_size: tuple[int, int],
        in_channels: int,
        spatial_scale: float,
        fc_channels: int,
        gamma: float,
    ) -> None:
        super().__init__()
        self.output_size = (int(output_size[0]), int(output_size[1]))
        self.spatial_scale = float(spatial_scale)
        self.gamma = float(gamma)
        bins = self.output_size[0] * self.output_size[1]
        self.offset_fc = nn.Sequential(
            nn.Linear(bins * in_channels, fc_channels),
            nn.ReLU(inplace=True),
            nn.Linear(fc_channels, fc_channels),
            nn.ReLU(inplace=True),
            nn.Linear(fc_channels, bins * 2),
        )
        # Zero offsets at the start: the module begins as plain RoIAlign (as mmcv).
        nn.init.zeros_(self.offset_fc[-1].weight)
        nn.init.zeros_(self.offset_fc[-1].bias)

    def pool_rois(self, feature: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """Deformable pooling of (R, 5) ``rois`` on one (N, C, H, W) map."""
        aligned = roi_align(
            feature,
            rois.to(feature.dtype),  # as detectron2's ROIAlign
            self.output_size,
            spatial_scale=self.spatial_scale,
            sampling_ratio=0,
            aligned=True,
        )
        offsets = self.offset_fc(aligned.flatten(1)).view(-1, 2, *self.output_size)
        return deform_roi_pool(
            feature, rois, offsets, self.output_size, self.spatial_scale, self.gamma
        )

    def forward(self, features: list[torch.Tensor], boxes: list[Boxes]) -> torch.Tensor:
        (feature,) = features
        return self.pool_rois(feature, convert_boxes_to_pooler_format(boxes))
