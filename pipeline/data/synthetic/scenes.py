"""Person-search scenes: several people on a ground plane, seen by one camera.

People stand on the ground between the horizon and the bottom of the frame;
their height in pixels grows with the distance of their feet below the
horizon (a pinhole camera over a flat ground), so scales vary from small
far-away figures to near people cut by the bottom edge. Labelled identities are
kept mostly inside the frame and not hidden behind nearer people; unlabelled
bystanders go anywhere, partly outside the frame included. Objects (poles,
cars, benches...) stand among them. Everyone is drawn far to near, and each
person's box is the extent of what was drawn, clipped to the image, in whole
pixels: the way the real annotations were made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.data.synthetic.backgrounds import OCCLUDERS, draw_background
from pipeline.data.synthetic.cameras import Camera, draw_view
from pipeline.data.synthetic.compose import SUPERSAMPLE, Occluder, Placement, draw_layers, shade
from pipeline.data.synthetic.figure import Pose
from pipeline.data.synthetic.identities import Identity

# Largest share of a labelled person's box that nearer people may cover.
MAX_COVER = 0.35
MIN_LABELLED_HEIGHT = 45.0
MIN_BYSTANDER_HEIGHT = 28.0
# Below this share of its whole box a person shows too little to be boxed, as in the real
# annotations: hidden behind others or objects, or cut off by the frame edge (a few-pixel
# sliver of a bystander walking out of the picture is nobody's annotation).
MIN_VISIBLE = 0.1
# A labelled person must show at least this share (else the scene is laid out again).
MIN_LABELLED_VISIBLE = 0.15


@dataclass(frozen=True)
class ScenePerson:
    """One person of a scene; ``labelled`` people must be searchable."""

    who: Identity
    labelled: bool


@dataclass(frozen=True)
class SceneBox:
    """A person's annotated box [x, y, w, h] in whole pixels (None: not in the image)."""

    box: tuple[int, int, int, int] | None
    hard: bool
    visible: float  # shown pixels / box area (a whole, unoccluded person: ~0.4)


