"""Two-stream ResNet of DCLNet (Sun et al., "Not All Pixels Are Matched", ACM MM 2022).

The stem (conv1, bn1, relu, maxpool) and ``layer1`` are modality-specific: one
copy for visible images, one for infrared; ``layer2``-``layer4`` are shared, and
``layer4`` keeps stride 1 (last stride 1), as in the AGW/DDAG cross-modal
baseline the paper builds on. The parts come from the shared ResNet builder
(``pipeline.models.resnet``, torchvision's blocks and names); with ``width=64``
the parameter names are exactly torchvision's, so ImageNet weights load into both
streams and the shared part. A smaller ``width`` gives the cheap backbone of the
synthetic option. ``pretrained: imagenet`` names torchvision's ImageNet file,
fetched and verified by ``pipeline.weights``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pipeline.checkpoint import load_weights
from pipeline.models.resnet import build_resnet, init_resnet, load_torchvision_state
from pipeline.weights import fetch_weights

# torchvision's IMAGENET1K_V1 files; the name carries the first digits of the sha256.
IMAGENET_URLS = {
    18: "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    34: "https://download.pytorch.org/models/resnet34-b627a593.pth",
    50: "https://download.pytorch.org/models/resnet50-0676ba61.pth",
}


class ModalityStream(nn.Module):
    """The modality-specific part: stem + ``layer1`` (parameter names as torchvision's)."""

    def __init__(self, depth: int, width: int) -> None:
        super().__init__()
        part = build_resnet(depth, width=width, stages=(1,), init=False)
        self.conv1, self.bn1, self.relu, self.maxpool = (
            part.conv1,
            part.bn1,
            part.relu,
            part.maxpool,
        )
        self.layer1, self.out_channels = part.layer1, part.out_channels
        self.stem_channels = width

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(stem map, layer1 map)``, both at 1/4 of the input size."""
        stem = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return stem, self.layer1(stem)


class SharedStages(nn.Module):
    """``layer2``-``layer4`` shared by both modalities; ``layer4`` stride = ``last_stride``."""

    def __init__(self, depth: int, width: int, last_stride: int) -> None:
        super().__init__()
        part = build_resnet(
            depth, width=width, last_stride=last_stride, stem=False, stages=(2, 3, 4), init=False
        )
        self.layer2, self.layer3, self.layer4 = part.layer2, part.layer3, part.layer4
        self.channels = (part.channels[2], part.channels[3], part.channels[4])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Returns the layer2, layer3 and layer4 maps."""
        f2 = self.layer2(x)
        f3 = self.layer3(f2)
        return [f2, f3, self.layer4(f3)]


class TwoStreamResNet(nn.Module):
    """Visible and infrared streams feeding shared stages.

    Args:
        depth: 18, 34 or 50.
        width: channels of the stem (64 = the standard ResNet).
        last_stride: stride of ``layer4`` (1 in DCLNet: a 288x144 input gives an 18x9 map).
    """

    def __init__(self, *, depth: int = 50, width: int = 64, last_stride: int = 1) -> None:
        super().__init__()
        self.visible = ModalityStream(depth, width)
        self.infrared = ModalityStream(depth, width)
        self.shared = SharedStages(depth, width, last_stride)
        init_resnet(self)  # once, over both streams then the shared stages
        # Channels of every level the part-aware parser reads: stem, layer1..layer4.
        self.level_channels = (width, self.visible.out_channels, *self.shared.channels)
        self.out_channels = self.shared.channels[-1]

    def stream(self, modality: str) -> ModalityStream:
        if modality == "visible":
            return self.visible
        if modality == "infrared":
            return self.infrared
        raise ValueError(f"modality {modality!r} is neither 'visible' nor 'infrared'")

    def forward(self, images: torch.Tensor, modality: str) -> list[torch.Tensor]:
        """Run one modality's images; returns the maps ``[stem, layer1, layer2, layer3, layer4]``."""
        stem, low = self.stream(modality)(images)
        return [stem, low, *self.shared(low)]

    def load_torchvision_state(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Copy a torchvision ResNet state dict into both streams and the shared stages.

        Raises:
            ValueError: a tensor is missing or has another shape (wrong depth or width).
        """
        load_torchvision_state(
            [self.visible, self.infrared, self.shared],
            state,
            source,
            hint="check model.depth and model.width",
        )


def load_pretrained(backbone: TwoStreamResNet, pretrained: str | None, depth: int) -> None:
    """Initialise from ``"imagenet"`` (torchvision's file), a local state-dict file, or nothing.

    Raises:
        FileNotFoundError: a local file that does not exist.
        ValueError: a file that does not verify or does not fit the backbone.
    """
    if pretrained is None:
        return
    if pretrained == "imagenet":
        url = IMAGENET_URLS[depth]
        prefix = url.rsplit("-", 1)[-1].removesuffix(".pth")
        path = fetch_weights(url, sha256=prefix, setting="model.pretrained")
    else:
        path = fetch_weights(Path(pretrained), setting="model.pretrained")
    backbone.load_torchvision_state(load_weights(path), str(path))
