"""Compose one image: background, people and objects back to front, then shade.

Layers are drawn into the material map in the order given (farthest first), so
nearer people and objects occlude farther ones exactly. The map is drawn at
``SUPERSAMPLE`` times the camera's native resolution and shaded through the
lookup tables of pipeline.data.synthetic.materials (RGB) or
pipeline.data.synthetic.infrared (thermal); averaging the supersamples gives
anti-aliased edges. A soft light gradient across the frame stands in for the
light direction of the place, then the camera develops the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from pipeline.data.synthetic.backgrounds import draw_occluder
from pipeline.data.synthetic.cameras import Camera, develop_rgb
from pipeline.data.synthetic.figure import Pose, draw_person
from pipeline.data.synthetic.identities import Identity
from pipeline.data.synthetic.infrared import (
    develop_infrared,
    person_infrared,
    person_near_infrared,
)
from pipeline.data.synthetic.materials import (
    PERSON_BASE,
    PERSON_STRIDE,
    Bg,
    build_lut,
    person_base,
    person_colours,
)
from pipeline.data.synthetic.patterns import apply_pattern

SUPERSAMPLE = 2
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Placement:
    """A person standing at (``cx``, ``foot_y``), ``stature`` pixels tall (native pixels)."""

    who: Identity
    cx: float
    foot_y: float
    stature: float
    pose: Pose


@dataclass(frozen=True)
class Occluder:
    """An object (``backgrounds.OCCLUDERS``) standing at (``x``, ``foot_y``) (native pixels)."""

    kind: str
    x: float
    foot_y: float
    scale: float


@dataclass(frozen=True)
class Drawn:
    """The material map of one image and, per person drawn (in layer order), where it is."""

    labels: np.ndarray  # uint8 (SUPERSAMPLE x native height, SUPERSAMPLE x native width)
    people: list[Identity]  # person k owns labels person_base(k) .. + 15
    extents: list[Box]  # drawn extent (x0, y0, x1, y1) in output pixels, unclipped
    visible: list[float]  # shown pixels / clipped box area (a whole person: ~0.4)


def _downsample(values: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return values
    h, w = values.shape[0] // factor, values.shape[1] // factor
    # Strided sums, rows then columns: several times faster than a mean over
    # reshaped axes.
    rows = sum(values[d : h * factor : factor] for d in range(1, factor))
    rows = rows + values[0 : h * factor : factor]
    total = sum(rows[:, d : w * factor : factor] for d in range(1, factor))
    total = total + rows[:, 0 : w * factor : factor]
    return total * np.float32(1.0 / (factor * factor))


def draw_layers(
    background: np.ndarray,
    layers: Sequence[Placement | Occluder],
    rng: np.random.Generator,
    size: tuple[int, int],
) -> Drawn:
    """Draw people and objects over a background material map.

    Args:
        background: uint8 material map at ``SUPERSAMPLE`` x the native resolution.
        layers: people and objects, farthest first; coordinates in native pixels.
        rng: generator of this image (object sizes).
        size: output (width, height), to express the extents in.

    Returns:
        The material map and, per person, its extent and visible share.
    """
    s = SUPERSAMPLE
    canvas = Image.fromarray(np.ascontiguousarray(background, dtype=np.uint8))
    draw = ImageDraw.Draw(canvas)
    people: list[tuple[Placement, int]] = []
    extents: list[Box] = []
    for layer in layers:
        if isinstance(layer, Occluder):
            draw_occluder(draw, rng, layer.kind, layer.x * s, layer.foot_y * s, layer.scale * s)
            continue
        base = person_base(len(people))
        # Contact shadow on the ground under the feet.
        rx, ry = 0.16 * layer.stature * s, 0.025 * layer.stature * s
        fx, fy = layer.cx * s, layer.foot_y * s
        draw.ellipse([fx - rx, fy - ry, fx + rx, fy + ry], fill=int(Bg.SHADOW))
        box = draw_person(draw, layer.who, base, fx, fy, layer.stature * s, layer.pose)
        people.append((layer, base))
        extents.append(box)
    labels = np.array(canvas, dtype=np.uint8)
    for layer, base in people:
        apply_pattern(labels, layer.who, base, layer.cx * s, layer.foot_y * s, layer.stature * s)
    # Pixels each person still shows after occlusion, as a share of its clipped box.
    owned = labels[labels >= PERSON_BASE]
    shown = np.bincount((owned - PERSON_BASE) // PERSON_STRIDE, minlength=len(people))
    visible = []
    for count, b in zip(shown, extents, strict=False):
        w = min(b[2], labels.shape[1]) - max(b[0], 0)
        h = min(b[3], labels.shape[0]) - max(b[1], 0)
        visible.append(float(count) / (w * h) if w > 0 and h > 0 else 0.0)
    fx, fy = size[0] / labels.shape[1], size[1] / labels.shape[0]
    boxes = [(b[0] * fx, b[1] * fy, b[2] * fx, b[3] * fy) for b in extents]
    return Drawn(labels, [p.who for p, _ in people], boxes, visible)


def shade(
    drawn: Drawn, camera: Camera, rng: np.random.Generator, size: tuple[int, int]
) -> np.ndarray:
    """Material map -> the camera's image (RGB colours or infrared levels).

    Args:
        drawn: output of :func:`draw_layers`.
        camera: develops RGB or infrared.
        rng: generator of this image (light, noise).
        size: output (width, height).

    Returns:
        uint8 (height, width, 3).
    """
    style = camera.style
    if camera.infrared:
        if camera.band == "near":
            levels = [person_near_infrared(who) for who in drawn.people]
        else:
            levels = [person_infrared(who, style.ambient) for who in drawn.people]
        lut = build_lut(style.infrared, levels, style.ambient)
        return develop_infrared(
            _downsample(np.take(lut, drawn.labels), SUPERSAMPLE), camera, rng, size
        )
    lut = build_lut(style.colours, [person_colours(who) for who in drawn.people])
    rgb = _downsample(np.take(lut, drawn.labels, axis=0), SUPERSAMPLE)
    h, w = rgb.shape[:2]
    tilt_y, tilt_x = rng.uniform(0.0, 0.16), rng.uniform(-0.08, 0.08)
    light = (
        1.0
        + tilt_y * (0.5 - np.arange(h, dtype=np.float32)[:, None] / h)
        + tilt_x * (np.arange(w, dtype=np.float32)[None, :] / w - 0.5)
    )
    return develop_rgb(rgb * light[:, :, None], camera, rng, size)
