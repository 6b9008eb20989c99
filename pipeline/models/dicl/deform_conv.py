"""Deformable convolution with a learned offset branch, on ``torchvision.ops``.

Dai et al., "Deformable Convolutional Networks" (ICCV 2017). DICL uses it in its
C4/C5 fusion neck and on the RoI features of its head (mmcv ``DeformConv2dPack``
in the official code). detectron2's own ``DeformConv`` needs its compiled ``_C``,
which this installation lacks, so the sampling runs in
``torchvision.ops.deform_conv2d``. The offset branch is a plain convolution with
the same kernel, stride and padding, initialised to zero: the layer starts as an
ordinary convolution and learns where to look.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import deform_conv2d


class DeformConv2dPack(nn.Module):
    """``Conv2d`` replacement whose sampling grid is shifted by predicted offsets.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, bias: as ``nn.Conv2d``.
        offset_groups: groups of input channels sharing one offset field.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        offset_groups: int = 1,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.padding = padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.conv_offset = nn.Conv2d(
            in_channels,
            2 * offset_groups * kernel_size * kernel_size,
            kernel_size,
            stride=stride,
            padding=padding,
        )
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 0:  # no RoIs: deform_conv2d rejects an empty batch
            h = (x.shape[2] + 2 * self.padding - self.weight.shape[2]) // self.stride + 1
            w = (x.shape[3] + 2 * self.padding - self.weight.shape[3]) // self.stride + 1
            return x.new_zeros(0, self.weight.shape[0], h, w) + self.weight.sum() * 0.0
        offset = self.conv_offset(x)
        return deform_conv2d(
            x, offset, self.weight, self.bias, stride=self.stride, padding=self.padding
        )


def make_conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    deformable: bool,
    padding: int = 0,
) -> nn.Module:
    """A deformable or a plain convolution (the paper's ablation switch)."""
    if deformable:
        return DeformConv2dPack(in_channels, out_channels, kernel_size, padding=padding)
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding)
