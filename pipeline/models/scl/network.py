"""The SCL network: a ResNet trunk with a global and an eight-stripe local embedding.

Pang et al., ACM TOMM 2022, as the official code builds it (``End2End_AvgPooling``):
global = average pool -> Linear(C, 2048) -> BatchNorm1d -> L2; local = the feature
map cut into 8 horizontal stripes, each average pooled -> Linear(C, 256) ->
BatchNorm1d -> L2. Both are used in training (memory banks, loss) and at test
time (the distance mixes them). ``build_net_for`` maps the ``scl`` settings to
``build_scl_net`` for both the train and the eval stage.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from pipeline.models.scl.backbone import build_resnet_trunk, resolve_pretrained, trunk_output_size
from pipeline.models.scl.settings import SCLSettings
from pipeline.runtime import Runtime


class SCLNet(nn.Module):
    """Trunk + global head + striped local heads.

    Args:
        trunk: maps images ``(B, 3, H, W)`` to a feature map ``(B, C, H', W')``.
        channels: C.
        global_dim: size of the global embedding.
        num_stripes: number of horizontal stripes (the map needs ``H' >= num_stripes``).
        local_dim: size of each stripe's embedding.
    """

    def __init__(
        self,
        *,
        trunk: nn.Module,
        channels: int,
        global_dim: int = 2048,
        num_stripes: int = 8,
        local_dim: int = 256,
    ) -> None:
        super().__init__()
        self.trunk = trunk
        self.num_stripes = num_stripes
        self.global_fc = nn.Linear(channels, global_dim)
        self.global_bn = nn.BatchNorm1d(global_dim)
        self.local_fc = nn.ModuleList(nn.Linear(channels, local_dim) for _ in range(num_stripes))
        self.local_bn = nn.ModuleList(nn.BatchNorm1d(local_dim) for _ in range(num_stripes))
        # The official global head: kaiming fan_out weights, zero bias, BN at (1, 0).
        nn.init.kaiming_normal_(self.global_fc.weight, mode="fan_out")
        nn.init.zeros_(self.global_fc.bias)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embed a batch.

        Args:
            images: ``(B, 3, H, W)`` normalised images.

        Returns:
            ``(global_feats (B, global_dim), local_feats (B, num_stripes, local_dim))``,
            every vector L2-normalised.
        """
        fmap = self.trunk(images)
        height = fmap.shape[2]
        if height < self.num_stripes:
            raise ValueError(
                f"feature map height {height} < {self.num_stripes} stripes: use a taller input"
            )
        pooled = fmap.mean(dim=(2, 3))
        # BatchNorm and L2 of the embeddings in float32 (a no-op in fp32 runs): under
        # bf16 autocast the memory banks and losses get float32 unit vectors.
        global_feats = F.normalize(self.global_bn(self.global_fc(pooled).float()), dim=1)
        # Equal stripes of floor(H'/S) rows from the top, remainder rows dropped (official rule).
        rows = height // self.num_stripes
        stripes = fmap[:, :, : rows * self.num_stripes].unflatten(2, (self.num_stripes, rows))
        stripes = stripes.mean(dim=(3, 4))  # (B, C, S)
        local = [
            F.normalize(bn(fc(stripes[:, :, s]).float()), dim=1)
            for s, (fc, bn) in enumerate(zip(self.local_fc, self.local_bn, strict=True))
        ]
        return global_feats, torch.stack(local, dim=1)


def mixed_embedding(
    global_feats: torch.Tensor, local_feats: torch.Tensor, lambda_g: float
) -> torch.Tensor:
    """One unit vector per image whose squared distances are the paper's mixed distance.

    ``[sqrt(lambda_g) g, sqrt((1 - lambda_g) / S) l_1, ..., l_S]`` has unit norm, and
    the squared Euclidean distance of two such vectors is
    ``lambda_g |g - g'|^2 + (1 - lambda_g) mean_s |l_s - l_s'|^2``: the selection
    distance without its camera term. Clustering runs on it.
    """
    stripes = local_feats.shape[1]
    return torch.cat(
        [
            global_feats * math.sqrt(lambda_g),
            local_feats.flatten(1) * math.sqrt((1.0 - lambda_g) / stripes),
        ],
        dim=1,
    )


def build_scl_net(
    *,
    backbone: str,
    last_stride: int,
    global_dim: int,
    num_stripes: int,
    local_dim: int,
    input_size: tuple[int, int],
    weights_path: str | None = None,
    width: float = 1.0,
    seed: int = 0,
) -> SCLNet:
    """Build the network with a seeded initialisation (same seed -> same weights).

    The init draws from its own forked RNG, so the untrained baseline of the
    evaluation stage is exactly the training stage's starting point.

    Raises:
        ValueError: the input is too short for the stripes.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        trunk, channels = build_resnet_trunk(
            backbone, last_stride=last_stride, weights_path=weights_path, width=width
        )
        net = SCLNet(
            trunk=trunk,
            channels=channels,
            global_dim=global_dim,
            num_stripes=num_stripes,
            local_dim=local_dim,
        )
    height, _ = trunk_output_size(trunk, *input_size)
    if height < num_stripes:
        raise ValueError(
            f"data.height={input_size[0]} gives a {height}-row feature map with "
            f"{backbone} (last stride {last_stride}); {num_stripes} stripes need at least "
            f"{num_stripes} rows"
        )
    return net


# Where downloaded ImageNet weights are kept (the track contract's cache, scl/entry.py).
DEFAULT_PRETRAINED_CACHE = Path("data/pretrained")


def pretrained_path(settings: SCLSettings, runtime: Runtime, cache_dir: str | Path) -> Path | None:
    """The local ImageNet weights file (rank 0 downloads first under DDP), or None."""
    source = settings.model.pretrained
    if source is None:
        return None
    if runtime.distributed and not runtime.is_main:
        dist.barrier()
    path = resolve_pretrained(source, sha256=settings.model.pretrained_sha256, cache_dir=cache_dir)
    if runtime.distributed and runtime.is_main:
        dist.barrier()
    return path


def build_net_for(settings: SCLSettings, weights_path: Path | None, seed: int):
    """The network ``settings`` describes (``build_scl_net``), seeded; the train and eval
    stages build theirs here, so the untrained baseline is the training's starting point."""
    m = settings.model
    return build_scl_net(
        backbone=m.backbone,
        last_stride=m.last_stride,
        global_dim=m.global_dim,
        num_stripes=m.num_stripes,
        local_dim=m.local_dim,
        input_size=(settings.data.height, settings.data.width),
        weights_path=None if weights_path is None else str(weights_path),
        width=m.width,
        seed=seed,
    )
