"""The one ResNet builder of the re-id tracks (SCL's trunk, DCLNet's two streams).

torchvision's layout (He et al. 2016, "v1.5": a Bottleneck strides in conv2) with
its own blocks (``BasicBlock`` / ``Bottleneck``), so parameter names are
torchvision's and ImageNet state dicts load by name. Options:

* ``depth``: 18, 34 or 50;
* ``width``: channels of the stem (64 = torchvision's network, the only one
  ImageNet weights fit); stage ``i`` has ``width * 2**(i-1)`` planes;
* ``last_stride``: stride of ``layer4`` (1 in the re-id papers: a 256x128 input
  keeps a 16x8 map);
* ``norm``: the normalisation layer (``nn.BatchNorm2d``);
* ``stem`` / ``stages``: which parts to build (DCLNet builds its modality streams
  and its shared stages apart);
* ``imagenet_classifier``: also build torchvision's 1000-way ``fc`` (never used;
  it draws from the RNG, so a seeded network equals ``torchvision.models.resnet*``);
* ``init``: torchvision's initialisation (Kaiming fan-out convolutions, norms at
  1/0), over the modules in construction order. A caller assembling several
  parts passes ``init=False`` and calls :func:`init_resnet` once on the whole.

Pretrained weights: :func:`load_torchvision_state` copies a torchvision state dict
into one or more built parts (the file comes from :mod:`pipeline.weights`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

# depth -> (block, blocks per stage), as in He et al. 2016 / torchvision.
LAYOUTS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
}
STANDARD_WIDTH = 64
IMAGENET_CLASSES = 1000
Norm = Callable[[int], nn.Module]


def layout(depth: int) -> tuple[type[nn.Module], tuple[int, int, int, int]]:
    """``(block, blocks per stage)`` of ResNet-``depth``."""
    if depth not in LAYOUTS:
        raise ValueError(f"ResNet depth {depth} not supported; use one of {sorted(LAYOUTS)}")
    return LAYOUTS[depth]


def stage_channels(depth: int, width: int = STANDARD_WIDTH) -> tuple[int, int, int, int]:
    """Output channels of ``layer1``..``layer4``."""
    block, _ = layout(depth)
    return tuple(width * 2**i * block.expansion for i in range(4))  # type: ignore[return-value]


def make_stage(
    block: type[nn.Module],
    inplanes: int,
    planes: int,
    blocks: int,
    stride: int,
    norm: Norm = nn.BatchNorm2d,
) -> tuple[nn.Sequential, int]:
    """One ResNet stage (torchvision's ``_make_layer``); returns ``(stage, out_channels)``."""
    out = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out, kernel_size=1, stride=stride, bias=False),
            norm(out),
        )
    layers = [block(inplanes, planes, stride, downsample, norm_layer=norm)]
    layers += [block(out, planes, norm_layer=norm) for _ in range(blocks - 1)]
    return nn.Sequential(*layers), out


def init_resnet(module: nn.Module) -> None:
    """torchvision's ResNet initialisation (Kaiming fan-out convolutions, norms at 1/0)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ResNet(nn.Module):
    """The parts :func:`build_resnet` made, under torchvision's names.

    Attributes: ``conv1``, ``bn1``, ``relu``, ``maxpool`` (with the stem),
    ``layer<i>`` for each stage built, ``avgpool`` and ``fc`` (with the ImageNet
    classifier); ``channels``: output channels of each stage built;
    ``out_channels``: the last one's.
    """

    def __init__(self) -> None:
        super().__init__()
        self.channels: dict[int, int] = {}
        self.out_channels = 0

    def trunk_modules(self) -> list[nn.Module]:
        """The stem's modules (when built) and the stages, in order; no pooling, no classifier."""
        stem = ("conv1", "bn1", "relu", "maxpool") if hasattr(self, "conv1") else ()
        return [getattr(self, name) for name in stem] + [
            getattr(self, f"layer{i}") for i in sorted(self.channels)
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map of the last stage built."""
        for module in self.trunk_modules():
            x = module(x)
        return x


def build_resnet(
    depth: int,
    *,
    width: int = STANDARD_WIDTH,
    last_stride: int = 2,
    norm: Norm = nn.BatchNorm2d,
    stem: bool = True,
    stages: Sequence[int] = (1, 2, 3, 4),
    imagenet_classifier: bool = False,
    init: bool = True,
    weights: Mapping[str, torch.Tensor] | None = None,
    weights_source: str = "pretrained weights",
) -> ResNet:
    """Build (parts of) a ResNet; see the module docstring for the options.

    ``stages`` must be consecutive; a first stage past 1 takes the previous stage's
    channels as its input. ``weights`` (a torchvision state dict) are loaded after
    the initialisation (:func:`load_torchvision_state`; ``weights_source`` names the
    file in its errors).

    Raises:
        ValueError: an unknown depth, non-consecutive stages, or weights that do not fit.
    """
    block, depths = layout(depth)
    stages = list(stages)
    first = stages[0] if stages else 1
    if stages != list(range(first, first + len(stages))) or not set(stages) <= {1, 2, 3, 4}:
        raise ValueError(f"ResNet stages {stages}: must be consecutive numbers in 1..4")
    net = ResNet()
    if stem:
        net.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        net.bn1 = norm(width)
        net.relu = nn.ReLU(inplace=True)
        net.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    inplanes = width if first == 1 else stage_channels(depth, width)[first - 2]
    for number in stages:
        stride = 1 if number == 1 else (last_stride if number == 4 else 2)
        planes = width * 2 ** (number - 1)
        stage, inplanes = make_stage(block, inplanes, planes, depths[number - 1], stride, norm)
        setattr(net, f"layer{number}", stage)
        net.channels[number] = inplanes
    net.out_channels = inplanes
    if imagenet_classifier:
        net.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        net.fc = nn.Linear(inplanes, IMAGENET_CLASSES)
    if init:
        init_resnet(net)
    if weights is not None:
        load_torchvision_state([net], weights, weights_source)
    return net


def load_torchvision_state(
    parts: Sequence[nn.Module],
    state: Mapping[str, torch.Tensor],
    source: str,
    hint: str = "check the depth and width settings",
) -> None:
    """Copy a torchvision ResNet state dict into ``parts`` by name (each part gets its keys).

    Every tensor of every part must be in ``state`` with its shape, and every trunk
    tensor of ``state`` must land somewhere; only ``fc.*`` (the ImageNet classifier)
    may be left unused. A part may share keys with another (DCLNet's two streams).

    Raises:
        ValueError: missing, unexpected or differently shaped tensors, naming
            ``source`` and an example.
    """
    wanted = [
        {k: v for k, v in part.state_dict().items() if not k.startswith("fc.")} for part in parts
    ]
    used = {k for own in wanted for k in own}
    bad = sorted(
        {
            k
            for own in wanted
            for k, v in own.items()
            if k not in state or tuple(state[k].shape) != tuple(v.shape)
        }
    )
    unexpected = sorted(k for k in state if not k.startswith("fc.") and k not in used)
    if bad or unexpected:
        example = (bad or unexpected)[0]
        raise ValueError(
            f"{source}: pretrained weights do not fit this ResNet ({len(bad)} tensors missing "
            f"or of another shape, {len(unexpected)} unexpected, e.g. {example!r}): {hint}"
        )
    for part, own in zip(parts, wanted, strict=True):
        part.load_state_dict({k: state[k] for k in own}, strict=False)
