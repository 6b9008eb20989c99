"""Backgrounds and occluding objects of the synthetic world, as material maps.

Each camera looks at its own place: an outdoor street (sky, facades with
windows and doors, pavement with joints, road, grass, trees, poles) or an indoor
hall (walls, pillars, doors, windows, ceiling lights, a tiled floor, a counter).
A :class:`Style` holds that place's colours and its infrared levels; infrared
levels follow the material (glass reflects the cold sky, lamps are hot, grass
is cool), never the colour. Occluders (pole, bin, car, bench, plant, sign) are
drawn in front of people to hide parts of them, as in real detections.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from pipeline.data.synthetic.materials import NUM_BACKGROUND, Bg

OCCLUDERS = ("pole", "bin", "car", "bench", "plant", "sign")
# Saturation kept from the material colours (1 = as listed).
MUTE = 0.25


@dataclass(frozen=True)
class Style:
    """Colours (sRGB, [0, 1]) and infrared levels of the background materials of one place."""

    indoor: bool
    colours: np.ndarray  # (32, 3)
    infrared: np.ndarray  # (32,)
    ambient: float  # infrared level of the air-temperature surroundings


def _rgb(rng: np.random.Generator, base: tuple[int, int, int], spread: float) -> np.ndarray:
    return np.clip(np.asarray(base) / 255.0 + rng.normal(0.0, spread, 3), 0.0, 1.0)


def sample_style(rng: np.random.Generator, indoor: bool, ambient: float | None = None) -> Style:
    """Colours and infrared levels of one camera's surroundings.

    Args:
        rng: generator of this camera.
        indoor: hall rather than street.
        ambient: infrared level of the air; drawn when None (indoor warmer).
    """
    colours = np.zeros((NUM_BACKGROUND, 3))
    walls = [
        (196, 186, 168),
        (150, 140, 130),
        (120, 120, 128),
        (178, 120, 92),
        (220, 220, 212),
        (92, 100, 96),
    ]
    grounds = [(128, 126, 122), (160, 150, 136), (96, 96, 100), (176, 168, 150)]
    colours[Bg.SKY] = _rgb(rng, (170, 196, 226), 0.06)
    colours[Bg.WALL] = _rgb(rng, walls[int(rng.integers(len(walls)))], 0.05)
    colours[Bg.WALL2] = _rgb(rng, walls[int(rng.integers(len(walls)))], 0.05)
    colours[Bg.TRIM] = colours[Bg.WALL] * 0.7
    colours[Bg.WINDOW] = _rgb(rng, (70, 90, 110), 0.05)
    colours[Bg.DOOR] = _rgb(rng, (90, 64, 44), 0.06)
    colours[Bg.GROUND] = _rgb(rng, grounds[int(rng.integers(len(grounds)))], 0.04)
    colours[Bg.GROUND_LINE] = colours[Bg.GROUND] * 0.78
    colours[Bg.ROAD] = _rgb(rng, (72, 72, 76), 0.03)
    colours[Bg.GRASS] = _rgb(rng, (84, 124, 60), 0.05)
    colours[Bg.FOLIAGE] = _rgb(rng, (58, 98, 48), 0.05)
    colours[Bg.TRUNK] = _rgb(rng, (84, 62, 44), 0.03)
    colours[Bg.POLE] = _rgb(rng, (70, 74, 78), 0.05)
    colours[Bg.BIN] = _rgb(rng, (40, 96, 64), 0.1)
    colours[Bg.CAR] = _rgb(rng, (150, 150, 155), 0.25)
    colours[Bg.CAR_GLASS] = _rgb(rng, (40, 48, 58), 0.03)
    colours[Bg.TYRE] = _rgb(rng, (25, 25, 25), 0.01)
    colours[Bg.BENCH] = _rgb(rng, (120, 84, 52), 0.05)
    colours[Bg.SIGN] = _rgb(rng, (200, 60, 50), 0.15)
    colours[Bg.PLANT] = _rgb(rng, (60, 110, 50), 0.05)
    colours[Bg.SHADOW] = colours[Bg.GROUND] * 0.55
    colours[Bg.LIGHT] = _rgb(rng, (250, 248, 236), 0.01)
    colours[Bg.PILLAR] = _rgb(rng, (190, 186, 180), 0.05)
    colours[Bg.COUNTER] = _rgb(rng, (130, 96, 70), 0.08)
    if indoor:
        colours[Bg.GROUND] = _rgb(rng, (176, 170, 160), 0.06)
        colours[Bg.GROUND_LINE] = colours[Bg.GROUND] * 0.85
        colours[Bg.SHADOW] = colours[Bg.GROUND] * 0.6
    # Places are mostly grey and beige: mute every colour towards its own grey.
    grey = colours.mean(axis=1, keepdims=True)
    colours = grey + MUTE * (colours - grey)
    if ambient is None:
        ambient = float(rng.uniform(0.42, 0.5) if indoor else rng.uniform(0.25, 0.4))
    ir = np.full(NUM_BACKGROUND, ambient)
    # Infrared level = ambient + what the material adds (sun load, heat, cold reflections).
    offsets = {
        Bg.SKY: -0.2,
        Bg.WALL: 0.03,
        Bg.WALL2: 0.05,
        Bg.TRIM: 0.0,
        Bg.WINDOW: -0.12,
        Bg.DOOR: 0.02,
        Bg.GROUND: 0.06,
        Bg.GROUND_LINE: 0.04,
        Bg.ROAD: 0.1,
        Bg.GRASS: -0.06,
        Bg.FOLIAGE: -0.08,
        Bg.TRUNK: -0.02,
        Bg.POLE: -0.04,
        Bg.BIN: 0.0,
        Bg.CAR: 0.04,
        Bg.CAR_GLASS: -0.1,
        Bg.TYRE: 0.08,
        Bg.BENCH: 0.02,
        Bg.SIGN: -0.02,
        Bg.PLANT: -0.05,
        Bg.SHADOW: -0.03,
        Bg.LIGHT: 0.4,
        Bg.PILLAR: 0.02,
        Bg.COUNTER: 0.03,
    }
    for material, offset in offsets.items():
        ir[material] = ambient + offset + rng.normal(0.0, 0.02)
    return Style(indoor, colours.astype(np.float32), np.clip(ir, 0, 1).astype(np.float32), ambient)


def _rect(draw: ImageDraw.ImageDraw, x0: float, y0: float, x1: float, y1: float, m: Bg) -> None:
    if x1 >= x0 and y1 >= y0:  # an empty rectangle (e.g. sky above the frame) draws nothing
        draw.rectangle([x0, y0, x1, y1], fill=int(m))


def draw_background(
    style: Style, rng: np.random.Generator, width: int, height: int, horizon: float
) -> np.ndarray:
    """A material map of the place seen by one camera.

    Args:
        style: the place (indoor or outdoor).
        rng: generator of this map.
        width, height: size in pixels.
        horizon: image y (fraction of ``height``) where the ground meets the walls.

    Returns:
        uint8 array (height, width) of background labels.
    """
    img = Image.new("L", (width, height), int(Bg.WALL))
    draw = ImageDraw.Draw(img)
    gy = horizon * height
    unit = height / 6.0
    if style.indoor:
        _rect(draw, 0, 0, width, gy, Bg.WALL)
        x = rng.uniform(-unit, 0)
        while x < width:
            w = rng.uniform(1.5, 4.0) * unit
            kind = rng.integers(4)
            if kind == 0:
                _rect(draw, x, gy - 2.2 * unit, x + 0.9 * unit, gy, Bg.DOOR)
            elif kind == 1:
                _rect(draw, x, gy - 3.0 * unit, x + 1.4 * unit, gy - 1.4 * unit, Bg.WINDOW)
            elif kind == 2:
                _rect(draw, x, 0, x + 0.5 * unit, gy, Bg.PILLAR)
            else:
                _rect(draw, x, gy - 1.0 * unit, x + 2.0 * unit, gy, Bg.COUNTER)
            x += w
        for lx in np.arange(rng.uniform(0, 2 * unit), width, 2.5 * unit):
            _rect(draw, lx, 0, lx + 1.2 * unit, 0.15 * unit, Bg.LIGHT)
        _rect(draw, 0, gy, width, height, Bg.GROUND)
        step = rng.uniform(0.6, 1.2) * unit
        for ly in np.arange(gy + step / 2, height, step):
            draw.line(
                [(0, ly), (width, ly)], fill=int(Bg.GROUND_LINE), width=max(1, int(unit / 20))
            )
        return np.asarray(img, dtype=np.uint8).copy()
    # Outdoor street: sky, facades, pavement, kerb and road.
    roof = gy - rng.uniform(2.5, 5.0) * unit
    _rect(draw, 0, 0, width, roof, Bg.SKY)
    x = rng.uniform(-2 * unit, 0)
    while x < width:
        w = rng.uniform(2.5, 6.0) * unit
        top = roof - rng.uniform(-0.5, 1.5) * unit
        wall = Bg.WALL if rng.random() < 0.6 else Bg.WALL2
        _rect(draw, x, top, x + w, gy, wall)
        _rect(draw, x, top, x + w, top + 0.15 * unit, Bg.TRIM)
        for wy in np.arange(top + 0.5 * unit, gy - 1.6 * unit, 1.3 * unit):
            for wx in np.arange(x + 0.4 * unit, x + w - 0.8 * unit, 1.1 * unit):
                _rect(draw, wx, wy, wx + 0.6 * unit, wy + 0.75 * unit, Bg.WINDOW)
        if rng.random() < 0.6:
            dx = x + rng.uniform(0.2, 0.6) * w
            _rect(draw, dx, gy - 1.7 * unit, dx + 0.8 * unit, gy, Bg.DOOR)
        x += w
    _rect(draw, 0, gy, width, height, Bg.GROUND)
    step = rng.uniform(0.5, 1.0) * unit
    for ly in np.arange(gy + step / 2, height, step):
        draw.line([(0, ly), (width, ly)], fill=int(Bg.GROUND_LINE), width=1)
    if rng.random() < 0.5:
        ry = gy + rng.uniform(1.5, 3.0) * unit
        _rect(draw, 0, ry, width, ry + rng.uniform(1.0, 3.0) * unit, Bg.ROAD)
    for _ in range(int(rng.integers(0, 3))):
        tx = rng.uniform(0, width)
        _rect(draw, tx - 0.6 * unit, gy - 0.1 * unit, tx + 0.6 * unit, gy + 0.3 * unit, Bg.GRASS)
        _rect(draw, tx - 0.08 * unit, gy - 2.0 * unit, tx + 0.08 * unit, gy, Bg.TRUNK)
        r = rng.uniform(0.8, 1.4) * unit
        draw.ellipse(
            [tx - r, gy - 2.0 * unit - 1.4 * r, tx + r, gy - 2.0 * unit + 0.6 * r],
            fill=int(Bg.FOLIAGE),
        )
    for _ in range(int(rng.integers(0, 3))):
        px = rng.uniform(0, width)
        _rect(draw, px - 0.05 * unit, gy - 3.5 * unit, px + 0.05 * unit, gy + 0.1 * unit, Bg.POLE)
    return np.asarray(img, dtype=np.uint8).copy()


def draw_occluder(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    kind: str,
    x: float,
    foot_y: float,
    scale: float,
) -> None:
    """Draw one object standing on the ground at (``x``, ``foot_y``).

    Args:
        draw: ``ImageDraw`` of the material map.
        rng: generator for the object's size.
        kind: one of ``OCCLUDERS``.
        x, foot_y: where it stands.
        scale: pixels of a 1.7 m person standing at that depth.
    """
    s = scale
    if kind == "pole":
        w = s * rng.uniform(0.03, 0.06)
        _rect(draw, x - w, foot_y - 1.6 * s, x + w, foot_y, Bg.POLE)
    elif kind == "bin":
        w, h = s * rng.uniform(0.14, 0.2), s * rng.uniform(0.45, 0.6)
        _rect(draw, x - w, foot_y - h, x + w, foot_y, Bg.BIN)
        _rect(draw, x - w * 1.1, foot_y - h, x + w * 1.1, foot_y - h + 0.05 * s, Bg.TRIM)
    elif kind == "car":
        w, h = s * rng.uniform(1.2, 1.8), s * rng.uniform(0.5, 0.65)
        _rect(draw, x - w, foot_y - h, x + w, foot_y - 0.12 * s, Bg.CAR)
        _rect(draw, x - 0.7 * w, foot_y - 1.45 * h, x + 0.6 * w, foot_y - h, Bg.CAR)
        _rect(draw, x - 0.62 * w, foot_y - 1.38 * h, x + 0.52 * w, foot_y - 1.02 * h, Bg.CAR_GLASS)
        for tx in (x - 0.65 * w, x + 0.65 * w):
            r = 0.16 * s
            draw.ellipse([tx - r, foot_y - 2 * r, tx + r, foot_y], fill=int(Bg.TYRE))
    elif kind == "bench":
        w = s * rng.uniform(0.5, 0.9)
        _rect(draw, x - w, foot_y - 0.3 * s, x + w, foot_y - 0.25 * s, Bg.BENCH)
        _rect(draw, x - w, foot_y - 0.5 * s, x + w, foot_y - 0.42 * s, Bg.BENCH)
        for lx in (x - 0.9 * w, x + 0.9 * w):
            _rect(draw, lx - 0.02 * s, foot_y - 0.3 * s, lx + 0.02 * s, foot_y, Bg.POLE)
    elif kind == "plant":
        w = s * rng.uniform(0.15, 0.25)
        _rect(draw, x - w, foot_y - 0.3 * s, x + w, foot_y, Bg.COUNTER)
        draw.ellipse(
            [x - 1.6 * w, foot_y - 0.8 * s, x + 1.6 * w, foot_y - 0.2 * s], fill=int(Bg.PLANT)
        )
    elif kind == "sign":
        _rect(draw, x - 0.02 * s, foot_y - 1.2 * s, x + 0.02 * s, foot_y, Bg.POLE)
        w = s * rng.uniform(0.15, 0.3)
        _rect(draw, x - w, foot_y - 1.2 * s, x + w, foot_y - 0.8 * s, Bg.SIGN)
    else:
        raise ValueError(f"unknown occluder {kind!r}; expected one of {OCCLUDERS}")
