"""Articulated 2.5D walking figures drawn into a material map.

A person is a stick skeleton with volume: head, neck, torso, pelvis, two-segment
arms and legs, each a tapered limb with round joints, plus hair, hat, logo and
bag. The skeleton is posed by a viewpoint (front, back, left or right profile)
and a walking phase: in profile the legs swing about the hip and the knee bends,
the arms swing against the legs, and the far-side limbs are drawn first and in
shade. What each view shows follows the real garment: a chest logo only from
the front, a backpack's body mostly from the back (only its straps from the
front), a shoulder bag fully only on its own side.

Proportions are fractions of the stature (sole to crown), widths scale with the
identity's build. Everything is drawn with PIL polygons and ellipses, without
anti-aliasing, so a pixel carries exactly one material label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import ImageDraw

from pipeline.data.synthetic.accessories import draw_backpack, draw_head, draw_logo, draw_side_bag
from pipeline.data.synthetic.identities import Identity
from pipeline.data.synthetic.materials import Part
from pipeline.data.synthetic.pen import Pen, Point

VIEWS = ("front", "back", "left", "right")


@dataclass(frozen=True)
class Pose:
    """Viewpoint and walking phase (radians) of one figure."""

    view: str
    phase: float


def _far(part: Part) -> Part:
    return {
        Part.SKIN: Part.SKIN_FAR,
        Part.TOP: Part.TOP_FAR,
        Part.BOTTOM: Part.BOTTOM_FAR,
        Part.BAG: Part.BAG_FAR,
    }.get(part, part)


class Figure:
    """One posed person; ``draw()`` paints it back to front.

    Attributes read by pipeline.data.synthetic.accessories: ``pen``, ``who``, ``cx``,
    ``h`` (stature), ``b`` (build), ``y()``, ``pose``, ``profile``, ``d`` (facing
    direction in image x) and ``left_sign`` (image-x side of the person's left).
    """

    def __init__(self, pen: Pen, who: Identity, cx: float, foot: float, h: float, pose: Pose):
        self.pen, self.who, self.cx, self.foot, self.h, self.pose = pen, who, cx, foot, h, pose
        self.b = who.build
        self.profile = pose.view in ("left", "right")
        # Facing direction in image x for profiles.
        self.d = 1.0 if pose.view == "right" else -1.0
        # Image-x sign of the person's left side (front: viewer's right).
        self.left_sign = 1.0 if pose.view == "front" else -1.0

    def y(self, fraction: float) -> float:
        """Image y of a height given as a fraction of the stature above the sole."""
        return self.foot - fraction * self.h

    # ---------------------------------------------------------------- parts

    def _sleeve_parts(self) -> tuple[Part, Part]:
        upper = Part.SKIN if self.who.sleeve == "none" else Part.TOP
        lower = Part.TOP if self.who.sleeve == "long" else Part.SKIN
        return upper, lower

    def _leg_parts(self) -> tuple[Part, Part]:
        if self.who.leg == "trousers":
            return Part.BOTTOM, Part.BOTTOM
        if self.who.leg == "shorts":
            return Part.BOTTOM, Part.SKIN
        return Part.SKIN, Part.SKIN

    def _leg(self, hip: Point, knee: Point, ankle: Point, far: bool, toe: float) -> None:
        h, b = self.h, self.b
        thigh, shin = self._leg_parts()
        if far:
            thigh, shin = _far(thigh), _far(shin)
        self.pen.limb(hip, knee, 0.085 * h * b, 0.062 * h * b, thigh)
        self.pen.limb(knee, ankle, 0.06 * h * b, 0.045 * h * b, shin)
        # Shoe: longer towards the toe in profile.
        self.pen.ellipse(
            ankle[0] + toe * 0.025 * h,
            ankle[1] + 0.008 * h,
            0.035 * h + abs(toe) * 0.015 * h,
            0.02 * h,
            Part.SHOES,
        )

    def _arm(self, shoulder: Point, elbow: Point, hand: Point, far: bool) -> None:
        h, b = self.h, self.b
        upper, lower = self._sleeve_parts()
        skin = Part.SKIN
        if far:
            upper, lower, skin = _far(upper), _far(lower), _far(skin)
        self.pen.limb(shoulder, elbow, 0.055 * h * b, 0.045 * h * b, upper)
        self.pen.limb(elbow, hand, 0.044 * h * b, 0.036 * h * b, lower)
        self.pen.ellipse(hand[0], hand[1], 0.024 * h, 0.026 * h, skin)

    def _torso(self) -> None:
        h, b, cx, y = self.h, self.b, self.cx, self.y
        if self.profile:
            d = self.d
            pts = [
                (cx - d * 0.06 * h * b, y(0.825)),
                (cx + d * 0.055 * h * b, y(0.82)),
                (cx + d * 0.075 * h * b, y(0.70)),
                (cx + d * 0.06 * h * b, y(0.55)),
                (cx - d * 0.065 * h * b, y(0.55)),
                (cx - d * 0.07 * h * b, y(0.70)),
            ]
            pelvis = 0.068
        else:
            pts = [
                (cx - 0.118 * h * b, y(0.82)),
                (cx + 0.118 * h * b, y(0.82)),
                (cx + 0.095 * h * b, y(0.66)),
                (cx + 0.088 * h * b, y(0.54)),
                (cx - 0.088 * h * b, y(0.54)),
                (cx - 0.095 * h * b, y(0.66)),
            ]
            pelvis = 0.095
        self.pen.limb((cx, y(0.865)), (cx, y(0.8)), 0.05 * h, 0.055 * h, Part.SKIN)
        self.pen.polygon(
            [
                (cx - pelvis * h * b, y(0.565)),
                (cx + pelvis * h * b, y(0.565)),
                (cx + pelvis * h * b, y(0.46)),
                (cx - pelvis * h * b, y(0.46)),
            ],
            Part.BOTTOM,
        )
        self.pen.polygon(pts, Part.TOP)
        if not self.profile:
            # Shoulders are round.
            for s in (-1.0, 1.0):
                self.pen.ellipse(cx + s * 0.1 * h * b, y(0.8), 0.035 * h * b, 0.03 * h, Part.TOP)

    def _skirt(self) -> None:
        if self.who.leg != "skirt":
            return
        h, b, cx, y = self.h, self.b, self.cx, self.y
        top, bottom = (0.07, 0.11) if self.profile else (0.095, 0.13)
        self.pen.polygon(
            [
                (cx - top * h * b, y(0.55)),
                (cx + top * h * b, y(0.55)),
                (cx + bottom * h * b, y(0.3)),
                (cx - bottom * h * b, y(0.3)),
            ],
            Part.BOTTOM,
        )

    # ----------------------------------------------------------- skeleton

    def draw(self) -> None:
        if self.profile:
            self._draw_profile()
        else:
            self._draw_frontal()

    def _draw_frontal(self) -> None:
        h, b, cx, y, phase = self.h, self.b, self.cx, self.y, self.pose.phase
        lift = {
            "left": 0.03 * h * max(0.0, math.sin(phase)),
            "right": 0.03 * h * max(0.0, -math.sin(phase)),
        }
        legs, arms, hands = {}, {}, {}
        for side in ("left", "right"):
            s = self.left_sign if side == "left" else -self.left_sign
            hip = (cx + s * 0.05 * h * b, y(0.48))
            ankle = (cx + s * 0.055 * h * b, y(0.035) - lift[side])
            knee = ((hip[0] + ankle[0]) / 2 + s * 0.004 * h, y(0.26) - lift[side] * 0.6)
            legs[side] = (hip, knee, ankle)
            # Arm swing is towards the camera: it shows as a shorter arm.
            swing = 0.025 * h * abs(math.sin(phase + (0.0 if side == "left" else math.pi)))
            shoulder = (cx + s * 0.105 * h * b, y(0.8))
            elbow = (cx + s * 0.128 * h * b, y(0.645) + swing * 0.4)
            hand = (cx + s * 0.135 * h * b, y(0.49) + swing)
            arms[side] = (shoulder, elbow, hand)
            hands[side] = hand
        for side in ("left", "right"):
            self._leg(*legs[side], far=False, toe=0.0)
        self._skirt()
        draw_backpack(self, "behind")
        self._torso()
        draw_backpack(self, "over")
        for side in ("left", "right"):
            self._arm(*arms[side], far=False)
        draw_side_bag(self, "over", hands)
        draw_head(self)
        draw_logo(self)

    def _draw_profile(self) -> None:
        h, b, cx, y, d, phase = self.h, self.b, self.cx, self.y, self.d, self.pose.phase
        swing = math.radians(26.0) * math.sin(phase)
        thigh_len, shin_len = 0.22 * self.h, 0.225 * self.h
        upper_len, fore_len = 0.165 * self.h, 0.15 * self.h
        parts = {}
        for side, sign in (("left", 1.0), ("right", -1.0)):
            angle = sign * swing
            bend = math.radians(32.0) * max(0.0, math.sin(phase * sign + 0.6))
            hip = (cx, y(0.48))
            knee = (hip[0] + d * thigh_len * math.sin(angle), hip[1] + thigh_len * math.cos(angle))
            shin_angle = angle - bend
            ankle = (
                knee[0] + d * shin_len * math.sin(shin_angle),
                knee[1] + shin_len * math.cos(shin_angle),
            )
            arm_angle = -0.8 * angle
            shoulder = (cx - d * 0.005 * h * b, y(0.8))
            elbow = (
                shoulder[0] + d * upper_len * math.sin(arm_angle),
                shoulder[1] + upper_len * math.cos(arm_angle),
            )
            fore = arm_angle + math.radians(18.0)
            hand = (elbow[0] + d * fore_len * math.sin(fore), elbow[1] + fore_len * math.cos(fore))
            parts[side] = ((hip, knee, ankle), (shoulder, elbow, hand))
        # Facing right (d > 0), the right side faces the camera.
        near = "right" if d > 0 else "left"
        far = "left" if near == "right" else "right"
        hands = {side: parts[side][1][2] for side in parts}
        self._arm(*parts[far][1], far=True)
        self._leg(*parts[far][0], far=True, toe=d)
        draw_side_bag(self, "behind", hands)
        draw_backpack(self, "behind")
        self._torso()
        self._leg(*parts[near][0], far=False, toe=d)
        self._skirt()
        draw_backpack(self, "over")
        self._arm(*parts[near][1], far=False)
        draw_side_bag(self, "over", hands)
        draw_head(self)


def draw_person(
    draw: ImageDraw.ImageDraw,
    who: Identity,
    base: int,
    cx: float,
    foot_y: float,
    stature: float,
    pose: Pose,
) -> tuple[float, float, float, float]:
    """Draw one person into a material map.

    Args:
        draw: ``ImageDraw`` of the uint8 material map ("L" mode).
        who: the identity to draw.
        base: first material label of this person (``materials.person_base``).
        cx: image x of the body's axis.
        foot_y: image y of the soles.
        stature: height in pixels from sole to crown.
        pose: viewpoint and walking phase.

    Returns:
        The drawn extent (x0, y0, x1, y1) in image coordinates, before clipping.
    """
    if pose.view not in VIEWS:
        raise ValueError(f"unknown view {pose.view!r}; expected one of {VIEWS}")
    pen = Pen(draw, base)
    Figure(pen, who, cx, foot_y, stature, pose).draw()
    return pen.box[0], pen.box[1], pen.box[2], pen.box[3]
