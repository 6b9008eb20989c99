"""DICL's RoI head: a deformable 3x3 convolution, cls/box towers and the re-id embedding.

Official ``DICLHead`` (``mmdet/models/roi_heads/bbox_heads/dicl_head.py``): every
14 x 6 RoI feature map (and every crop's 14 x 6 map) first goes through one
deformable 3x3 convolution (shared, no activation). From there

* classification tower: ``num_convs`` x (3x3 conv ``conv_dim``, BN, ReLU), global
  average pooling; the predictor's ``Linear`` gives person / background logits;
* box tower: the same, separate weights; the predictor's ``Linear`` gives deltas;
* re-id: the whole map flattened, ``Linear(C * 14 * 6 -> 256)``, L2-normalised.

The crop branch uses only the deformable convolution and the embedding, so scene
and crop embeddings share every weight.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from torch import nn

from pipeline.models.dicl.deform_conv import make_conv


def _tower(in_channels: int, conv_dim: int, num_convs: int, norm: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(num_convs):
        conv = Conv2d(
            in_channels if k == 0 else conv_dim,
            conv_dim,
            kernel_size=3,
            padding=1,
            bias=not norm,
            norm=get_norm(norm, conv_dim),
            activation=nn.ReLU(),
        )
        nn.init.normal_(conv.weight, std=0.01)  # official normal_init(std=0.01)
        if conv.bias is not None:
            nn.init.zeros_(conv.bias)
        layers.append(conv)
    return nn.Sequential(*layers)


class DICLBoxHead(nn.Module):
    """Shared deformable conv, classification and box towers, re-id embedding.

    Args:
        input_shape: channels and (height, width) of one RoI feature map.
        conv_dim: tower width (512 in the paper).
        num_convs: convolutions per tower (2).
        norm: tower normalisation (``BN`` in the paper; ``GN`` or ``""``).
        embedding_dim: re-id embedding size (256).
        deformable: deformable (paper) or plain 3x3 first convolution.
    """

    def __init__(
        self,
        input_shape: ShapeSpec,
        *,
        conv_dim: int,
        num_convs: int,
        norm: str,
        embedding_dim: int,
        deformable: bool,
    ) -> None:
        super().__init__()
        channels = input_shape.channels
        self.roi_size = (input_shape.height, input_shape.width)
        self.first_conv = make_conv(channels, channels, 3, deformable=deformable, padding=1)
        self.cls_tower = _tower(channels, conv_dim, num_convs, norm)
        self.box_tower = _tower(channels, conv_dim, num_convs, norm)
        self.embedding = nn.Linear(channels * input_shape.height * input_shape.width, embedding_dim)
        self._output_size = conv_dim if num_convs > 0 else channels

    @property
    def output_shape(self) -> ShapeSpec:
        """Width of the pooled tower features fed to the box predictor."""
        return ShapeSpec(channels=self._output_size)

    def embed_refined(self, refined: torch.Tensor) -> torch.Tensor:
        # L2 in float32 (a no-op in fp32 runs): under bf16 autocast the re-id losses and
        # the memory get float32 unit vectors.
        return F.normalize(self.embedding(refined.flatten(1)).float(), dim=1)

    def embed(self, maps: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings of (R, C, h, w) maps (the crop branch's path)."""
        if maps.shape[-2:] != self.roi_size:
            # A crop size that is not roi_size * stride still yields the embedding's grid.
            maps = F.adaptive_avg_pool2d(maps, self.roi_size)
        return self.embed_refined(self.first_conv(maps))

    def forward(self, roi_maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns ``(cls_features (R, D), box_features (R, D), embeddings (R, E))``."""
        refined = self.first_conv(roi_maps)
        cls_feat = torch.flatten(F.adaptive_avg_pool2d(self.cls_tower(refined), 1), 1)
        box_feat = torch.flatten(F.adaptive_avg_pool2d(self.box_tower(refined), 1), 1)
        return cls_feat, box_feat, self.embed_refined(refined)
