"""Infrared rendering: thermal (temperature and emissivity) or near-infrared (dye
reflectance); never brightness from colour.

A thermal camera sees the radiance of a surface, roughly ``e * T + (1 - e) *
T_reflected``. Skin is the warmest thing in the scene; a garment's surface lies
between skin and air temperature according to how much it insulates (a cotton
T-shirt is warm, a down jacket cold) and shows it according to its emissivity.
Hair, hats, shoes and bags barely warm up. Colours play no part: a red and a
navy cotton shirt look the same, and a black down jacket looks colder than a
white T-shirt. That is what makes visible-infrared re-id hard, and why a colour
histogram is near chance on it.

A near-infrared camera with its own illuminator (``person_near_infrared``) sees
instead the light each surface reflects at about 850 nm. Skin reflects much of
it, hair little; a garment reflects according to its dye, which the visible
colour does not predict: two navy shirts of one dye look alike, a black and a
white shirt may look alike, and where a print's dye differs from the cloth's the
print shows. Garment boundaries, prints and logos are then shared with the
visible image, colours are not, and a colour histogram stays near chance.

The camera then applies automatic gain (a percentile stretch of the frame), a
blurrier lens, a lower native resolution, its own noise and per-column
fixed-pattern offsets, and writes one channel copied into three, as the real
SYSU-MM01 infrared JPEGs are.
"""

from __future__ import annotations

import numpy as np

from pipeline.data.synthetic.cameras import Camera, finish, tone_curve
from pipeline.data.synthetic.identities import Identity
from pipeline.data.synthetic.materials import (
    FAR_PARTS,
    FAR_SHADE,
    PERSON_STRIDE,
    Part,
    person_colours,
)

SKIN_LEVEL = 0.9
# (heat transmission from the body, emissivity) of each fabric.
TOP_FABRIC = {
    "cotton": (0.72, 0.95),
    "synthetic": (0.55, 0.84),
    "wool": (0.42, 0.95),
    "down": (0.2, 0.88),
}
BOTTOM_FABRIC = {"denim": (0.5, 0.93), "cotton": (0.64, 0.95), "synthetic": (0.45, 0.84)}
# Heat reaching accessories and hair from the body (fraction of skin - ambient).
ACCESSORY_TRANSMISSION = {
    Part.HAIR: 0.38,
    Part.HAT: 0.3,
    Part.SHOES: 0.12,
    Part.BAG: 0.06,
    Part.STRAP: 0.25,
}


def _surface(ambient: float, skin: float, transmission: float, emissivity: float) -> float:
    temperature = ambient + (skin - ambient) * transmission
    # What a low emissivity lets through is the reflected, slightly cooler surroundings.
    return emissivity * temperature + (1.0 - emissivity) * (ambient - 0.05)


def person_infrared(who: Identity, ambient: float) -> np.ndarray:
    """Infrared level of each of the 16 parts of one person, shape (16,).

    Args:
        who: the identity (its fabrics and skin temperature matter, not its colours).
        ambient: infrared level of the surroundings.
    """
    skin = SKIN_LEVEL + who.skin_temperature
    levels = np.full(PERSON_STRIDE, ambient, dtype=np.float32)
    levels[Part.SKIN] = skin
    levels[Part.FACE] = skin - 0.06
    top = _surface(ambient, skin, *TOP_FABRIC[who.top_fabric])
    levels[Part.TOP] = top
    # Printed patterns and logos change the surface emissivity a little.
    levels[Part.PATTERN] = top + 0.02
    levels[Part.LOGO] = top - 0.05
    levels[Part.BOTTOM] = _surface(ambient, skin, *BOTTOM_FABRIC[who.bottom_fabric])
    for part, transmission in ACCESSORY_TRANSMISSION.items():
        levels[part] = _surface(ambient, skin, transmission, 0.92)
    # A backpack lies against the back and warms more than a hand bag.
    if who.bag == "backpack":
        levels[Part.BAG] = _surface(ambient, skin, 0.18, 0.92)
    for near, far in FAR_PARTS:
        levels[far] = levels[near] - 0.02
    return levels


def _dye_reflectance(rgb: np.ndarray) -> np.ndarray:
    """Near-infrared reflectance of the dye of each colour (rows of sRGB in [0, 1]).

    A dye is known here by its colour, so equal dyes reflect alike; the fixed
    oscillating map keeps the level unpredictable from brightness or hue.
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    return 0.55 + 0.38 * np.sin(rgb @ np.array([6.0, 11.0, 7.0], dtype=np.float32) + 1.0)


def person_near_infrared(who: Identity) -> np.ndarray:
    """Near-infrared level of each of the 16 parts of one person, shape (16,).

    Args:
        who: the identity (its colours name its dyes; its fabrics do not matter).
    """
    levels = _dye_reflectance(person_colours(who)).astype(np.float32)
    skin = 0.8 + 0.1 * float(np.mean(who.skin))
    levels[Part.SKIN] = skin
    levels[Part.FACE] = skin - 0.03
    levels[Part.HAIR] = 0.3 + 0.2 * float(np.mean(who.hair_colour))
    for near, far in FAR_PARTS:
        levels[far] = levels[near] * FAR_SHADE
    return levels


def develop_infrared(
    level: np.ndarray, camera: Camera, rng: np.random.Generator, size: tuple[int, int]
) -> np.ndarray:
    """Infrared levels -> the thermal camera's 8-bit image, one channel in three.

    Args:
        level: float (H, W) infrared levels, native resolution.
        camera: an infrared camera.
        rng: generator of this image (gain jitter, noise).
        size: output (width, height).

    Returns:
        uint8 (height, width, 3) with three equal channels.
    """
    lo, hi = np.percentile(level, (1.0, 99.5))
    lo += rng.normal(0.0, 0.03)
    hi += rng.normal(0.0, 0.03)
    x = tone_curve(np.clip((level - lo) / max(hi - lo, 0.05), 0.0, 1.0), camera.gamma)
    gray = finish(x, camera, rng, size)
    # Per-column offsets of the microbolometer, fixed for the camera.
    columns = np.random.default_rng(camera.number).normal(0.0, 3.0, size[0]).astype(np.float32)
    gray = np.clip(gray.astype(np.float32) + columns[None, :], 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)
