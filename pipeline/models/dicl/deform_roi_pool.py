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

The second pass samples every shifted point with
:func:`torch.nn.functional.grid_sample` on coordinates clamped the way RoIAlign's
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


def _bin_grids(rois: torch.Tensor, output_size: tuple[int, int], spatial_scale: float):
    """Per RoI: start (x, y), bin size (w, h) on the map, and the sample grid (gh, gw)."""
    start = rois[:, 1:3] * spatial_scale - 0.5
    end = rois[:, 3:5] * spatial_scale - 0.5
    size = end - start  # (R, 2): width, height
    bins = size / size.new_tensor([output_size[1], output_size[0]])
    # One host read for the whole batch: the grids decide how many points are sampled.
    grid = torch.ceil(size / size.new_tensor([output_size[1], output_size[0]]))
    # A grid of 0 (an empty or inverted RoI) samples nothing: the bin reads 0, as RoIAlign.
    return start, bins, grid.clamp(min=0).long().cpu()


def deform_roi_pool(
    features: torch.Tensor,
    rois: torch.Tensor,
    offsets: torch.Tensor,
    output_size: tuple[int, int],
    spatial_scale: float,
    gamma: float,
) -> torch.Tensor:
    """Average of bilinear samples in each RoI bin shifted by ``offsets`` (adaptive grid).

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
    ph, pw = output_size
    num_rois = rois.shape[0]
    n, c, height, width = features.shape
    if num_rois == 0:
        return features.new_zeros((0, c, ph, pw))
    start, bins, grid = _bin_grids(rois, output_size, spatial_scale)
    size = bins * bins.new_tensor([pw, ph])
    shift = gamma * size[:, :, None, None] * offsets  # (R, 2, ph, pw) in map pixels
    bin_j = torch.arange(pw, device=rois.device, dtype=rois.dtype)
    bin_i = torch.arange(ph, device=rois.device, dtype=rois.dtype)
    # Bin origins (R, ph, pw): x and y of each bin's top-left corner after the shift.
    x0 = start[:, 0, None, None] + bin_j[None, None, :] * bins[:, 0, None, None] + shift[:, 0]
    y0 = start[:, 1, None, None] + bin_i[None, :, None] * bins[:, 1, None, None] + shift[:, 1]

    parts, order = [], []
    batch_index = rois[:, 0].long().cpu()
    # RoIs sharing a sample grid and an image are sampled together (one grid_sample each).
    keys = torch.stack([batch_index, grid[:, 0], grid[:, 1]], dim=1)
    for key in torch.unique(keys, dim=0).tolist():
        image, gw, gh = key
        if gw == 0 or gh == 0:
            continue
        members = torch.nonzero((keys == torch.tensor(key)).all(dim=1)).flatten()
        members_dev = members.to(rois.device)
        frac_x = (torch.arange(gw, device=rois.device, dtype=rois.dtype) + 0.5) / gw
        frac_y = (torch.arange(gh, device=rois.device, dtype=rois.dtype) + 0.5) / gh
        bw = bins[members_dev, 0, None, None, None, None]
        bh = bins[members_dev, 1, None, None, None, None]
        # (m, ph, pw, gh, gw) sample coordinates on the map
        xs = x0[members_dev][:, :, :, None, None] + frac_x[None, None, None, None, :] * bw
        ys = y0[members_dev][:, :, :, None, None] + frac_y[None, None, None, :, None] * bh
        xs, ys = torch.broadcast_tensors(xs, ys)
        # RoIAlign's bilinear rule: beyond one pixel outside reads 0, else clamp to the map.
        inside = (ys >= -1.0) & (ys <= height) & (xs >= -1.0) & (xs <= width)
        xs = xs.clamp(min=0, max=width - 1)
        ys = ys.clamp(min=0, max=height - 1)
        norm_x = 2.0 * xs / max(width - 1, 1) - 1.0
        norm_y = 2.0 * ys / max(height - 1, 1) - 1.0
        points = torch.stack([norm_x, norm_y], dim=-1).reshape(1, -1, 1, 2)
        samples = F.grid_sample(
            features[image : image + 1], points, mode="bilinear", align_corners=True
        )  # (1, C, P, 1)
        samples = samples.reshape(c, len(members), ph * pw, gh * gw)
        samples = samples * inside.reshape(1, len(members), ph * pw, gh * gw)
        parts.append((samples.sum(-1) / (gh * gw)).transpose(0, 1))
        order.append(members)
    empty = num_rois - sum(len(m) for m in order)
    if empty:
        parts.append(features.new_zeros((empty, c, ph * pw)))
        order.append(torch.nonzero((grid == 0).any(dim=1)).flatten())
    # Back to the RoIs' order: position k of the concatenation holds RoI order[k].
    inverse = torch.empty(num_rois, dtype=torch.long)
    inverse[torch.cat(order)] = torch.arange(num_rois)
    pooled = torch.cat(parts)[inverse.to(features.device)]
    return pooled.reshape(num_rois, c, ph, pw)


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
            rois,
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
        rois = convert_boxes_to_pooler_format(boxes)
        return self.pool_rois(feature, rois.to(feature.dtype))
