"""ResNet trunk of the SCL model: torchvision ResNet, last stride 1, ImageNet weights.

As in the official SCL code (reid-strong-baseline's ResNet-50 with
``last_conv_stride=1``), the last stage keeps stride 1 so a 256x128 input gives a
16x8 map and eight horizontal stripes have two rows each. ImageNet weights come
from a local file or an http(s) URL (downloaded once with pooch into a cache
folder, verified against a sha256 when one is given); the classifier ``fc.*``
keys are the only ones allowed to be unused.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from pipeline.checkpoint import load_weights

CHANNELS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}
_ARCH = {
    "resnet18": (torchvision.models.resnet.BasicBlock, (2, 2, 2, 2)),
    "resnet34": (torchvision.models.resnet.BasicBlock, (3, 4, 6, 3)),
    "resnet50": (torchvision.models.resnet.Bottleneck, (3, 4, 6, 3)),
}


def _set_last_stride(resnet: nn.Module, stride: int) -> None:
    block = resnet.layer4[0]
    # BasicBlock strides in conv1, Bottleneck in conv2 (torchvision "v1.5").
    conv = block.conv2 if isinstance(block, torchvision.models.resnet.Bottleneck) else block.conv1
    conv.stride = (stride, stride)
    if block.downsample is not None:
        block.downsample[0].stride = (stride, stride)


def resolve_pretrained(source: str, *, sha256: str | None, cache_dir: str | Path) -> Path:
    """A local weights file for ``source`` (a path, or a URL fetched into ``cache_dir``).

    Raises:
        FileNotFoundError: a local path that does not exist.
        ValueError: a download whose sha256 does not match.
    """
    if source.startswith(("http://", "https://")):
        import pooch

        known_hash = f"sha256:{sha256}" if sha256 else None
        name = source.rstrip("/").rsplit("/", 1)[-1]
        return Path(
            pooch.retrieve(
                source,
                known_hash=known_hash,
                fname=name,
                path=Path(cache_dir),
                progressbar=True,
            )
        )
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"model.pretrained: weights file {path} not found")
    if sha256 is not None:
        import hashlib

        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha256:
            raise ValueError(f"{path}: sha256 {digest} does not match model.pretrained_sha256")
    return path


def load_imagenet_weights(resnet: torchvision.models.ResNet, path: str | Path) -> None:
    """Load a torchvision ImageNet state dict into ``resnet``; only ``fc.*`` may be unused.

    Raises:
        ValueError: a missing or unexpected trunk key, or a shape mismatch, naming the file.
    """
    state = load_weights(path)
    trunk = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = resnet.state_dict()
    missing = sorted(k for k in own if not k.startswith("fc.") and k not in trunk)
    unexpected = sorted(k for k in trunk if k not in own)
    if missing or unexpected:
        raise ValueError(
            f"{path}: not a matching ResNet state dict (missing {missing[:5]}, "
            f"unexpected {unexpected[:5]})"
        )
    for key, value in trunk.items():
        if own[key].shape != value.shape:
            raise ValueError(
                f"{path}: {key} has shape {tuple(value.shape)}, expected {tuple(own[key].shape)}"
            )
    resnet.load_state_dict(trunk, strict=False)


def _scaled_resnet(name: str, width: float) -> nn.Module:
    """torchvision's ResNet layout with every stage's channels scaled by ``width``.

    Same blocks, depths, strides and initialisation (He fan-out, BN at 1/0) as
    torchvision; only the widths shrink (stem 64 * width, stages x1, x2, x4, x8).
    """
    block, depths = _ARCH[name]
    base = max(4, round(64 * width))
    net = nn.Module()
    net.conv1 = nn.Conv2d(3, base, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(base)
    net.relu = nn.ReLU(inplace=True)
    net.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    inplanes = base
    for stage, (depth, stride) in enumerate(zip(depths, (1, 2, 2, 2), strict=True)):
        planes = base * 2**stage
        out = planes * block.expansion
        downsample = None
        if stride != 1 or inplanes != out:
            downsample = nn.Sequential(
                nn.Conv2d(inplanes, out, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out),
            )
        blocks = [block(inplanes, planes, stride, downsample)]
        blocks += [block(out, planes) for _ in range(1, depth)]
        setattr(net, f"layer{stage + 1}", nn.Sequential(*blocks))
        inplanes = out
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    net.out_channels = inplanes
    return net


def build_resnet_trunk(
    name: str,
    *,
    last_stride: int = 1,
    weights_path: str | Path | None = None,
    width: float = 1.0,
) -> tuple[nn.Sequential, int]:
    """A torchvision ResNet without its pooling and classifier.

    Args:
        name: ``resnet18``, ``resnet34`` or ``resnet50``.
        last_stride: stride of the last stage (1 in the paper).
        weights_path: a local torchvision ImageNet state dict, or None for random init.
        width: channel multiplier; 1.0 is torchvision's network (the only one
            ImageNet weights fit), smaller values give a thinner ResNet for CPU runs.

    Returns:
        ``(trunk, channels)``: the module mapping ``(B, 3, H, W)`` to ``(B, C, H', W')``
        and its output channel count C.
    """
    if name not in CHANNELS:
        raise ValueError(f"model.backbone: {name!r} not one of {sorted(CHANNELS)}")
    if width != 1.0:
        if weights_path is not None:
            raise ValueError(f"model.width={width}: ImageNet weights need width 1.0")
        resnet = _scaled_resnet(name, width)
        channels = resnet.out_channels
    else:
        resnet = getattr(torchvision.models, name)(weights=None)
        channels = CHANNELS[name]
        if weights_path is not None:
            load_imagenet_weights(resnet, weights_path)
    _set_last_stride(resnet, last_stride)
    trunk = nn.Sequential(
        resnet.conv1,
        resnet.bn1,
        resnet.relu,
        resnet.maxpool,
        resnet.layer1,
        resnet.layer2,
        resnet.layer3,
        resnet.layer4,
    )
    return trunk, channels


def trunk_output_size(trunk: nn.Module, height: int, width: int) -> tuple[int, int]:
    """Spatial size of the trunk's output for an input of ``height`` x ``width``."""
    with torch.no_grad():
        was_training = trunk.training
        trunk.eval()
        out = trunk(torch.zeros(1, 3, height, width))
        trunk.train(was_training)
    return int(out.shape[2]), int(out.shape[3])
