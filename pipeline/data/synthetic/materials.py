"""Material labels: the one geometry pass both RGB and infrared images are shaded from.

The renderer never paints colours directly. It draws a uint8 *material map*
(PIL, no anti-aliasing) where every pixel names what is there: a background
material (wall, window, road, tree, car...) or a part of one person (skin,
hair, top, stripes, trousers, bag...). Two lookup tables then turn the map into
an RGB image (garment colours) and an infrared image (emissivity and
temperature of the fabric, pipeline.data.synthetic.infrared). Because both come
from the same labels, the modalities agree on geometry and disagree on
appearance, as real visible and thermal cameras do.

Label layout: 0 unused, 1..31 background materials, then 16 labels per person
(person k uses 32 + 16 k ... 32 + 16 k + 15), so up to 14 people per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

import numpy as np

from pipeline.data.synthetic.identities import Identity


class Bg(IntEnum):
    """Background and object materials."""

    SKY = 1
    WALL = 2
    WALL2 = 3
    TRIM = 4
    WINDOW = 5
    DOOR = 6
    GROUND = 7
    GROUND_LINE = 8
    ROAD = 9
    GRASS = 10
    FOLIAGE = 11
    TRUNK = 12
    POLE = 13
    BIN = 14
    CAR = 15
    CAR_GLASS = 16
    TYRE = 17
    BENCH = 18
    SIGN = 19
    PLANT = 20
    SHADOW = 21
    LIGHT = 22
    PILLAR = 23
    COUNTER = 24


NUM_BACKGROUND = 32


class Part(IntEnum):
    """Parts of one person; ``*_FAR`` are the far-side limbs, drawn in shade."""

    SKIN = 0
    SKIN_FAR = 1
    HAIR = 2
    TOP = 3
    TOP_FAR = 4
    PATTERN = 5
    PATTERN_FAR = 6
    BOTTOM = 7
    BOTTOM_FAR = 8
    SHOES = 9
    BAG = 10
    BAG_FAR = 11
    HAT = 12
    LOGO = 13
    STRAP = 14
    FACE = 15


PERSON_BASE = 32
PERSON_STRIDE = 16
MAX_PEOPLE = (256 - PERSON_BASE) // PERSON_STRIDE
# Far-side limbs receive less light (the 2.5D cue of a side view).
FAR_SHADE = 0.7
# (near part, its far-side twin): every shading model derives the far level from the near one.
FAR_PARTS = (
    (Part.SKIN, Part.SKIN_FAR),
    (Part.TOP, Part.TOP_FAR),
    (Part.PATTERN, Part.PATTERN_FAR),
    (Part.BOTTOM, Part.BOTTOM_FAR),
    (Part.BAG, Part.BAG_FAR),
)


def person_base(index: int) -> int:
    """First label of the ``index``-th person drawn into one image."""
    if not 0 <= index < MAX_PEOPLE:
        raise ValueError(f"person index {index} outside 0..{MAX_PEOPLE - 1}")
    return PERSON_BASE + PERSON_STRIDE * index


def person_colours(person: Identity) -> np.ndarray:
    """sRGB colour of each of the 16 parts of one person, shape (16, 3)."""
    colours = np.zeros((PERSON_STRIDE, 3), dtype=np.float32)
    colours[Part.SKIN] = person.skin
    colours[Part.HAIR] = person.hair_colour
    colours[Part.TOP] = person.top_colour
    colours[Part.PATTERN] = person.pattern_colour
    colours[Part.BOTTOM] = person.bottom_colour
    colours[Part.SHOES] = person.shoes_colour
    colours[Part.BAG] = person.bag_colour
    colours[Part.HAT] = person.hat_colour
    colours[Part.LOGO] = person.logo_colour
    colours[Part.STRAP] = np.asarray(person.bag_colour) * 0.8
    colours[Part.FACE] = np.asarray(person.skin) * 0.45
    for near, far in FAR_PARTS:
        colours[far] = colours[near] * FAR_SHADE
    return colours


def build_lut(
    background: np.ndarray, people: Sequence[np.ndarray], fill: float | Sequence[float] = 0.0
) -> np.ndarray:
    """One lookup table from labels to values (colours or infrared levels).

    Args:
        background: values of the background materials, shape (32,) or (32, C).
        people: per person drawn, the values of its 16 parts, shape (16,) or (16, C).
        fill: value of labels nobody uses.

    Returns:
        float32 table of 256 rows.
    """
    background = np.asarray(background, dtype=np.float32)
    lut = np.empty((256, *background.shape[1:]), dtype=np.float32)
    lut[...] = fill
    lut[:NUM_BACKGROUND] = background
    for index, values in enumerate(people):
        start = person_base(index)
        lut[start : start + PERSON_STRIDE] = values
    return lut
