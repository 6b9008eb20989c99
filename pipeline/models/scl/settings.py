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
    backbone: Literal["resnet18", "resnet34", "resnet50"] = "resnet50"
    width: float = Field(1.0, gt=0.0, le=1.0)
    # ImageNet weights: a local file, an http(s) URL (cached) or null (random init).
    pretrained: str | None = None
    pretrained_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    last_stride: Literal[1, 2] = 1
    global_dim: int = Field(2048, ge=1)
    num_stripes: int = Field(8, ge=1)
    local_dim: int = Field(256, ge=1)

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
    height: int = Field(256, ge=16)
    width: int = Field(128, ge=8)
    flip: float = Field(0.5, ge=0.0, le=1.0)
    pad: int = Field(0, ge=0)
    erasing: float = Field(0.0, ge=0.0, le=1.0)
    batch_size: int = Field(8, ge=1)
    test_batch_size: int = Field(128, ge=1)
    num_workers: int = Field(0, ge=0)


class TrainSettings(Settings):
    epochs: int = Field(40, ge=1)
    lr: float = Field(0.001, gt=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0.0)
    lr_steps: list[int] = Field(default_factory=list)
    lr_gamma: float = Field(0.1, gt=0.0, le=1.0)
    warmup_epochs: int = Field(3, ge=0)


class MemorySettings(Settings):
    momentum: float = Field(0.5, ge=0.0, lt=1.0)
    cluster_momentum: float = Field(0.5, ge=0.0, lt=1.0)


class SelectionSettings(Settings):
    lambda_g: float = Field(0.5, ge=0.0, le=1.0)
    camera_penalty: float = Field(0.05, ge=0.0)
    num_positives: int = Field(7, ge=0)
    num_negatives: int = Field(500, ge=1)


class LossSettings(Settings):
    temperature: float = Field(0.1, gt=0.0)
    self_weight: float = Field(0.5, ge=0.0, le=1.0)
    neighbour_scale: float = Field(1.75, ge=0.0)
    local_weight: float = Field(0.5, ge=0.0, le=1.0)
    cluster_weight: float = Field(1.0, ge=0.0)
    cluster_temperature: float = Field(0.05, gt=0.0)


class ClusteringSettings(Settings):
    method: Literal["dbscan", "hdbscan"] = "dbscan"
    # Neighbour search: pipeline.clustering.neighbours.KNN_ROUTES.
    knn: Literal["exact", "int8", "ivf"] = "exact"
    k1: int = Field(30, ge=1)
    k2: int = Field(6, ge=1)
    eps: float = Field(0.6, gt=0.0, le=1.0)
    min_samples: int = Field(4, ge=1)


class EvalSettings(Settings):
    lambda_g: float = Field(0.5, ge=0.0, le=1.0)
    camera_penalty: float = Field(0.05, ge=0.0)
    max_rank: int = Field(50, ge=10)
    ranked_lists: int = Field(6, ge=0)


class ValidationSettings(Settings):
    """Train identities held out of training and scored like the test set, to choose
    settings on (never on test data). Their first image per camera is a query, the
    rest the gallery (Market-1501 protocol). [] = off, the paper's setting."""

    pids: list[int] = Field(default_factory=list)
    # Score them after every ``every`` epochs (0: after the last epoch only).
    every: int = Field(0, ge=0)


class SCLSettings(Settings):
    """The ``scl`` section as composed into params.yaml."""

    dataset: str
    mode: Literal["cluster", "knn"] = "cluster"
    model: ModelSettings = ModelSettings()
    data: DataSettings = DataSettings()
    train: TrainSettings = TrainSettings()
    memory: MemorySettings = MemorySettings()
    selection: SelectionSettings = SelectionSettings()
    loss: LossSettings = LossSettings()
    clustering: ClusteringSettings = ClusteringSettings()
    eval: EvalSettings = EvalSettings()
    validation: ValidationSettings = ValidationSettings()

    @model_validator(mode="after")
    def _schedule(self) -> SCLSettings:
        if self.train.warmup_epochs > self.train.epochs:
            raise ValueError(
                f"train.warmup_epochs ({self.train.warmup_epochs}) exceeds train.epochs "
                f"({self.train.epochs})"
            )
        return self


def load_settings(params: dict[str, Any]) -> tuple[SCLSettings, str]:
    """``(settings, layout)`` of the ``scl`` section (see ``load_track_settings``)."""
    return load_track_settings(params, "scl", SCLSettings, SUPPORTED_LAYOUTS)
