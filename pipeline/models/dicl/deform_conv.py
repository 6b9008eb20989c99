"""Deformable convolution with a learned offset branch, on ``torchvision.ops``.

Dai et al., "Deformable Convolutional Networks" (ICCV 2017). DICL uses it in its
C4/C5 fusion neck and on the RoI features of its head (mmcv ``DeformConv2dPack``
in the official code). detectron2's own ``DeformConv`` needs its compiled ``_C``,
which this installation lacks. The sampling is :func:`deform_conv2d_sampled`:
each kernel tap's shifted position is read bilinearly with four gathers (zero
outside the map) and the taps are contracted with the weights in one matrix
product. It computes what ``torchvision.ops.deform_conv2d`` computes (the tests
compare values and gradients), but its backward pass is vectorised: torchvision's
CPU backward loops over positions in one thread and took over half of a training
step. The offset branch is a plain convolution with the same kernel, stride and
padding, initialised to zero: the layer starts as an ordinary convolution and
learns where to look.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _bilinear(
    image: torch.Tensor, y: torch.Tensor, x: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Bilinear reads of (B, C, H*W) ``image`` at (B, P) points ``y``, ``x`` -> (B, C, P).

    torchvision's convention, gradients included: the four corners come from
    ``floor`` (so at a whole pixel the position's gradient is the forward
    difference), and corners outside the map read zero.
    """
    y0, x0 = torch.floor(y), torch.floor(x)
    ly, lx = y - y0, x - x0
    y0, x0 = y0.long(), x0.long()
    channels = image.shape[1]
    out = None
    for dy, wy in ((0, 1 - ly), (1, ly)):
        for dx, wx in ((0, 1 - lx), (1, lx)):
            yy, xx = y0 + dy, x0 + dx
            valid = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
            index = (yy.clamp(0, height - 1) * width + xx.clamp(0, width - 1)).unsqueeze(1)
            values = torch.gather(image, 2, index.expand(-1, channels, -1))
            term = values * (wy * wx * valid.to(image.dtype)).unsqueeze(1)
            out = term if out is None else out + term
    return out


def deform_conv2d_sampled(
    x: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    *,
    stride: int = 1,
    padding: int = 0,
) -> torch.Tensor:
    """Deformable convolution (Dai et al. 2017), torchvision's offset layout.

    Args:
        x: (N, C, H, W) input.
        offset: (N, 2 * G * kh * kw, Ho, Wo); for offset group g and kernel tap k
            (row-major), channels ``2 * (g * kh * kw + k)`` and ``+ 1`` hold the
            (dy, dx) shift of that tap in input pixels; group g reads input channels
            ``g * C / G`` to ``(g + 1) * C / G``.
        weight: (O, C, kh, kw); bias: (O,) or None.
        stride, padding: as ``Conv2d`` (square).

    Returns:
        (N, O, Ho, Wo). A tap landing between pixels is interpolated bilinearly;
        pixels outside the map count as zero.
    """
    n, c, h, w = x.shape
    out_channels, _, kh, kw = weight.shape
    ho, wo = offset.shape[-2:]
    taps = kh * kw
    groups = offset.shape[1] // (2 * taps)
    if groups * 2 * taps != offset.shape[1] or c % groups:
        raise ValueError(
            f"offset has {offset.shape[1]} channels: not 2 x groups x {taps} taps dividing "
            f"{c} input channels"
        )
    dtype, device = x.dtype, x.device
    # Each output position's undeformed taps, in input pixels: (taps, Ho, Wo).
    rows = torch.arange(ho, device=device, dtype=dtype) * stride - padding
    cols = torch.arange(wo, device=device, dtype=dtype) * stride - padding
    ki, kj = torch.meshgrid(
        torch.arange(kh, device=device, dtype=dtype),
        torch.arange(kw, device=device, dtype=dtype),
        indexing="ij",
    )
    shift = offset.view(n * groups, taps, 2, ho, wo)
    y = (ki.reshape(taps, 1, 1) + rows.view(1, ho, 1)) + shift[:, :, 0]  # (N*G, taps, Ho, Wo)
    xs = (kj.reshape(taps, 1, 1) + cols.view(1, 1, wo)) + shift[:, :, 1]
    sampled = _bilinear(
        x.reshape(n * groups, c // groups, h * w), y.flatten(1), xs.flatten(1), h, w
    )
    # (N*G, C/G, taps * Ho * Wo) -> channel-major, tap-minor columns: the weight's order.
    columns = sampled.view(n, c * taps, ho * wo)
    out = torch.matmul(weight.reshape(out_channels, c * taps), columns)
    if bias is not None:
        out = out + bias.view(1, -1, 1)
    return out.view(n, out_channels, ho, wo)


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
        return deform_conv2d_sampled(
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
