"""Identities of the synthetic world: attribute vectors and families of look-alikes.

A person is what re-id must recognise across cameras: garment colours and
patterns, sleeve and leg type, hair, skin, height and build, a bag or hat worn on
one side, and the fabrics that decide how the clothes look in infrared. Real
crowds are dominated by dark, plain clothes, so colours are drawn with
real-world-like frequencies; on top of that, identities come in *families* of
look-alikes that share a prototype and differ in one or two attributes. Those
are the hard negatives a colour histogram cannot separate and a trained CNN can.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from pipeline.data.synthetic.seeding import categorical

RGB = tuple[float, float, float]

# Garment colours (sRGB 0..255) and how often they are worn: dark and neutral
# colours dominate street scenes, which makes colour alone ambiguous.
GARMENT_COLOURS: dict[str, tuple[tuple[int, int, int], float]] = {
    "black": ((28, 28, 32), 0.12),
    "charcoal": ((62, 62, 66), 0.07),
    "grey": ((128, 128, 132), 0.07),
    "white": ((232, 232, 226), 0.08),
    "navy": ((32, 42, 92), 0.07),
    "blue": ((48, 92, 178), 0.06),
    "lightblue": ((140, 178, 218), 0.05),
    "red": ((178, 32, 38), 0.05),
    "maroon": ((108, 30, 42), 0.03),
    "pink": ((228, 148, 170), 0.03),
    "orange": ((226, 118, 42), 0.03),
    "yellow": ((226, 198, 62), 0.03),
    "green": ((48, 128, 62), 0.04),
    "olive": ((108, 110, 52), 0.03),
    "khaki": ((188, 168, 118), 0.05),
    "brown": ((108, 70, 42), 0.04),
    "purple": ((98, 52, 128), 0.02),
    "teal": ((38, 128, 128), 0.02),
}
SKIN_TONES: tuple[tuple[int, int, int], ...] = (
    (244, 208, 182),
    (228, 184, 150),
    (204, 154, 118),
    (170, 118, 84),
    (128, 84, 56),
    (92, 60, 40),
)
HAIR_COLOURS: tuple[tuple[int, int, int], ...] = (
    (20, 18, 18),
    (58, 40, 28),
    (104, 72, 44),
    (196, 164, 104),
    (150, 150, 150),
    (132, 56, 30),
)
HAIR_WEIGHTS = (0.45, 0.22, 0.12, 0.08, 0.08, 0.05)

HAIR_STYLES = ("short", "long", "bald", "ponytail")
PATTERNS = ("plain", "hstripes", "vstripes", "checks")
SLEEVES = ("long", "short", "none")
LEGS = ("trousers", "shorts", "skirt")
BAGS = ("none", "backpack", "shoulder", "hand")
HATS = ("none", "cap", "beanie")
SIDES = ("left", "right")
LOGOS = ("none", "circle", "square", "triangle", "bar")
# Fabrics decide the infrared look (pipeline.data.synthetic.infrared), never the colour.
TOP_FABRICS = ("cotton", "synthetic", "wool", "down")
BOTTOM_FABRICS = ("denim", "cotton", "synthetic")

# What a look-alike may change relative to its family's prototype.
MUTABLE = (
    "top_pattern",
    "sleeve",
    "leg",
    "bag",
    "hat",
    "hair_style",
    "hair_colour",
    "shoes_colour",
    "logo",
    "build",
    "top_fabric",
    "bottom_colour",
)


@dataclass(frozen=True)
class Identity:
    """One person's appearance; colours are sRGB in [0, 1]."""

    family: int
    height: float  # relative stature, ~0.85..1.1
    build: float  # width factor, ~0.82..1.25
    skin: RGB
    skin_temperature: float  # offset of the skin's infrared brightness
    hair_style: str
    hair_colour: RGB
    top_colour: RGB
    top_pattern: str
    pattern_colour: RGB
    sleeve: str
    top_fabric: str
    logo: str
    logo_colour: RGB
    bottom_colour: RGB
    leg: str
    bottom_fabric: str
    shoes_colour: RGB
    bag: str
    bag_side: str
    bag_colour: RGB
    hat: str
    hat_colour: RGB

    def signature(self) -> tuple:
        """Discrete attributes and colours rounded to the palette: equal = indistinguishable."""
        values = (getattr(self, name) for name in _SIGNATURE_FIELDS)
        rounded = (tuple(round(c * 8) for c in v) if isinstance(v, tuple) else v for v in values)
        return (*rounded, round(self.build * 4))


_SIGNATURE_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(Identity)
    if f.name not in ("family", "height", "build", "skin_temperature")
)
_DRAWN_FIELDS = tuple(f.name for f in dataclasses.fields(Identity) if f.name != "family")


def _jitter(rgb: tuple[int, int, int], rng: np.random.Generator, amount: float) -> RGB:
    value = np.clip(np.asarray(rgb, dtype=float) / 255.0 + rng.normal(0.0, amount, 3), 0.0, 1.0)
    return (float(value[0]), float(value[1]), float(value[2]))


def _garment(rng: np.random.Generator, exclude: str | None = None) -> tuple[str, RGB]:
    names = [n for n in GARMENT_COLOURS if n != exclude]
    name = names[categorical(rng, [GARMENT_COLOURS[n][1] for n in names])]
    return name, _jitter(GARMENT_COLOURS[name][0], rng, 0.025)


