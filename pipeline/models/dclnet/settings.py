"""The ``dclnet`` section of params.yaml as typed settings (DCLNet, Sun et al. ACM MM 2022).

conf/dclnet/base.yaml holds the paper's settings (docs/methods.md, "DCLNet"); the
selected conf/dclnet/dataset option sets what a dataset changes (the synthetic world
shrinks sizes and the schedule, never the method). Every loss has a switch and a
weight, so an ablation is one ``-S dclnet.loss.<name>.enabled=false``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from pipeline.data.sources import load_track_settings
from pipeline.params import Settings

SECTION = "dclnet"
LAYOUTS = ("sysu_mm01", "regdb")
REGDB_SPLITS = tuple(range(1, 11))


class ModelSettings(Settings):
    depth: Literal[18, 34, 50]
    width: int = Field(ge=8, description="stem channels; 64 = standard ResNet")
    # "imagenet" (torchvision weights), a local state-dict path, or null (random init).
    pretrained: str | None
    last_stride: Literal[1, 2]
    gem_p: float = Field(gt=0)
    parts: int = Field(ge=1)


class InputSettings(Settings):
    height: int = Field(ge=32)
    width: int = Field(ge=16)
    grayscale_p: float = Field(ge=0, le=1, description="visible images only")
    flip_p: float = Field(ge=0, le=1)
    erasing_p: float = Field(ge=0, le=1)


class SamplerSettings(Settings):
    ids_per_batch: int = Field(ge=2)
    images_per_id: int = Field(ge=1, description="per modality")


class TrainSettings(Settings):
    epochs: int = Field(ge=1)
    # Batches per epoch; null: as the official sampler, len(larger modality) / batch size.
    iters_per_epoch: int | None = Field(ge=1)
    lr: float = Field(gt=0)
    backbone_lr_mult: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    warmup_epochs: int = Field(ge=0)
    milestones: list[int]
    gamma: float = Field(gt=0, le=1)
    workers: int = Field(ge=0)

    @model_validator(mode="after")
    def _sorted_milestones(self) -> TrainSettings:
        if self.milestones != sorted(self.milestones) or any(m < 1 for m in self.milestones):
            raise ValueError(f"milestones must be increasing epochs >= 1, got {self.milestones}")
        return self


class LossSwitch(Settings):
    enabled: bool
    weight: float = Field(ge=0)


class CenterTripletSettings(LossSwitch):
    margin: float = Field(ge=0)


class DenseSettings(LossSwitch):
    temperature: float = Field(gt=0)


class LossSettings(Settings):
    id: LossSwitch
    center_triplet: CenterTripletSettings
    part: LossSwitch
    pixel: LossSwitch
    smooth: LossSwitch
    dense: DenseSettings


class PapSettings(Settings):
    # Part-aware parsing: the parser's labels are the dense loss's part masks; false: the
    # fixed horizontal stripes (the official "Idol Mask", train_ddag.py:445-449).
    enabled: bool


class SrmSettings(Settings):
    # Semantic rectification: the official ``remask`` (loss.py:415) relabels the masks.
    enabled: bool
    # Whose class activation makes the part masks: the predicted id (official) or the true one.
    cam_label: Literal["predicted", "target"]
    # Stripes above/below a pixel's own whose parts ``remask`` may give it (official: 1).
    window: int = Field(ge=0)


class EvalSettings(Settings):
    batch_size: int = Field(ge=1)
    trials: int = Field(ge=1, description="SYSU-MM01 random gallery draws")
    trial_seed: int
    ranked_lists: int = Field(ge=0, description="infrared queries pictured")


class ValidationSettings(Settings):
    """Identities held out of training and scored like the test set, to choose settings on.

    ``ids`` train identities (drawn with ``seed`` among those seen in both
    modalities, or the listed ``pids``) leave training; their infrared images are the
    queries and their visible images the gallery of the SYSU-MM01 all-search
    single-shot protocol (RegDB: thermal->visible). 0 = off, the paper's setting
    (train on every id); listed ``pids`` wait for ``ids`` to be set to their count.
    """

    ids: int = Field(ge=0, description="train identities held out; 0 = off")
    seed: int = Field(description="draws the held-out identities")
    # Named held-out ids instead of a draw (e.g. the dataset's own val list, exp/val_id.txt):
    # whole look-alike families stay out of training, as for the test ids. [] = draw ``ids``.
    pids: list[int]
    # Score the held-out ids after every ``every`` epochs (0: after the last epoch only).
    every: int = Field(ge=0)

    @model_validator(mode="after")
    def _ids_or_pids(self) -> ValidationSettings:
        if len(set(self.pids)) != len(self.pids):
            raise ValueError(f"pids: {len(self.pids)} ids listed, not all distinct")
        if self.ids and self.pids and self.ids != len(self.pids):
            raise ValueError(
                f"pids: {len(self.pids)} ids listed but ids is {self.ids}; "
                "set ids to the number of listed pids (0 = validation off)"
            )
        return self


class DclnetSettings(Settings):
    dataset: str
    model: ModelSettings
    input: InputSettings
    sampler: SamplerSettings
    train: TrainSettings
    loss: LossSettings
    pap: PapSettings
    srm: SrmSettings
    eval: EvalSettings
    validation: ValidationSettings
    # RegDB: the splits trained and evaluated (one model each); ignored for SYSU-MM01.
    splits: list[int]

    @model_validator(mode="after")
    def _check(self) -> DclnetSettings:
        bad = sorted(set(self.splits) - set(REGDB_SPLITS))
        if bad or not self.splits or len(set(self.splits)) != len(self.splits):
            raise ValueError(f"splits must be distinct values in 1..10, got {self.splits}")
        low_h, low_w = self.input.height // 4, self.input.width // 4
        if low_h < self.model.parts or (self.input.height // 16) < self.model.parts:
            raise ValueError(
                f"input height {self.input.height} is too small for {self.model.parts} stripes "
                "(the layer4 map needs a row per stripe)"
            )
        if low_w < 2:
            raise ValueError(f"input width {self.input.width} is too small")
        # Without PAP nothing reads the parser: its losses would train an unused head.
        trained = [n for n in ("pixel", "smooth") if getattr(self.loss, n).enabled]
        if not self.pap.enabled and trained:
            raise ValueError(
                "dclnet.pap.enabled is false but the parser's losses are on: also set "
                + ", ".join(f"dclnet.loss.{n}.enabled=false" for n in trained)
            )
        return self


def load_settings(params: dict[str, Any]) -> tuple[DclnetSettings, str]:
    """``(settings, layout)`` of the ``dclnet`` section (see ``load_track_settings``)."""
    return load_track_settings(params, SECTION, DclnetSettings, LAYOUTS)


def model_kwargs(settings: DclnetSettings) -> dict[str, Any]:
    """The ``network.build_dclnet`` arguments a settings object fixes (not classes or seed)."""
    m = settings.model
    return {
        "depth": m.depth,
        "width": m.width,
        "last_stride": m.last_stride,
        "gem_p": m.gem_p,
        "parts": m.parts,
    }
