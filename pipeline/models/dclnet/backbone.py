"""Two-stream ResNet of DCLNet (Sun et al., "Not All Pixels Are Matched", ACM MM 2022).

The stem (conv1, bn1, relu, maxpool) and ``layer1`` are modality-specific: one
copy for visible images, one for infrared; ``layer2``-``layer4`` are shared, and
``layer4`` keeps stride 1 (last stride 1), as in the AGW/DDAG cross-modal
baseline the paper builds on. Blocks are torchvision's ``BasicBlock`` /
``Bottleneck``; with ``width=64`` the modules and parameter names are exactly
torchvision's, so ImageNet weights load into both streams and the shared part.
A smaller ``width`` gives the cheap backbone of the synthetic profile.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from pipeline.checkpoint import load_weights

# depth -> (block, blocks per stage), as in He et al. 2016 / torchvision.
RESNET_LAYOUTS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
}


def _stage(block: type[nn.Module], inplanes: int, planes: int, blocks: int, stride: int):
    """One ResNet stage; returns ``(stage, out_channels)``."""
    out = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(out),
        )
    layers = [block(inplanes, planes, stride, downsample)]
    layers += [block(out, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers), out


def _init_resnet(module: nn.Module) -> None:
    """torchvision's ResNet initialisation (Kaiming fan-out convs, unit BN)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ModalityStream(nn.Module):
    """The modality-specific part: stem + ``layer1`` (parameter names as torchvision's)."""

    def __init__(self, block: type[nn.Module], width: int, blocks: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1, self.out_channels = _stage(block, width, width, blocks, stride=1)
        self.stem_channels = width

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(stem map, layer1 map)``, both at 1/4 of the input size."""
        stem = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return stem, self.layer1(stem)


class SharedStages(nn.Module):
    """``layer2``-``layer4`` shared by both modalities; ``layer4`` stride = ``last_stride``."""

    def __init__(
        self,
        block: type[nn.Module],
        width: int,
        blocks: tuple[int, int, int],
        in_ch: int,
        last_stride: int,
    ) -> None:
        super().__init__()
        self.layer2, c2 = _stage(block, in_ch, width * 2, blocks[0], stride=2)
        self.layer3, c3 = _stage(block, c2, width * 4, blocks[1], stride=2)
        self.layer4, c4 = _stage(block, c3, width * 8, blocks[2], stride=last_stride)
        self.channels = (c2, c3, c4)

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
        if depth not in RESNET_LAYOUTS:
            raise ValueError(
                f"ResNet depth {depth} not supported; use one of {sorted(RESNET_LAYOUTS)}"
            )
        block, blocks = RESNET_LAYOUTS[depth]
        self.visible = ModalityStream(block, width, blocks[0])
        self.infrared = ModalityStream(block, width, blocks[0])
        self.shared = SharedStages(block, width, blocks[1:], self.visible.out_channels, last_stride)
        _init_resnet(self)
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

    def load_torchvision_state(self, state: dict[str, torch.Tensor]) -> None:
        """Copy a torchvision ResNet state dict into both streams and the shared stages.

        Raises:
            ValueError: a tensor is missing or has another shape (wrong depth or width).
        """
        # Stream and shared-stage parameter names are torchvision's own (conv1, layer1.0...).
        for module in (self.visible, self.infrared, self.shared):
            own = module.state_dict()
            wanted = {k: state.get(k) for k in own}
            bad = [
                k for k, v in wanted.items() if v is None or tuple(v.shape) != tuple(own[k].shape)
            ]
            if bad:
                raise ValueError(
                    f"pretrained weights do not fit this ResNet ({len(bad)} tensors missing or of "
                    f"another shape, e.g. {bad[0]!r}): check model.depth and model.width"
                )
            module.load_state_dict(wanted)


def imagenet_state(depth: int) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights for ResNet-``depth`` (downloaded once into torch's cache)."""
    from torchvision.models import ResNet18_Weights, ResNet34_Weights, ResNet50_Weights

    weights = {18: ResNet18_Weights, 34: ResNet34_Weights, 50: ResNet50_Weights}[depth]
    return weights.IMAGENET1K_V1.get_state_dict(progress=True, check_hash=True)


def load_pretrained(backbone: TwoStreamResNet, pretrained: str | None, depth: int) -> None:
    """Initialise from ``"imagenet"`` (torchvision), a local state-dict file, or nothing (None)."""
    if pretrained is None:
        return
    if pretrained == "imagenet":
        state = imagenet_state(depth)
    else:
        state = load_weights(Path(pretrained))
    backbone.load_torchvision_state(state)
