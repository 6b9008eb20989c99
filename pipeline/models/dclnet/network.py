"""DCLNet (Sun et al., "Not All Pixels Are Matched", ACM MM 2022): the network.

Two-stream ResNet (modality-specific stem + layer1, shared layer2-4, last
stride 1); global branch: GeM (p=3) -> BNNeck -> bias-free ID classifier;
part branch: GeM of 6 horizontal stripes of the layer4 map, concatenated,
detached (it serves the class-activation masks, not the backbone) -> BN ->
bias-free classifier; part-aware parser: one pixel classifier per modality over
the detached stem/layer1..layer4 maps at the layer1 resolution. The retrieval
feature is the BNNeck output (L2-normalised by the caller), as in the official
test code.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from pipeline.models.dclnet.backbone import TwoStreamResNet, load_pretrained
from pipeline.models.dclnet.parsing import PixelClassifier
from pipeline.models.dclnet.pooling import GeM, stripe_gem


class TrainOutputs(NamedTuple):
    """What one training forward pass returns (visible images first, then infrared).

    A named tuple: DDP finds the output tensors in tuples (not in dataclasses).
    """

    pooled: torch.Tensor  # (2B, C) GeM features before BNNeck (metric loss)
    logits: torch.Tensor  # (2B, classes) ID logits of the BNNeck feature
    part_logits: torch.Tensor  # (2B, classes) part-branch ID logits
    visible_low: torch.Tensor  # (B, C1, H1, W1) visible layer1 maps (dense loss)
    infrared_low: torch.Tensor  # (B, C1, H1, W1)
    high: torch.Tensor  # (2B, C, h, w) detached layer4 maps (class activations)
    pixel_logits: torch.Tensor  # (2B, 2 + parts, H1, W1) parser logits


def _bnneck(channels: int) -> nn.BatchNorm1d:
    """BNNeck (Luo et al. 2019): BN without a learnt shift, weight ~ N(1, 0.01)."""
    bn = nn.BatchNorm1d(channels)
    nn.init.normal_(bn.weight, 1.0, 0.01)
    nn.init.zeros_(bn.bias)
    bn.bias.requires_grad_(False)
    return bn


def _classifier(channels: int, num_classes: int) -> nn.Linear:
    fc = nn.Linear(channels, num_classes, bias=False)
    nn.init.normal_(fc.weight, 0.0, 0.001)
    return fc


class DCLNet(nn.Module):
    """The DCLNet model.

    Args:
        num_classes: training identities.
        depth, width, last_stride: the ResNet (see :class:`TwoStreamResNet`).
        gem_p: GeM exponent of the global and part pooling.
        parts: horizontal stripes of the part branch and part classes of the parser.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        depth: int = 50,
        width: int = 64,
        last_stride: int = 1,
        gem_p: float = 3.0,
        parts: int = 6,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.parts = parts
        self.backbone = TwoStreamResNet(depth=depth, width=width, last_stride=last_stride)
        channels = self.backbone.out_channels
        self.pool = GeM(gem_p)
        self.bottleneck = _bnneck(channels)
        self.classifier = _classifier(channels, num_classes)
        self.part_bottleneck = _bnneck(channels * parts)
        self.part_classifier = _classifier(channels * parts, num_classes)
        self.pixel_visible = PixelClassifier(self.backbone.level_channels, parts)
        self.pixel_infrared = PixelClassifier(self.backbone.level_channels, parts)

    def head_parameters(self) -> list[nn.Parameter]:
        """BNNecks and ID classifiers: trained at the full learning rate (the rest x0.1)."""
        heads = (self.bottleneck, self.classifier, self.part_bottleneck, self.part_classifier)
        return [p for m in heads for p in m.parameters()]

    def _global(self, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.pool(high)
        return pooled, self.bottleneck(pooled)

    def forward(self, visible: torch.Tensor, infrared: torch.Tensor) -> TrainOutputs:
        """Training pass over a visible batch and an infrared batch of equal size."""
        if visible.shape != infrared.shape:
            raise ValueError(
                f"visible {tuple(visible.shape)} and infrared {tuple(infrared.shape)} batches differ"
            )
        vis_stem, vis_low = self.backbone.visible(visible)
        ir_stem, ir_low = self.backbone.infrared(infrared)
        # Shared stages see both modalities in one batch (shared BN statistics).
        shared = self.backbone.shared(torch.cat((vis_low, ir_low), dim=0))
        # GeM's cube and cube root, the BNNecks and the class activations in float32
        # (a no-op in fp32 runs; under bf16 autocast the trunk's last map is bfloat16).
        high = shared[-1].float()
        pooled, feat = self._global(high)
        part_pooled = stripe_gem(high, self.parts, self.pool.p).flatten(1).detach()
        part_feat = self.part_bottleneck(part_pooled)

        b = visible.shape[0]
        size = tuple(vis_low.shape[-2:])
        vis_levels = [vis_stem, vis_low, *(m[:b] for m in shared)]
        ir_levels = [ir_stem, ir_low, *(m[b:] for m in shared)]
        pixel_logits = torch.cat(
            (self.pixel_visible(vis_levels, size), self.pixel_infrared(ir_levels, size)), dim=0
        )
        return TrainOutputs(
            pooled=pooled,
            logits=self.classifier(feat),
            part_logits=self.part_classifier(part_feat),
            visible_low=vis_low,
            infrared_low=ir_low,
            high=high.detach(),
            pixel_logits=pixel_logits,
        )

    def embed(self, images: torch.Tensor, modality: str) -> torch.Tensor:
        """Retrieval feature (B, C): the BNNeck output of one modality's images."""
        high = self.backbone(images, modality)[-1]
        return self._global(high)[1]


def build_dclnet(
    *,
    num_classes: int,
    seed: int,
    depth: int = 50,
    width: int = 64,
    last_stride: int = 1,
    gem_p: float = 3.0,
    parts: int = 6,
    pretrained: str | None = None,
) -> DCLNet:
    """A DCLNet initialised from ``seed`` alone (the untrained baseline gets the same weights).

    The global RNG is left as it was: construction draws from a forked generator.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DCLNet(
            num_classes=num_classes,
            depth=depth,
            width=width,
            last_stride=last_stride,
            gem_p=gem_p,
            parts=parts,
        )
    load_pretrained(model.backbone, pretrained, depth)
    return model
