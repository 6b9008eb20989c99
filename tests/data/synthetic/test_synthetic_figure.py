"""Articulated figures: what each viewpoint shows, extents, patterns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline.data.synthetic.figure import Pose, draw_person
from pipeline.data.synthetic.identities import sample_identity
from pipeline.data.synthetic.materials import Part, person_base
from pipeline.data.synthetic.patterns import apply_pattern
from pipeline.data.synthetic.seeding import stream

BASE = person_base(0)


def _person(**changes):
    who = sample_identity(stream(0, "figure-test"))
    defaults = dict(
        logo="circle",
        bag="backpack",
        hat="none",
        top_pattern="plain",
        sleeve="long",
        leg="trousers",
        hair_style="short",
    )
    return dataclasses.replace(who, **{**defaults, **changes})


def _draw(
    who, view: str, phase: float = 0.5
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    canvas = Image.new("L", (120, 240), 0)
    box = draw_person(ImageDraw.Draw(canvas), who, BASE, 60.0, 225.0, 200.0, Pose(view, phase))
    return np.asarray(canvas), box


def _parts(labels: np.ndarray) -> set[Part]:
    return {Part(int(v) - BASE) for v in np.unique(labels) if v >= BASE}


def test_logo_only_from_the_front_backpack_body_mostly_from_the_back() -> None:
    who = _person()
    front, _ = _draw(who, "front")
    back, _ = _draw(who, "back")
    assert Part.LOGO in _parts(front) and Part.LOGO not in _parts(back)
    # From the front only the straps of the backpack show; from the back its body.
    assert Part.STRAP in _parts(front) and Part.BAG not in _parts(front)
    bag_back = (back == BASE + Part.BAG).sum()
    assert bag_back > 0.3 * (back == BASE + Part.TOP).sum()


def test_profile_shades_the_far_limbs_and_shows_one_side_bag() -> None:
    who = _person(bag="shoulder", bag_side="right", logo="none")
    # Mid-stride (phase pi/2) the far arm and leg swing clear of the torso.
    right, _ = _draw(who, "right", phase=np.pi / 2)  # facing right: the right side faces us
    left, _ = _draw(who, "left", phase=np.pi / 2)
    front, _ = _draw(who, "front")
    assert {Part.TOP_FAR, Part.BOTTOM_FAR} <= _parts(right)
    assert not {Part.TOP_FAR, Part.BOTTOM_FAR, Part.SKIN_FAR} & _parts(front)
    assert Part.BAG in _parts(right) and Part.BAG not in _parts(left)


def test_sleeves_and_legs_decide_skin() -> None:
    covered, _ = _draw(_person(sleeve="long", leg="trousers"), "front")
    bare, _ = _draw(_person(sleeve="none", leg="shorts"), "front")
    skin = lambda labels: (labels == BASE + Part.SKIN).sum()  # noqa: E731
    assert skin(bare) > 1.5 * skin(covered)


@pytest.mark.parametrize("view", ["front", "back", "left", "right"])
def test_extent_holds_every_drawn_pixel(view: str) -> None:
    labels, (x0, y0, x1, y1) = _draw(_person(hat="cap", bag="hand"), view, phase=2.0)
    ys, xs = np.nonzero(labels >= BASE)
    assert xs.min() >= np.floor(x0) and xs.max() <= np.ceil(x1)
    assert ys.min() >= np.floor(y0) and ys.max() <= np.ceil(y1)
    # The figure is about as tall as asked (200 px from the soles at y = 225).
    assert 190 <= ys.max() - ys.min() + 1 <= 215


def test_horizontal_stripes_alternate_in_body_units() -> None:
    who = _person(top_pattern="hstripes", logo="none", bag="none")
    labels, _ = _draw(who, "back")
    labels = labels.copy()
    apply_pattern(labels, who, BASE, 60.0, 225.0, 200.0)
    column = labels[:, 60]
    rows = np.flatnonzero(np.isin(column, [BASE + Part.TOP, BASE + Part.PATTERN]))
    pattern = column[rows] == BASE + Part.PATTERN
    # Stripes are 0.04 of the stature = 8 px high: runs of 8 alternating.
    runs = np.diff(np.flatnonzero(np.diff(pattern.astype(int)) != 0))
    assert len(runs) >= 4 and set(runs.tolist()) <= {7, 8, 9}
    plain = _person(top_pattern="plain", logo="none", bag="none")
    labels, _ = _draw(plain, "back")
    before = labels.copy()
    apply_pattern(labels := labels.copy(), plain, BASE, 60.0, 225.0, 200.0)
    np.testing.assert_array_equal(labels, before)
