"""Thermal infrared comes from fabric and skin temperature, near infrared from each dye;
neither from the brightness of the colour."""

from __future__ import annotations

import dataclasses

import numpy as np

from pipeline.data.synthetic.cameras import sample_camera
from pipeline.data.synthetic.identities import GARMENT_COLOURS, sample_identity
from pipeline.data.synthetic.infrared import (
    develop_infrared,
    person_infrared,
    person_near_infrared,
)
from pipeline.data.synthetic.materials import Part, person_colours
from pipeline.data.synthetic.seeding import stream

AMBIENT = 0.4


def _person(**changes):
    return dataclasses.replace(sample_identity(stream(0, "ir-test")), **changes)


def test_colour_changes_nothing_in_infrared() -> None:
    red = _person(
        top_colour=(0.8, 0.1, 0.1), bottom_colour=(0.1, 0.1, 0.1), bag_colour=(1.0, 1.0, 1.0)
    )
    navy = _person(
        top_colour=(0.1, 0.15, 0.4), bottom_colour=(0.9, 0.9, 0.9), bag_colour=(0.0, 0.0, 0.0)
    )
    np.testing.assert_array_equal(person_infrared(red, AMBIENT), person_infrared(navy, AMBIENT))
    assert not np.array_equal(person_colours(red), person_colours(navy))


def test_fabric_sets_the_temperature_of_the_top() -> None:
    levels = {
        f: person_infrared(_person(top_fabric=f), AMBIENT)[Part.TOP]
        for f in ("cotton", "synthetic", "wool", "down")
    }
    # Worked example, cotton: 0.95 * (0.4 + (0.9 + dT - 0.4) * 0.72) + 0.05 * 0.35.
    skin = 0.9 + _person().skin_temperature
    assert np.isclose(
        levels["cotton"],
        0.95 * (AMBIENT + (skin - AMBIENT) * 0.72) + 0.05 * (AMBIENT - 0.05),
        atol=1e-6,
    )
    # A thin shirt is warmer than wool, wool warmer than a down jacket.
    assert levels["cotton"] > levels["synthetic"] > levels["wool"] > levels["down"]
    ir = person_infrared(_person(), AMBIENT)
    assert ir[Part.SKIN] == ir.max() and ir[Part.SKIN] > ir[Part.TOP] > AMBIENT - 0.05


def test_infrared_image_has_three_equal_channels() -> None:
    camera = sample_camera(stream(0, "ir-camera"), 3, indoor=True, infrared=True)
    level = np.full((80, 40), AMBIENT, dtype=np.float32)
    level[20:60, 15:25] = 0.9
    image = develop_infrared(level, camera, stream(0, "ir-image"), (28, 56))
    assert image.shape == (56, 28, 3) and image.dtype == np.uint8
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    # The warm body is brighter than the surroundings after the automatic gain.
    assert image[14:42, 11:17, 0].mean() > image[:, :5, 0].mean() + 60


def _garment(name: str) -> tuple[float, float, float]:
    r, g, b = (c / 255.0 for c in GARMENT_COLOURS[name][0])
    return (r, g, b)


def test_near_infrared_follows_the_dye_not_the_fabric_nor_the_brightness() -> None:
    def top(**changes) -> float:
        return float(person_near_infrared(_person(**changes))[Part.TOP])

    black, grey, white = (top(top_colour=_garment(n)) for n in ("black", "grey", "white"))
    # Worked example, grey (0.502, 0.502, 0.518): 0.55 + 0.38 sin(24 x ~0.5 + 1) = 0.71.
    assert np.isclose(
        grey, 0.55 + 0.38 * np.sin(np.dot(_garment("grey"), (6, 11, 7)) + 1), atol=1e-5
    )
    # Visible brightness is white > grey > black; reflected near infrared is not ordered so.
    assert grey > black > white
    # One dye, one level, whatever the fabric; a print in another dye shows on the cloth.
    assert top(top_fabric="down") == top(top_fabric="cotton")
    levels = person_near_infrared(
        _person(top_colour=_garment("navy"), pattern_colour=_garment("red"))
    )
    assert abs(levels[Part.PATTERN] - levels[Part.TOP]) > 0.05
    # Skin reflects near infrared strongly, hair weakly; far limbs are in shade.
    assert levels[Part.SKIN] >= 0.8 and levels[Part.HAIR] <= 0.5
    assert np.isclose(levels[Part.TOP_FAR], levels[Part.TOP] * 0.7)
