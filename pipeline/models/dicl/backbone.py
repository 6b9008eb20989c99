"""DICL backbone: a ResNet whose C5 stays at stride 16, fused with C4 into one map.

Official configuration (``configs/dicl/cuhk_dicl.py``): caffe-style ResNet-50 with
stage strides (1, 2, 2, 1) and no dilation, stage 1 and BN frozen; neck
``FPNs16C45add``: a 1x1 (deformable) lateral convolution takes C5 to C4's width,
is added to C4, and a deformable 3x3 convolution with a residual connection
refines the sum. The output is a single stride-16 map (1024 channels for
ResNet-50) named ``s16``, shared by the RPN, the RoI head and the crop branch.

The ResNet is assembled from detectron2's blocks (``BasicStem``, ``BasicBlock``,
``BottleneckBlock``, ``ResNet.make_stage``) with a configurable width so the
synthetic option can run a narrow ResNet-18 from scratch on a CPU.
"""

from __future__ import annotations

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from detectron2.modeling.backbone.resnet import BasicBlock, BasicStem, BottleneckBlock, ResNet
from torch import nn

from pipeline.models.dicl.deform_conv import make_conv

BLOCKS_PER_STAGE = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3]}


def build_stride16_resnet(
    *,
    depth: int,
    width: int,
    norm: str,
    freeze_at: int,
    stride_in_1x1: bool,
    in_channels: int = 3,
) -> ResNet:
    """ResNet with stage strides (1, 2, 2, 1): res4 and res5 both at stride 16.

    Args:
        depth: 18/34 (basic blocks) or 50/101 (bottlenecks).
        width: stem channels; the standard ResNet has 64.
        norm: detectron2 norm name (``FrozenBN``, ``BN``, ``GN``, ``SyncBN``).
        freeze_at: freeze the stem (1) and stages res2.. below this index.
        stride_in_1x1: caffe-style bottleneck stride placement.
    """
    if depth not in BLOCKS_PER_STAGE:
        raise ValueError(
            f"ResNet depth {depth} not supported; use one of {sorted(BLOCKS_PER_STAGE)}"
        )
    stem = BasicStem(in_channels=in_channels, out_channels=width, norm=norm)
    bottleneck = depth >= 50
    stage_in = width
    stage_out = width * 4 if bottleneck else width
    stages = []
    for index, num_blocks in enumerate(BLOCKS_PER_STAGE[depth]):
        first_stride = 2 if index in (1, 2) else 1  # res2 and res5 keep the resolution
        kwargs = {
            "num_blocks": num_blocks,
            "stride_per_block": [first_stride] + [1] * (num_blocks - 1),
            "in_channels": stage_in,
            "out_channels": stage_out,
            "norm": norm,
        }
        if bottleneck:
            kwargs.update(
                block_class=BottleneckBlock,
                bottleneck_channels=stage_out // 4,
                stride_in_1x1=stride_in_1x1,
            )
        else:
            kwargs["block_class"] = BasicBlock
        stages.append(ResNet.make_stage(**kwargs))
        stage_in, stage_out = stage_out, stage_out * 2
    return ResNet(stem, stages, out_features=["res4", "res5"], freeze_at=freeze_at)


class C45FusionBackbone(Backbone):
    """ResNet bottom-up + DICL's C4/C5 fusion neck; one output ``s16``.

    Args:
        bottom_up: a backbone returning ``res4`` and ``res5`` at the same stride.
        deformable: deformable lateral and fusion convolutions (official) or plain ones.
    """

    def __init__(self, bottom_up: Backbone, *, deformable: bool) -> None:
        super().__init__()
        shapes = bottom_up.output_shape()
        if shapes["res4"].stride != shapes["res5"].stride:
            raise ValueError("C4/C5 fusion needs res4 and res5 at the same stride")
        self.bottom_up = bottom_up
        c4, c5 = shapes["res4"].channels, shapes["res5"].channels
        self.lateral = make_conv(c5, c4, 1, deformable=deformable)
        self.fuse = make_conv(c4, c4, 3, deformable=deformable, padding=1)
        for module in (self.lateral, self.fuse):
            weight = module.weight
            nn.init.xavier_uniform_(weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        self._out_features = ["s16"]
        self._out_feature_channels = {"s16": c4}
        self._out_feature_strides = {"s16": shapes["res4"].stride}

    @property
    def size_divisibility(self) -> int:
        return 32  # the official pipeline pads to multiples of 32

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.bottom_up(x)
        summed = feats["res4"] + self.lateral(feats["res5"])
        return {"s16": self.fuse(summed) + summed}

    def output_shape(self) -> dict[str, ShapeSpec]:
        return {
            "s16": ShapeSpec(
                channels=self._out_feature_channels["s16"],
                stride=self._out_feature_strides["s16"],
            )
        }


@BACKBONE_REGISTRY.register()
def build_dicl_backbone(cfg, input_shape: ShapeSpec) -> C45FusionBackbone:
    """detectron2 builder: ``cfg.MODEL.BACKBONE.NAME = "build_dicl_backbone"``."""
    r = cfg.MODEL.RESNETS
    bottom_up = build_stride16_resnet(
        depth=r.DEPTH,
        width=r.STEM_OUT_CHANNELS,
        norm=r.NORM,
        freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
        stride_in_1x1=r.STRIDE_IN_1X1,
        in_channels=input_shape.channels,
    )
    return C45FusionBackbone(bottom_up, deformable=cfg.MODEL.DICL.NECK_DEFORMABLE)
