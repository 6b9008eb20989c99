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

import numpy as np
from PIL import ImageDraw

from pipeline.data.synthetic.identities import Identity
from pipeline.data.synthetic.materials import Part

VIEWS = ("front", "back", "left", "right")
Point = tuple[float, float]


@dataclass(frozen=True)
class Pose:
    """Viewpoint and walking phase (radians) of one figure."""

    view: str
    phase: float


class _Pen:
    """Draws labelled primitives and keeps the bounding box of what it drew."""

    def __init__(self, draw: ImageDraw.ImageDraw, base: int) -> None:
        self.draw = draw
        self.base = base
        self.box = [math.inf, math.inf, -math.inf, -math.inf]

    def _extend(self, xs: list[float], ys: list[float]) -> None:
        self.box[0] = min(self.box[0], *xs)
        self.box[1] = min(self.box[1], *ys)
        self.box[2] = max(self.box[2], *xs)
        self.box[3] = max(self.box[3], *ys)

    def polygon(self, points: list[Point], part: Part) -> None:
        self.draw.polygon(points, fill=self.base + part)
        self._extend([p[0] for p in points], [p[1] for p in points])

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, part: Part) -> None:
        rx, ry = max(rx, 0.5), max(ry, 0.5)
        self.draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=self.base + part)
        self._extend([cx - rx, cx + rx], [cy - ry, cy + ry])

    def limb(self, p0: Point, p1: Point, w0: float, w1: float, part: Part) -> None:
        """A tapered segment from ``p0`` (width ``w0``) to ``p1`` (width ``w1``), round ends."""
        dx, dy = p1[0] - p0[0], p1[1] - p0[1]
        length = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / length, dx / length
        a, b = w0 / 2, w1 / 2
        self.polygon(
            [
                (p0[0] + nx * a, p0[1] + ny * a),
                (p1[0] + nx * b, p1[1] + ny * b),
                (p1[0] - nx * b, p1[1] - ny * b),
                (p0[0] - nx * a, p0[1] - ny * a),
            ],
            part,
        )
        self.ellipse(p0[0], p0[1], a, a, part)
        self.ellipse(p1[0], p1[1], b, b, part)


def _far(part: Part) -> Part:
    return {
        Part.SKIN: Part.SKIN_FAR,
        Part.TOP: Part.TOP_FAR,
        Part.BOTTOM: Part.BOTTOM_FAR,
        Part.BAG: Part.BAG_FAR,
    }.get(part, part)