def _pick(rng: np.random.Generator, options: tuple[str, ...], weights: tuple[float, ...]) -> str:
    return options[categorical(rng, weights)]


def _value(rng: np.random.Generator, attribute: str, current: Identity | None) -> object:
    """A fresh value of one attribute (different from ``current``'s where it is set)."""
    for _ in range(20):
        value = _draw(rng, attribute, current)
        if current is None or value != getattr(current, attribute):
            return value
    return value


def _draw(rng: np.random.Generator, attribute: str, current: Identity | None) -> object:
    if attribute == "height":
        return float(np.clip(rng.normal(0.97, 0.06), 0.84, 1.1))
    if attribute == "build":
        return float(np.clip(rng.normal(1.0, 0.12), 0.82, 1.28))
    if attribute == "skin":
        tone = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
        return _jitter(tone, rng, 0.02)
    if attribute == "skin_temperature":
        return float(rng.normal(0.0, 0.03))
    if attribute == "hair_style":
        return _pick(rng, HAIR_STYLES, (0.45, 0.3, 0.08, 0.17))
    if attribute == "hair_colour":
        hair = HAIR_COLOURS[categorical(rng, HAIR_WEIGHTS)]
        return _jitter(hair, rng, 0.02)
    if attribute in ("top_colour", "bottom_colour", "pattern_colour", "logo_colour"):
        return _garment(rng)[1]
    if attribute in ("shoes_colour", "bag_colour", "hat_colour"):
        return _garment(rng)[1]
    if attribute == "top_pattern":
        return _pick(rng, PATTERNS, (0.55, 0.2, 0.1, 0.15))
    if attribute == "sleeve":
        return _pick(rng, SLEEVES, (0.5, 0.4, 0.1))
    if attribute == "top_fabric":
        return _pick(rng, TOP_FABRICS, (0.35, 0.25, 0.2, 0.2))
    if attribute == "logo":
        return _pick(rng, LOGOS, (0.6, 0.1, 0.1, 0.1, 0.1))
    if attribute == "leg":
        return _pick(rng, LEGS, (0.7, 0.18, 0.12))
    if attribute == "bottom_fabric":
        return _pick(rng, BOTTOM_FABRICS, (0.45, 0.3, 0.25))
    if attribute == "bag":
        return _pick(rng, BAGS, (0.45, 0.25, 0.2, 0.1))
    if attribute == "bag_side":
        return SIDES[int(rng.integers(2))]
    if attribute == "hat":
        return _pick(rng, HATS, (0.78, 0.14, 0.08))
    raise KeyError(attribute)


def sample_identity(rng: np.random.Generator, family: int = 0) -> Identity:
    """One random person.

    Args:
        rng: the generator to draw from.
        family: the family number stored on the identity.
    """
    values = {name: _draw(rng, name, None) for name in _DRAWN_FIELDS}
    # Keep the stripes visible: pattern colour must differ from the garment's.
    top_name, values["top_colour"] = _garment(rng)
    values["pattern_colour"] = _garment(rng, exclude=top_name)[1]
    return Identity(family=family, **values)


def look_alike(prototype: Identity, rng: np.random.Generator, changes: int) -> Identity:
    """A family member: the prototype with ``changes`` attributes drawn anew.

    Colours kept from the prototype are re-jittered slightly, as two people in
    "the same" navy jacket never match exactly.
    """
    picked = rng.choice(len(MUTABLE), size=changes, replace=False)
    updates = {MUTABLE[i]: _value(rng, MUTABLE[i], prototype) for i in sorted(picked)}
    for name in ("top_colour", "bottom_colour", "pattern_colour"):
        if name not in updates:
            rgb = np.clip(np.asarray(getattr(prototype, name)) + rng.normal(0, 0.015, 3), 0, 1)
            updates[name] = (float(rgb[0]), float(rgb[1]), float(rgb[2]))
    updates["height"] = float(np.clip(prototype.height + rng.normal(0, 0.02), 0.84, 1.1))
    updates["skin_temperature"] = _draw(rng, "skin_temperature", None)
    updates["bag_side"] = _draw(rng, "bag_side", None)
    return dataclasses.replace(prototype, **updates)


def make_identities(
    rng: np.random.Generator, count: int, max_family_size: int, first_family: int = 0
) -> list[Identity]:
    """``count`` distinct identities in families of 1..``max_family_size`` look-alikes.

    Args:
        rng: the generator to draw from.
        count: how many identities.
        max_family_size: largest family; 1 gives independent identities.
        first_family: number of the first family (keeps numbers unique across calls).

    Returns:
        The identities, family members next to each other.
    """
    people: list[Identity] = []
    seen: set[tuple] = set()
    family = first_family
    while len(people) < count:
        size = int(min(rng.integers(1, max_family_size + 1), count - len(people)))
        prototype = sample_identity(rng, family)
        members = [prototype]
        while len(members) < size:
            members.append(look_alike(prototype, rng, changes=int(rng.integers(1, 3))))
        for person in members:
            if person.signature() not in seen:
                seen.add(person.signature())
                people.append(person)
        family += 1
    return people[:count]
