"""Sizes of the synthetic datasets: the ``render:`` mapping of a ``datasets`` entry.

One settings model per layout, validated with the project's params rules
(unknown keys are errors, messages name the key under the given prefix). Every
key is required: the values of the embedded default world live in one place,
the ``datasets.synthetic_*.render`` entries of conf/config.yaml (small enough
that each track trains in a few minutes on a 2-core CPU, large enough that a
colour histogram is clearly below a trained CNN; docs/datasets.md, "The embedded
synthetic world"); tests/test_defaults.py keeps code defaults out.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.params import Settings


def _check_range(low: int | float, high: int | float, low_key: str, high_key: str) -> None:
    if low > high:
        raise ValueError(f"{low_key} ({low}) is larger than {high_key} ({high})")


class _RenderSettings(Settings):
    seed: int = Field(ge=0)
    # Largest family of look-alikes (identities differing in one or two attributes).
    max_family_size: int = Field(ge=1, le=8)
    # Probability that a person or an object occludes part of the target.
    occlusion: float = Field(ge=0.0, le=1.0)
    jpeg_quality: int = Field(ge=50, le=100)


class Market1501Render(_RenderSettings):
    """Market-1501 layout (Zheng et al., ICCV 2015): 128x64 crops from 6 cameras."""

    num_train_ids: int = Field(ge=1)
    num_test_ids: int = Field(ge=1)
    # Identities of their own look-alike families, written into bounding_box_train after the
    # others (pids num_train_ids + num_test_ids + 1 ...): a track holds them out of training to
    # choose settings on (Market-1501 itself has no validation split). 0 = none.
    num_val_ids: int = Field(ge=0)
    # File names hold the camera as one digit.
    num_cameras: int = Field(ge=2, le=9)
    min_cameras_per_id: int = Field(ge=2)
    max_cameras_per_id: int = Field(ge=2)
    min_images_per_camera: int = Field(ge=1)
    max_images_per_camera: int = Field(ge=1)
    # bounding_box_test extras: false detections (pid 0000) and junk (pid -1).
    num_distractors: int = Field(ge=0)
    num_junk: int = Field(ge=0)
    width: int = Field(ge=16)
    height: int = Field(ge=32)

    @model_validator(mode="after")
    def _ranges(self) -> Market1501Render:
        _check_range(
            self.min_cameras_per_id,
            self.max_cameras_per_id,
            "min_cameras_per_id",
            "max_cameras_per_id",
        )
        _check_range(self.max_cameras_per_id, self.num_cameras, "max_cameras_per_id", "num_cameras")
        _check_range(
            self.min_images_per_camera,
            self.max_images_per_camera,
            "min_images_per_camera",
            "max_images_per_camera",
        )
        return self


class CuhkSysuRender(_RenderSettings):
    """CUHK-SYSU layout (Xiao et al., CVPR 2017): scenes with labelled and unlabelled people."""

    num_train_scenes: int = Field(ge=2)
    num_test_scenes: int = Field(ge=2)
    num_train_ids: int = Field(ge=1)
    num_test_ids: int = Field(ge=1)
    # Scenes each labelled identity appears in (the test query is one of them).
    min_appearances: int = Field(ge=2)
    max_appearances: int = Field(ge=2)
    min_people: int = Field(ge=1)
    max_people: int = Field(ge=1, le=14)
    num_cameras: int = Field(ge=1)
    # TestG{N}.mat files written; each gallery needs N < num_test_scenes.
    gallery_sizes: list[int] = Field(min_length=1)
    # Annotation errors kept from the original: boxes of zero width or height.
    num_zero_size_boxes: int = Field(ge=0)
    width: int = Field(ge=64)
    height: int = Field(ge=64)

    @model_validator(mode="after")
    def _ranges(self) -> CuhkSysuRender:
        _check_range(
            self.min_appearances, self.max_appearances, "min_appearances", "max_appearances"
        )
        _check_range(self.min_people, self.max_people, "min_people", "max_people")
        for size in self.gallery_sizes:
            if not 1 <= size < self.num_test_scenes:
                raise ValueError(
                    f"gallery_sizes: {size} must lie in 1..num_test_scenes-1 ({self.num_test_scenes - 1})"
                )
        if len(set(self.gallery_sizes)) != len(self.gallery_sizes):
            raise ValueError(f"gallery_sizes: {self.gallery_sizes} repeats a size")
        for split in ("train", "test"):
            ids = getattr(self, f"num_{split}_ids")
            scenes = getattr(self, f"num_{split}_scenes")
            if self.max_appearances > scenes:
                raise ValueError(
                    f"max_appearances ({self.max_appearances}) exceeds num_{split}_scenes ({scenes})"
                )
            # Labelled people must fit in the scenes' smallest possible capacity.
            if ids * self.max_appearances > scenes * self.min_people:
                raise ValueError(
                    f"num_{split}_ids x max_appearances ({ids} x {self.max_appearances}) exceeds "
                    f"num_{split}_scenes x min_people ({scenes} x {self.min_people}) person slots"
                )
        return self


class _CrossModalRender(_RenderSettings):
    """Crop sizes and infrared band shared by the visible-infrared layouts."""

    rgb_width: int = Field(ge=16)
    rgb_height: int = Field(ge=32)
    infrared_width: int = Field(ge=16)
    infrared_height: int = Field(ge=32)
    # What the infrared cameras see (pipeline.data.synthetic.infrared): reflected
    # near-infrared light ("near", as SYSU-MM01's night cameras with their own
    # illuminators) or emitted heat ("thermal", as RegDB's far-infrared camera).
    infrared_band: Literal["thermal", "near"]


class SysuMm01Render(_CrossModalRender):
    """SYSU-MM01 layout (Wu et al., ICCV 2017): RGB cameras 1, 2, 4, 5; infrared 3, 6."""

    num_train_ids: int = Field(ge=1)
    num_val_ids: int = Field(ge=1)
    num_test_ids: int = Field(ge=1)
    min_images_per_camera: int = Field(ge=1)
    max_images_per_camera: int = Field(ge=1)
    # Probability that an identity is seen by each camera beyond the guaranteed
    # two RGB and one infrared cameras.
    camera_presence: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ranges(self) -> SysuMm01Render:
        _check_range(
            self.min_images_per_camera,
            self.max_images_per_camera,
            "min_images_per_camera",
            "max_images_per_camera",
        )
        return self


class RegdbRender(_CrossModalRender):
    """RegDB layout (Nguyen et al., Sensors 2017): one dual camera, visible and thermal.

    Always ten train/test splits, as the real ``idx/`` folder and the converter have.
    """

    # Real RegDB: 412; every split trains on one half and tests on the other.
    num_ids: int = Field(ge=2)
    # Visible-thermal pairs per identity (real: 10), walking toward then away from
    # the camera: at least one front and one back view.
    images_per_id: int = Field(ge=2)
    # RegDB's images are BMP: the key does not apply, and giving it is refused (below).
    # Optional, never in conf/, so its default states no value twice (tests/test_defaults.py).
    jpeg_quality: int | None = None

    @field_validator("num_ids")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(
                f"num_ids ({value}) must be even: each split trains on half of the "
                "identities and tests on the other half"
            )
        return value

    @field_validator("jpeg_quality")
    @classmethod
    def _no_jpeg(cls, value: int) -> int:
        raise ValueError("jpeg_quality does not apply: RegDB images are BMP (lossless)")

    @model_validator(mode="after")
    def _serials(self) -> RegdbRender:
        # File names hold a five-digit serial per visible-thermal pair.
        if self.num_ids * self.images_per_id > 99_999:
            raise ValueError(
                f"num_ids x images_per_id ({self.num_ids} x {self.images_per_id}) exceeds "
                "99999, the largest five-digit serial in RegDB file names"
            )
        return self


SETTINGS: dict[str, type[_RenderSettings]] = {
    "market1501": Market1501Render,
    "cuhk_sysu": CuhkSysuRender,
    "sysu_mm01": SysuMm01Render,
    "regdb": RegdbRender,
}