class _Figure:
    """One posed person; ``draw()`` paints it back to front."""

    def __init__(self, pen: _Pen, who: Identity, cx: float, foot: float, h: float, pose: Pose):
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
        self.pen.ellipse(ankle[0] + toe * 0.025 * h, ankle[1] + 0.008 * h, 0.035 * h + abs(toe) * 0.015 * h, 0.02 * h, Part.SHOES)

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

    def _head(self) -> None:
        who, h, cx, y = self.who, self.h, self.cx, self.y
        hx, hy, rx, ry = cx, y(0.932), 0.058 * h, 0.068 * h
        if self.profile:
            hx += self.d * 0.012 * h
        back = self.pose.view == "back"
        hair = who.hair_style != "bald"
        if who.hair_style == "long" and not back:
            # Hair falling behind the face and onto the shoulders.
            off = -self.d * 0.03 * h if self.profile else 0.0
            self.pen.polygon(
                [
                    (hx + off - 0.07 * h, y(0.95)),
                    (hx + off + 0.07 * h, y(0.95)),
                    (hx + off + 0.075 * h, y(0.79)),
                    (hx + off - 0.075 * h, y(0.79)),
                ],
                Part.HAIR,
            )
        self.pen.ellipse(hx, hy, rx, ry, Part.HAIR if back and hair else Part.SKIN)
        if back:
            if who.hair_style == "long":
                self.pen.polygon(
                    [(hx - 0.068 * h, y(0.93)), (hx + 0.068 * h, y(0.93)), (hx + 0.078 * h, y(0.78)), (hx - 0.078 * h, y(0.78))],
                    Part.HAIR,
                )
            elif who.hair_style == "ponytail":
                self.pen.limb((hx, y(0.9)), (hx, y(0.8)), 0.04 * h, 0.025 * h, Part.HAIR)
        elif hair:
            if self.profile:
                # Hair covers the crown and the back of the head.
                self.pen.ellipse(hx - self.d * 0.014 * h, hy - 0.018 * h, rx * 0.95, ry * 0.8, Part.HAIR)
                self.pen.ellipse(hx + self.d * 0.018 * h, hy + 0.014 * h, rx * 0.72, ry * 0.68, Part.SKIN)
                if who.hair_style == "ponytail":
                    self.pen.limb((hx - self.d * 0.06 * h, y(0.94)), (hx - self.d * 0.085 * h, y(0.84)), 0.035 * h, 0.02 * h, Part.HAIR)
            else:
                self.pen.ellipse(hx, hy - 0.02 * h, rx * 1.05, ry * 0.78, Part.HAIR)
                self.pen.ellipse(hx, hy + 0.014 * h, rx * 0.86, ry * 0.74, Part.SKIN)
        if not back and h >= 40:
            # Eyes: a face is only seen from the front or in profile.
            r = 0.0075 * h
            if self.profile:
                self.pen.ellipse(hx + self.d * 0.032 * h, y(0.94), r, r, Part.FACE)
            else:
                for s in (-1.0, 1.0):
                    self.pen.ellipse(hx + s * 0.022 * h, y(0.94), r, r, Part.FACE)
        self._hat(hx, hy, rx, ry)

    def _hat(self, hx: float, hy: float, rx: float, ry: float) -> None:
        hat, h = self.who.hat, self.h
        if hat == "none":
            return
        crown = (hx, hy - 0.032 * h, rx * 1.08, ry * 0.62)
        self.pen.ellipse(*crown, Part.HAT)
        if hat == "cap":
            if self.profile:
                x0 = hx + self.d * 0.02 * h
                x1 = hx + self.d * 0.11 * h
                self.pen.polygon(
                    [(x0, y0 := hy - 0.03 * h), (x1, y0 + 0.008 * h), (x1, y0 + 0.018 * h), (x0, y0 + 0.016 * h)],
                    Part.HAT,
                )
            elif self.pose.view == "front":
                self.pen.ellipse(hx, hy - 0.025 * h, rx * 1.2, 0.012 * h, Part.HAT)

    def _logo(self) -> None:
        logo, h, b, cx, y = self.who.logo, self.h, self.b, self.cx, self.y
        if logo == "none" or self.pose.view != "front":
            return
        s = 0.032 * h * b
        ly = y(0.71)
        if logo == "circle":
            self.pen.ellipse(cx, ly, s, s, Part.LOGO)
        elif logo == "square":
            self.pen.polygon([(cx - s, ly - s), (cx + s, ly - s), (cx + s, ly + s), (cx - s, ly + s)], Part.LOGO)
        elif logo == "triangle":
            self.pen.polygon([(cx, ly - s * 1.2), (cx + s * 1.2, ly + s), (cx - s * 1.2, ly + s)], Part.LOGO)
        else:
            self.pen.polygon([(cx - 2.4 * s, ly - 0.6 * s), (cx + 2.4 * s, ly - 0.6 * s), (cx + 2.4 * s, ly + 0.6 * s), (cx - 2.4 * s, ly + 0.6 * s)], Part.LOGO)

    def _box(self, x0: float, y0: float, x1: float, y1: float, part: Part) -> None:
        self.pen.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], part)

    def _backpack(self, stage: str) -> None:
        """``stage`` "behind" (before the torso) or "over" (after it)."""
        if self.who.bag != "backpack":
            return
        h, b, cx, y = self.h, self.b, self.cx, self.y
        view = self.pose.view
        if view == "back" and stage == "over":
            self._box(cx - 0.1 * h * b, y(0.81), cx + 0.1 * h * b, y(0.55), Part.BAG)
            self._box(cx - 0.075 * h * b, y(0.66), cx + 0.075 * h * b, y(0.6), Part.STRAP)
        elif self.profile and stage == "behind":
            x_back = cx - self.d * 0.06 * h * b
            x_out = x_back - self.d * 0.1 * h * b
            self._box(min(x_back, x_out), y(0.8), max(x_back, x_out), y(0.56), Part.BAG)
        elif self.profile and stage == "over":
            self.pen.limb((cx, y(0.82)), (cx - self.d * 0.01 * h, y(0.62)), 0.02 * h, 0.02 * h, Part.STRAP)
        elif view == "front" and stage == "over":
            for s in (-1.0, 1.0):
                self.pen.limb((cx + s * 0.07 * h * b, y(0.82)), (cx + s * 0.08 * h * b, y(0.6)), 0.02 * h, 0.02 * h, Part.STRAP)

    def _side_bag(self, stage: str, hands: dict[str, Point]) -> None:
        """Shoulder bag or hand bag on the person's ``bag_side``."""
        who, h, b, cx, y = self.who, self.h, self.b, self.cx, self.y
        if who.bag not in ("shoulder", "hand"):
            return
        side = who.bag_side
        if self.profile:
            # Facing right shows the right side; facing left the left side.
            near = (side == "right") == (self.d > 0)
            if stage != ("over" if near else "behind"):
                return
            part = Part.BAG if near else Part.BAG_FAR
            if who.bag == "hand":
                hx, hy = hands[side]
                self._box(hx - 0.04 * h, hy + 0.01 * h, hx + 0.04 * h, hy + 0.1 * h, part)
            else:
                bx = cx - self.d * 0.03 * h
                if near:
                    self.pen.limb((cx + self.d * 0.02 * h, y(0.82)), (bx, y(0.52)), 0.018 * h, 0.018 * h, Part.STRAP)
                self._box(bx - 0.055 * h, y(0.53), bx + 0.055 * h, y(0.41), part)
            return
        if stage != "over":
            return
        sign = self.left_sign if side == "left" else -self.left_sign
        if who.bag == "hand":
            hx, hy = hands[side]
            self._box(hx - 0.035 * h, hy + 0.01 * h, hx + 0.035 * h, hy + 0.1 * h, Part.BAG)
            return
        bx = cx + sign * 0.13 * h * b
        # Cross-body strap from the opposite shoulder.
        self.pen.limb((cx - sign * 0.08 * h * b, y(0.82)), (bx, y(0.53)), 0.018 * h, 0.018 * h, Part.STRAP)
        self._box(bx - 0.045 * h, y(0.54), bx + 0.045 * h, y(0.41), Part.BAG)

    # ----------------------------------------------------------- skeleton

    def draw(self) -> None:
        if self.profile:
            self._draw_profile()
        else:
            self._draw_frontal()

    def _draw_frontal(self) -> None:
        h, b, cx, y, phase = self.h, self.b, self.cx, self.y, self.pose.phase
        lift = {"left": 0.03 * h * max(0.0, math.sin(phase)), "right": 0.03 * h * max(0.0, -math.sin(phase))}
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
        self._backpack("behind")
        self._torso()
        self._backpack("over")
        for side in ("left", "right"):
            self._arm(*arms[side], far=False)
        self._side_bag("over", hands)
        self._head()
        self._logo()

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
            ankle = (knee[0] + d * shin_len * math.sin(shin_angle), knee[1] + shin_len * math.cos(shin_angle))
            arm_angle = -0.8 * angle
            shoulder = (cx - d * 0.005 * h * b, y(0.8))
            elbow = (shoulder[0] + d * upper_len * math.sin(arm_angle), shoulder[1] + upper_len * math.cos(arm_angle))
            fore = arm_angle + math.radians(18.0)
            hand = (elbow[0] + d * fore_len * math.sin(fore), elbow[1] + fore_len * math.cos(fore))
            parts[side] = ((hip, knee, ankle), (shoulder, elbow, hand))
        # Facing right (d > 0), the right side faces the camera.
        near = "right" if d > 0 else "left"
        far = "left" if near == "right" else "right"
        hands = {side: parts[side][1][2] for side in parts}
        self._arm(*parts[far][1], far=True)
        self._leg(*parts[far][0], far=True, toe=d)
        self._side_bag("behind", hands)
        self._backpack("behind")
        self._torso()
        self._leg(*parts[near][0], far=False, toe=d)
        self._skirt()
        self._backpack("over")
        self._arm(*parts[near][1], far=False)
        self._side_bag("over", hands)
        self._head()


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
    pen = _Pen(draw, base)
    _Figure(pen, who, cx, foot_y, stature, pose).draw()
    return pen.box[0], pen.box[1], pen.box[2], pen.box[3]


