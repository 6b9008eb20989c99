"""ResNet trunk of the SCL model: last stride 1, optional ImageNet weights.

As in the official SCL code (reid-strong-baseline's ResNet-50 with
``last_conv_stride=1``), the last stage keeps stride 1 so a 256x128 input gives a
16x8 map and eight horizontal stripes have two rows each. The network comes from
the shared builder (``pipeline.models.resnet``); at width 1.0 it is built with
torchvision's ImageNet classifier, as ``torchvision.models.resnet*`` is, so the
seeded initialisation is that of torchvision's network. ImageNet weights come from
a local file or an http(s) URL (``pipeline.weights``: cached, sha256-verified); the
classifier ``fc.*`` keys are the only ones allowed to be unused.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pipeline.checkpoint import load_weights
from pipeline.models.resnet import STANDARD_WIDTH, build_resnet
from pipeline.weights import fetch_weights

# model.backbone -> ResNet depth.
DEPTHS = {"resnet18": 18, "resnet34": 34, "resnet50": 50}


def resolve_pretrained(source: str, *, sha256: str | None, cache_dir: str | Path) -> Path:
    """A local weights file for ``source`` (a path, or a URL fetched into ``cache_dir``).

    Raises:
        FileNotFoundError: a local path that does not exist.
        ValueError: a file whose sha256 does not match ``model.pretrained_sha256``.
    """
    return fetch_weights(source, sha256=sha256, cache_dir=cache_dir, setting="model.pretrained")


def build_resnet_trunk(
    name: str,
    *,
    last_stride: int = 1,
    weights_path: str | Path | None = None,
    width: float = 1.0,
) -> tuple[nn.Sequential, int]:
    """A ResNet without its pooling and classifier.

    Args:
        name: ``resnet18``, ``resnet34`` or ``resnet50``.
        last_stride: stride of the last stage (1 in the paper).
        weights_path: a local torchvision ImageNet state dict, or None for random init.
        width: channel multiplier; 1.0 is torchvision's network (the only one
            ImageNet weights fit), smaller values give a thinner ResNet for CPU runs
            (stem ``max(4, round(64 * width))`` channels).

    Returns:
        ``(trunk, channels)``: the module mapping ``(B, 3, H, W)`` to ``(B, C, H', W')``
        and its output channel count C.
    """
    if name not in DEPTHS:
        raise ValueError(f"model.backbone: {name!r} not one of {sorted(DEPTHS)}")
    if width != 1.0 and weights_path is not None:
        raise ValueError(f"model.width={width}: ImageNet weights need width 1.0")
    resnet = build_resnet(
        DEPTHS[name],
        width=STANDARD_WIDTH if width == 1.0 else max(4, round(STANDARD_WIDTH * width)),
        last_stride=last_stride,
        imagenet_classifier=width == 1.0,
        weights=None if weights_path is None else load_weights(weights_path),
        weights_source=str(weights_path),
    )
    return nn.Sequential(*resnet.trunk_modules()), resnet.out_channels


def trunk_output_size(trunk: nn.Module, height: int, width: int) -> tuple[int, int]:
    """Spatial size of the trunk's output for an input of ``height`` x ``width``."""
    with torch.no_grad():
        was_training = trunk.training
        trunk.eval()
        out = trunk(torch.zeros(1, 3, height, width))
        trunk.train(was_training)
    return int(out.shape[2]), int(out.shape[3])