def _cover(
    box: tuple[float, float, float, float], others: Sequence[tuple[float, float, float, float]]
) -> float:
    """Share of ``box`` covered by ``others`` (overlaps summed: an upper bound)."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    covered = 0.0
    for o in others:
        w = min(box[2], o[2]) - max(box[0], o[0])
        h = min(box[3], o[3]) - max(box[1], o[1])
        if w > 0 and h > 0:
            covered += w * h
    return covered / area if area > 0 else 1.0


def _clip(
    extent: tuple[float, float, float, float], width: int, height: int, tall: float, visible: float
) -> SceneBox:
    """Whole-pixel box clipped to the image; None when (almost) nothing of the person shows.

    ``visible`` is the share of the clipped box the person's pixels fill; a person
    is boxed when they fill at least ``MIN_VISIBLE`` of the whole, unclipped box, so
    truncation by the frame hides a person the way occlusion does.
    """
    x0, y0 = max(math.floor(extent[0]), 0), max(math.floor(extent[1]), 0)
    x1, y1 = min(math.ceil(extent[2]), width), min(math.ceil(extent[3]), height)
    full = (extent[2] - extent[0]) * (extent[3] - extent[1])
    shown = visible * (x1 - x0) * (y1 - y0) / full if full > 0 else 0.0
    if x1 - x0 < 2 or y1 - y0 < 2 or shown < MIN_VISIBLE:
        return SceneBox(None, True, visible)
    hard = (y1 - y0) < 60 or (x1 - x0) * (y1 - y0) < 0.7 * full or tall < 60 or visible < 0.25
    return SceneBox((x0, y0, x1 - x0, y1 - y0), hard, visible)


def render_scene(
    people: Sequence[ScenePerson],
    camera: Camera,
    rng: np.random.Generator,
    size: tuple[int, int],
    occlusion: float,
) -> tuple[np.ndarray, list[SceneBox]] | None:
    """Place and draw the people of one scene.

    Args:
        people: who is in the scene (at most ``materials.MAX_PEOPLE``).
        camera: the camera (its place and imaging).
        rng: generator of this scene.
        size: (width, height) of the image.
        occlusion: probability of each of up to two standing objects.

    Returns:
        (uint8 image (height, width, 3), one box per person in the order given), or
        None when the layout hides a labelled person or repeats a box (draw again).
    """
    width, height = size
    horizon = height * camera.horizon * float(rng.uniform(0.45, 0.7))
    # Pixels of stature per pixel of feet below the horizon.
    slope = 0.85 * height / (height - horizon) * float(rng.uniform(0.85, 1.2))
    order = sorted(range(len(people)), key=lambda i: not people[i].labelled)
    geometry: dict[int, tuple[float, float, float]] = {}  # person -> (cx, foot_y, stature)
    rough: dict[int, tuple[float, float, float, float]] = {}  # person -> approximate box
    for index in order:
        person = people[index]
        for _ in range(30):
            if person.labelled:
                low = horizon + MIN_LABELLED_HEIGHT / slope
                foot = float(rng.uniform(low, max(low + 1.0, height * 1.02)))
                cx = float(rng.uniform(0.08, 0.92)) * width
            else:
                low = horizon + MIN_BYSTANDER_HEIGHT / slope
                foot = float(rng.uniform(low, height * 1.25))
                cx = float(rng.uniform(-0.1, 1.1)) * width
            stature = slope * (foot - horizon) * person.who.height
            box = (cx - 0.16 * stature, foot - stature, cx + 0.16 * stature, foot)
            nearer = [rough[i] for i, g in geometry.items() if g[1] > foot]
            farther_labelled = [
                rough[i] for i, g in geometry.items() if g[1] < foot and people[i].labelled
            ]
            # Nobody may hide a labelled person, who may not hide an earlier labelled one.
            if person.labelled and _cover(box, nearer) > MAX_COVER:
                continue
            if any(_cover(b, [box]) > MAX_COVER for b in farther_labelled):
                continue
            break
        rough[index] = box
        geometry[index] = (cx, foot, stature)
    # (depth, person index or -1 for an object, layer)
    layers: list[tuple[float, int, Placement | Occluder]] = []
    for index, (cx, foot, stature) in geometry.items():
        pose = Pose(draw_view(camera, rng), float(rng.uniform(0.0, 2 * np.pi)))
        layers.append((foot, index, Placement(people[index].who, cx, foot, stature, pose)))
    for _ in range(2):
        if rng.random() < occlusion:
            foot = float(rng.uniform(horizon + 20.0 / slope, height * 1.05))
            kind = OCCLUDERS[int(rng.integers(len(OCCLUDERS)))]
            x = float(rng.uniform(0, width))
            layers.append((foot, -1, Occluder(kind, x, foot, slope * (foot - horizon))))
    # Far to near; ties keep a fixed order.
    layers.sort(key=lambda item: (item[0], item[1]))
    background = draw_background(
        camera.style, rng, width * SUPERSAMPLE, height * SUPERSAMPLE, horizon / height
    )
    drawn = draw_layers(background, [layer for *_, layer in layers], rng, size)
    order_drawn = [index for _, index, _ in layers if index >= 0]
    boxes: list[SceneBox] = [SceneBox(None, True, 0.0)] * len(people)
    for index, extent, visible in zip(order_drawn, drawn.extents, drawn.visible, strict=True):
        boxes[index] = _clip(extent, width, height, geometry[index][2], visible)
    kept = [b.box for b in boxes if b.box is not None]
    for person, b in zip(people, boxes, strict=True):
        # A labelled person must show, and its box must match exactly one annotated box.
        if person.labelled and (b.box is None or b.visible < MIN_LABELLED_VISIBLE):
            return None
    if len(set(kept)) != len(kept):
        return None
    return shade(drawn, camera, rng, size), boxes