def apply_pattern(
    labels: np.ndarray, who: Identity, base: int, cx: float, foot_y: float, stature: float
) -> None:
    """Paint the top's stripes or checks onto the person's ``TOP`` pixels, in place.

    The pattern lives in body coordinates (fractions of the stature), so stripes
    keep their width relative to the person whatever the scale.
    """
    if who.top_pattern == "plain":
        return
    y0 = max(int(foot_y - stature), 0)
    y1 = min(int(foot_y - 0.4 * stature) + 1, labels.shape[0])
    x0 = max(int(cx - 0.3 * stature), 0)
    x1 = min(int(cx + 0.3 * stature) + 1, labels.shape[1])
    if y1 <= y0 or x1 <= x0:
        return
    window = labels[y0:y1, x0:x1]
    v = (foot_y - np.arange(y0, y1, dtype=np.float32)[:, None]) / stature
    u = (np.arange(x0, x1, dtype=np.float32)[None, :] - cx) / stature
    if who.top_pattern == "hstripes":
        on = np.floor(v / 0.04).astype(np.int64) % 2 == 0
        on = np.broadcast_to(on, window.shape)
    elif who.top_pattern == "vstripes":
        on = np.broadcast_to(np.floor(u / 0.035).astype(np.int64) % 2 == 0, window.shape)
    else:
        on = (np.floor(u / 0.045).astype(np.int64) + np.floor(v / 0.045).astype(np.int64)) % 2 == 0
    window[on & (window == base + Part.TOP)] = base + Part.PATTERN
    window[on & (window == base + Part.TOP_FAR)] = base + Part.PATTERN_FAR
