"""The ``scl`` section of params.yaml: typed settings of the unsupervised re-id track.

Selective contrastive learning (Pang et al., "Fully Unsupervised Person
Re-Identification via Selective Contrastive Learning", ACM TOMM 2022) with the
project's DBSCAN pseudo-label rounds (docs/methods.md, "SCL"). conf/scl/base.yaml
holds the paper's settings (official code pangbo1997/Unsup_ReID, ``configs/test.yml``);
the selected conf/scl/dataset option sets what a dataset changes (the synthetic world
shrinks sizes and the schedule, never the method).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from pipeline.data.sources import load_track_settings
from pipeline.params import Settings

# Re-id layouts this track trains on (synthetic_market1501 renders the Market layout).
SUPPORTED_LAYOUTS = ("market1501", "dukemtmc", "msmt17")


class ModelSettings(Settings):
    backbone: Literal["resnet18", "resnet34", "resnet50"]
    width: float = Field(gt=0.0, le=1.0)
    # ImageNet weights: a local file, an http(s) URL (cached) or null (random init).
    pretrained: str | None
    pretrained_sha256: str | None = Field(pattern=r"^[0-9a-f]{64}$")
    last_stride: Literal[1, 2]
    global_dim: int = Field(ge=1)
    num_stripes: int = Field(ge=1)
    local_dim: int = Field(ge=1)

    @model_validator(mode="after")
    def _mixture_dims(self) -> ModelSettings:
        # One mixture bank stores global features and concatenated stripes alike.
        if self.global_dim != self.num_stripes * self.local_dim:
            raise ValueError(
                f"global_dim ({self.global_dim}) must equal num_stripes * local_dim "
                f"({self.num_stripes} * {self.local_dim}): the mixture bank holds both"
            )
        if self.width != 1.0 and self.pretrained is not None:
            raise ValueError(f"width {self.width}: ImageNet weights (pretrained) need width 1.0")
        return self


class DataSettings(Settings):
    height: int = Field(ge=16)
    width: int = Field(ge=8)
    flip: float = Field(ge=0.0, le=1.0)
    pad: int = Field(ge=0)
    erasing: float = Field(ge=0.0, le=1.0)
    batch_size: int = Field(ge=1)
    # random: plain shuffled batches (the paper); pk: batch_size / num_instances pseudo
    # identities x num_instances images each (Cluster Contrast's sampler; cluster mode).
    sampler: Literal["random", "pk"]
    num_instances: int = Field(ge=1)
    test_batch_size: int = Field(ge=1)
    num_workers: int = Field(ge=0)


class TrainSettings(Settings):
    epochs: int = Field(ge=1)
    # Optimizer steps per epoch with the pk sampler (0: one pass over the clustered images).
    iters_per_epoch: int = Field(ge=0)
    optimizer: Literal["sgd", "adam"]
    lr: float = Field(gt=0.0)
    momentum: float = Field(ge=0.0, lt=1.0)
    nesterov: bool
    weight_decay: float = Field(ge=0.0)
    lr_steps: list[int]
    lr_gamma: float = Field(gt=0.0, le=1.0)
    warmup_epochs: int = Field(ge=0)


class MemorySettings(Settings):
    momentum: float = Field(ge=0.0, lt=1.0)
    cluster_momentum: float = Field(ge=0.0, lt=1.0)


class SelectionSettings(Settings):
    # false: no selection at all, every epoch as a warm-up epoch (self the only positive,
    # random negatives, no pseudo-label rounds): the ablation row "selection off".
    enabled: bool
    lambda_g: float = Field(ge=0.0, le=1.0)
    camera_penalty: float = Field(ge=0.0)
    num_positives: int = Field(ge=0)
    num_negatives: int = Field(ge=1)


class LossSettings(Settings):
    temperature: float = Field(gt=0.0)
    self_weight: float = Field(ge=0.0, le=1.0)
    neighbour_scale: float = Field(ge=0.0)
    local_weight: float = Field(ge=0.0, le=1.0)
    cluster_weight: float = Field(ge=0.0)
    cluster_temperature: float = Field(gt=0.0)


class ClusteringSettings(Settings):
    method: Literal["dbscan", "hdbscan"]
    # Neighbour search: pipeline.clustering.neighbours.KNN_ROUTES.
    knn: Literal["auto", "exact", "int8", "ivf", "torch"]
    k1: int = Field(ge=1)
    k2: int = Field(ge=1)
    eps: float = Field(gt=0.0, le=1.0)
    min_samples: int = Field(ge=1)


class EvalSettings(Settings):
    lambda_g: float = Field(ge=0.0, le=1.0)
    camera_penalty: float = Field(ge=0.0)
    max_rank: int = Field(ge=10)
    ranked_lists: int = Field(ge=0)


class ValidationSettings(Settings):
    """Train identities held out of training and scored like the test set, to choose
    settings on (never on test data). Their first image per camera is a query, the
    rest the gallery (Market-1501 protocol). [] = off, the paper's setting."""

    pids: list[int]
    # Score them after every ``every`` epochs (0: after the last epoch only).
    every: int = Field(ge=0)


class SCLSettings(Settings):
    """The ``scl`` section as composed into params.yaml."""

    dataset: str
    mode: Literal["cluster", "knn"]
    model: ModelSettings
    data: DataSettings
    train: TrainSettings
    memory: MemorySettings
    selection: SelectionSettings
    loss: LossSettings
    clustering: ClusteringSettings
    eval: EvalSettings
    validation: ValidationSettings

    @model_validator(mode="after")
    def _schedule(self) -> SCLSettings:
        if self.train.warmup_epochs > self.train.epochs:
            raise ValueError(
                f"train.warmup_epochs ({self.train.warmup_epochs}) exceeds train.epochs "
                f"({self.train.epochs})"
            )
        d = self.data
        if d.sampler == "pk":
            if self.mode != "cluster":
                raise ValueError(
                    "data.sampler 'pk' samples pseudo identities: it needs mode 'cluster' "
                    f"(mode is {self.mode!r})"
                )
            if d.batch_size % d.num_instances:
                raise ValueError(
                    f"data.batch_size ({d.batch_size}) must be a multiple of "
                    f"data.num_instances ({d.num_instances}) with the pk sampler"
                )
        elif self.train.iters_per_epoch:
            raise ValueError(
                f"train.iters_per_epoch ({self.train.iters_per_epoch}) needs data.sampler "
                "'pk'; the random sampler makes one pass per epoch (set it to 0)"
            )
        return self


def load_settings(params: dict[str, Any]) -> tuple[SCLSettings, str]:
    """``(settings, layout)`` of the ``scl`` section (see ``load_track_settings``)."""
    return load_track_settings(params, "scl", SCLSettings, SUPPORTED_LAYOUTS)
