"""The ``dicl`` section of params.yaml, validated (DICL track).

Base values are the paper's CUHK-SYSU settings (docs/methods.md, "DICL"; official
configs ``configs/dicl/cuhk_dicl.py``; conf/dicl/base.yaml); the selected
conf/dicl/dataset option sets what a dataset changes (PRW: positive IoU 0.7,
min_samples 4, scales up to 2000x1200; the synthetic world: a small backbone from
scratch, small images, a short schedule).
Every loss has a weight and a switch, so each ablation of the paper is one
``dvc exp run -S dicl.loss.<name>.enabled=false``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, Strict, model_validator

from pipeline.data.sources import load_track_settings
from pipeline.params import Settings

SUPPORTED_LAYOUTS = ("cuhk_sysu", "prw")
# YAML lists read as tuples (Settings are strict); the items stay strict.
Pair = Annotated[tuple[int, int], Strict(False)]
Triple = Annotated[tuple[float, float, float], Strict(False)]


class BackboneSettings(Settings):
    depth: Literal[18, 34, 50, 101]
    width: int = Field(ge=8, description="stem / res2 width; 64 is the standard ResNet")
    norm: Literal["FrozenBN", "BN", "GN", "SyncBN"]
    freeze_at: int = Field(ge=0, le=5, description="stem + stages below this are frozen")
    stride_in_1x1: bool  # caffe-style bottlenecks (MSRA weights)
    weights: str | None  # local file or URL (http(s)://, detectron2://)
    weights_sha256: str | None = Field(pattern=r"^[0-9a-f]{64}$")


class RpnSettings(Settings):
    anchor_sizes: list[float]
    aspect_ratios: list[float]  # height / width: tall boxes
    pre_nms_topk_train: int = Field(ge=1)
    post_nms_topk_train: int = Field(ge=1)
    pre_nms_topk_test: int = Field(ge=1)
    post_nms_topk_test: int = Field(ge=1)
    nms_thresh: float = Field(gt=0, le=1)
    min_box_size: float = Field(ge=0)  # training proposals (official rpn_proposal)
    min_box_size_test: float = Field(ge=0)  # test proposals (official test_cfg.rpn)
    batch_size_per_image: int = Field(ge=1)


class RoiSettings(Settings):
    pooler_resolution: Pair
    # deform: mmcv's DeformRoIPoolPack (official); align: plain RoIAlign (its first pass).
    pooler: Literal["deform", "align"]
    deform_fc_channels: int = Field(ge=1)  # width of the deformable pooling's offset branch
    deform_gamma: float = Field(ge=0)  # offset scale (x RoI width / height)
    batch_size_per_image: int = Field(ge=2)
    positive_fraction: float = Field(gt=0, le=1)
    pos_iou: float = Field(gt=0, le=1)
    neg_iou: float = Field(ge=0, le=1)
    score_thresh_test: float = Field(ge=0, le=1)
    nms_thresh_test: float = Field(gt=0, le=1)
    detections_per_image: int = Field(ge=1)

    @model_validator(mode="after")
    def _thresholds(self) -> RoiSettings:
        if self.neg_iou > self.pos_iou:
            raise ValueError(f"neg_iou {self.neg_iou} must not exceed pos_iou {self.pos_iou}")
        return self


class HeadSettings(Settings):
    deformable: bool
    num_convs: int = Field(ge=0)
    conv_dim: int = Field(ge=1)
    norm: Literal["BN", "SyncBN", "GN", ""]
    embedding_dim: int = Field(ge=1)
    box_loss_weight: float = Field(ge=0)


class CropSettings(Settings):
    enabled: bool
    size: Pair  # height, width of each re-encoded box crop


class ModelSettings(Settings):
    backbone: BackboneSettings
    neck_deformable: bool
    # Learning-rate factor of the deformable convolutions' offset branches (mmcv: 1).
    deform_offset_lr_factor: float = Field(ge=0)
    pixel_mean: Triple  # BGR
    pixel_std: Triple
    rpn: RpnSettings
    roi: RoiSettings
    head: HeadSettings
    crop: CropSettings


class OicSettings(Settings):
    enabled: bool
    prob: float = Field(ge=0, le=1)
    grid: Pair  # rows, columns over each box
    cells: int = Field(ge=1)


class SwitchedLoss(Settings):
    enabled: bool
    weight: float = Field(ge=0)


class MemoryLossSettings(SwitchedLoss):
    temperature: float = Field(gt=0)
    momentum: float = Field(ge=0, lt=1)
    hard_negative_mass: float = Field(gt=0, le=1)


class TripletLossSettings(SwitchedLoss):
    margin: float = Field(ge=0)
    background_weight: float = Field(ge=0)


class LossSettings(Settings):
    memory: MemoryLossSettings
    sic_many_to_one: SwitchedLoss
    sic_dense: SwitchedLoss
    triplet: TripletLossSettings


class PseudoLabelSettings(Settings):
    # Neighbour search: pipeline.clustering.neighbours.KNN_ROUTES.
    knn: Literal["auto", "exact", "int8", "ivf", "torch"]
    k1: int = Field(ge=1)
    k2: int = Field(ge=1)
    eps: Triple
    min_samples: int = Field(ge=1)
    context: bool  # two boxes of one image never share a cluster
    reliability: bool  # DBSCAN at three eps; unreliable members become singletons
    # Epochs at the start where every slot is its own label (instance contrast) before
    # clustering starts; 0 in the paper (a commented-out option of the official ClusterHook).
    instance_epochs: int = Field(ge=0)


class TrainSettings(Settings):
    epochs: int = Field(ge=1)
    ims_per_batch: int = Field(ge=1, description="images per step (DDP: runtime.batch_rule)")
    lr: float = Field(gt=0)
    momentum: float = Field(ge=0)
    weight_decay: float = Field(ge=0)
    lr_steps: list[int]  # epochs
    gamma: float = Field(gt=0)
    warmup_iters: int = Field(ge=0)
    warmup_factor: float = Field(gt=0, le=1)
    grad_clip: float | None = Field(gt=0)
    # (long side, short side) pairs, one drawn per image (keep aspect ratio).
    scales: list[Pair]
    flip: bool
    num_workers: int = Field(ge=0)
    memory_size: int | None = Field(ge=1, description="boxes of the whole train.json (checked)")


class TestSettings(Settings):
    scale: Pair  # (long side, short side)
    search_score_thresh: float = Field(ge=0, le=1)
    gallery_size: int = Field(ge=1)  # CUHK-SYSU headline gallery
    ranked_list_queries: int = Field(ge=0)
    batch_images: int = Field(ge=1)  # images per pass when given boxes are embedded


class ValidationSettings(Settings):
    """A validation split cut from the training scenes (0 ids = off, the paper's setting).

    ``ids`` labelled training identities are drawn from the seed; every training
    scene holding one of them is held out (never trained on) and searched: each
    appearance of a drawn identity is a query, the other held-out scenes its gallery.
    """

    ids: int = Field(ge=0, description="training identities held out with their scenes")
    every_epochs: int = Field(ge=1, description="validate after every n-th and the last epoch")


class DiclSettings(Settings):
    """The ``dicl`` section as composed into params.yaml."""

    dataset: str
    model: ModelSettings
    oic: OicSettings
    loss: LossSettings
    pseudo_labels: PseudoLabelSettings
    train: TrainSettings
    test: TestSettings
    validation: ValidationSettings

    @model_validator(mode="after")
    def _consistent(self) -> DiclSettings:
        b = self.model.backbone
        if b.norm == "GN" and b.width % 32:
            raise ValueError(
                f"model.backbone.norm GN (32 groups) needs a width divisible by 32, got {b.width}"
            )
        sic = self.loss.sic_many_to_one.enabled or self.loss.sic_dense.enabled
        if sic and not self.model.crop.enabled:
            raise ValueError(
                "loss.sic_many_to_one / loss.sic_dense need model.crop.enabled (the Siamese "
                "crop branch); switch them off too"
            )
        if sorted(self.train.lr_steps) != list(self.train.lr_steps):
            raise ValueError(f"train.lr_steps must be increasing, got {self.train.lr_steps}")
        if not self.train.scales:
            raise ValueError("train.scales needs at least one (long, short) pair")
        return self


def load_settings(params: dict[str, Any]) -> tuple[DiclSettings, str]:
    """``(settings, layout)`` of the ``dicl`` section (see ``load_track_settings``)."""
    return load_track_settings(params, "dicl", DiclSettings, SUPPORTED_LAYOUTS)
