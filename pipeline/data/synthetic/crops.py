"""Person crops as a detector delivers them (Market-1501, SYSU-MM01 layouts).

A crop is framed around one person with the misalignment of a real detector:
the person fills 78-96 % of the height, off centre by a few percent. The
background is a window into the camera's own place, drawn once per camera, so
crops of one camera share their surroundings. With the dataset's occlusion
probability, a second person (behind or in front) or an object (pole, bin,
car...) hides part of the target. Other framings make a detector's mistakes:
background only or a fragment of a person (Market's ``0000`` distractors) and
cut-off bodies (its ``-1`` junk).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.data.synthetic.backgrounds import OCCLUDERS, draw_background
from pipeline.data.synthetic.cameras import Camera, draw_view
from pipeline.data.synthetic.compose import SUPERSAMPLE, Occluder, Placement, draw_layers, shade
from pipeline.data.synthetic.figure import Pose
from pipeline.data.synthetic.identities import Identity

# Background canvas of a camera, in crop sizes: wide enough for varied windows.
CANVAS_WIDTHS, CANVAS_HEIGHTS = 6, 1.6
# Horizontal stretch of a detection resized to the output aspect ratio.
STRETCH = (1.25, 1.5)


@dataclass(frozen=True)
class Framing:
    """Where the target stands in the crop, as fractions of the crop size."""

    stature: float  # person height / crop height
    foot: float  # sole y / crop height (> 1: feet below the crop)
    centre: float  # body axis x / crop width

    @staticmethod
    def detection(rng: np.random.Generator) -> Framing:
        """A good detection: the whole person, slightly misaligned."""
        return Framing(
            stature=float(rng.uniform(0.84, 0.97)),
            foot=float(rng.uniform(0.95, 1.0)),
            centre=float(0.5 + rng.normal(0.0, 0.06)),
        )

    @staticmethod
    def fragment(rng: np.random.Generator) -> Framing:
        """A bad detection: a body part fills the crop (upper body, legs or a side)."""
        kind = rng.integers(3)
        if kind == 0:  # head and torso
            return Framing(float(rng.uniform(1.6, 2.4)), float(rng.uniform(1.6, 2.2)), 0.5)
        if kind == 1:  # legs
            return Framing(float(rng.uniform(1.8, 2.6)), float(rng.uniform(0.95, 1.02)), 0.5)
        return Framing(float(rng.uniform(0.8, 1.0)), 0.98, (-0.05 if rng.random() < 0.5 else 1.05))


def native_size(camera: Camera, size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) the camera really resolves for an output crop of ``size``."""
    return max(8, round(size[0] * camera.resolution)), max(16, round(size[1] * camera.resolution))


def camera_canvas(camera: Camera, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """The camera's place, a material map a few crops wide (supersampled)."""
    w, h = native_size(camera, size)
    width = int(w * SUPERSAMPLE * CANVAS_WIDTHS)
    height = int(h * SUPERSAMPLE * CANVAS_HEIGHTS)
    return draw_background(camera.style, rng, width, height, camera.horizon)


def _window(canvas: np.ndarray, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    y = int(rng.integers(0, canvas.shape[0] - h + 1))
    x = int(rng.integers(0, canvas.shape[1] - w + 1))
    return canvas[y : y + h, x : x + w]


def render_crop(
    who: Identity | None,
    camera: Camera,
    canvas: np.ndarray,
    rng: np.random.Generator,
    size: tuple[int, int],
    pose: Pose | None = None,
    framing: Framing | None = None,
    others: Sequence[Identity] = (),
    occlusion: float = 0.0,
) -> np.ndarray:
    """One crop of ``who`` (or of background only) seen by ``camera``.

    Args:
        who: the target, or None for a background-only crop.
        camera: the camera.
        canvas: the camera's place (``camera_canvas``).
        rng: generator of this crop.
        size: output (width, height).
        pose: view and walking phase; drawn from the camera's prior when None.
        framing: target placement; a good detection when None.
        others: people who may pass by and occlude.
        occlusion: probability of an occluding person or object.

    Returns:
        uint8 (height, width, 3).
    """
    w, h = native_size(camera, size)
    # Detector boxes are narrower than 1:2 and get stretched to the output size, so
    # people look wider than they are, as in real re-id crops.
    w = max(8, round(w / float(rng.uniform(*STRETCH))))
    background = _window(canvas, rng, w * SUPERSAMPLE, h * SUPERSAMPLE)
    layers: list[Placement | Occluder] = []
    if who is None:
        return shade(draw_layers(background, layers, rng, size), camera, rng, size)
    framing = framing or Framing.detection(rng)
    pose = pose or Pose(draw_view(camera, rng), float(rng.uniform(0.0, 2 * np.pi)))
    target = Placement(who, framing.centre * w, framing.foot * h, framing.stature * h, pose)
    layers.append(target)
    if rng.random() < occlusion:
        kind = rng.integers(3) if others else 2
        side = -1.0 if rng.random() < 0.5 else 1.0
        if kind < 2:
            other = others[int(rng.integers(len(others)))]
            stature = target.stature * float(rng.uniform(0.9, 1.12))
            behind = kind == 0
            offset = rng.uniform(0.35, 0.7) if behind else rng.uniform(0.5, 0.85)
            passer = Placement(
                other,
                target.cx + side * float(offset) * w,
                target.foot_y + (-0.04 if behind else 0.04) * h,
                stature,
                Pose(draw_view(camera, rng), float(rng.uniform(0.0, 2 * np.pi))),
            )
            layers = [passer, target] if behind else [target, passer]
        else:
            kind_name = OCCLUDERS[int(rng.integers(len(OCCLUDERS)))]
            x = target.cx + side * float(rng.uniform(0.15, 0.6)) * w
            layers.append(Occluder(kind_name, x, h * float(rng.uniform(1.0, 1.1)), target.stature))
    return shade(draw_layers(background, layers, rng, size), camera, rng, size)
