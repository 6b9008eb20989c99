"""Head, hair, hat, logo and bags of a figure: the attributes that depend on the view.

A face (eyes) shows from the front and in profile, hair covers the whole head
from the back; a cap's brim points where the person faces. The chest logo
shows only from the front. A backpack's body shows from the back and in
profile, only its straps from the front; a shoulder or hand bag shows fully on
its own side and is hidden behind the body on the far side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.data.synthetic.materials import Part
from pipeline.data.synthetic.pen import Point

if TYPE_CHECKING:
    from pipeline.data.synthetic.figure import Figure


def draw_head(fig: Figure) -> None:
    """Head with hair (short, long, ponytail or bald), eyes when the face shows, and hat."""
    who, h, cx, y = fig.who, fig.h, fig.cx, fig.y
    hx, hy, rx, ry = cx, y(0.932), 0.058 * h, 0.068 * h
    if fig.profile:
        hx += fig.d * 0.012 * h
    back = fig.pose.view == "back"
    hair = who.hair_style != "bald"
    if who.hair_style == "long" and not back:
        # Hair falling behind the face and onto the shoulders.
        off = -fig.d * 0.03 * h if fig.profile else 0.0
        fig.pen.polygon(
            [
                (hx + off - 0.07 * h, y(0.95)),
                (hx + off + 0.07 * h, y(0.95)),
                (hx + off + 0.075 * h, y(0.79)),
                (hx + off - 0.075 * h, y(0.79)),
            ],
            Part.HAIR,
        )
    fig.pen.ellipse(hx, hy, rx, ry, Part.HAIR if back and hair else Part.SKIN)
    if back:
        if who.hair_style == "long":
            fig.pen.polygon(
                [
                    (hx - 0.068 * h, y(0.93)),
                    (hx + 0.068 * h, y(0.93)),
                    (hx + 0.078 * h, y(0.78)),
                    (hx - 0.078 * h, y(0.78)),
                ],
                Part.HAIR,
            )
        elif who.hair_style == "ponytail":
            fig.pen.limb((hx, y(0.9)), (hx, y(0.8)), 0.04 * h, 0.025 * h, Part.HAIR)
    elif hair:
        if fig.profile:
            # Hair covers the crown and the back of the head.
            fig.pen.ellipse(hx - fig.d * 0.014 * h, hy - 0.018 * h, rx * 0.95, ry * 0.8, Part.HAIR)
            fig.pen.ellipse(hx + fig.d * 0.018 * h, hy + 0.014 * h, rx * 0.72, ry * 0.68, Part.SKIN)
            if who.hair_style == "ponytail":
                fig.pen.limb(
                    (hx - fig.d * 0.06 * h, y(0.94)),
                    (hx - fig.d * 0.085 * h, y(0.84)),
                    0.035 * h,
                    0.02 * h,
                    Part.HAIR,
                )
        else:
            fig.pen.ellipse(hx, hy - 0.02 * h, rx * 1.05, ry * 0.78, Part.HAIR)
            fig.pen.ellipse(hx, hy + 0.014 * h, rx * 0.86, ry * 0.74, Part.SKIN)
    if not back and h >= 40:
        # Eyes: a face is only seen from the front or in profile.
        r = 0.0075 * h
        if fig.profile:
            fig.pen.ellipse(hx + fig.d * 0.032 * h, y(0.94), r, r, Part.FACE)
        else:
            for s in (-1.0, 1.0):
                fig.pen.ellipse(hx + s * 0.022 * h, y(0.94), r, r, Part.FACE)
    _hat(fig, hx, hy, rx, ry)


def _hat(fig: Figure, hx: float, hy: float, rx: float, ry: float) -> None:
    """Cap (crown and a brim towards the face) or beanie over the head ellipse."""
    hat, h = fig.who.hat, fig.h
    if hat == "none":
        return
    crown = (hx, hy - 0.032 * h, rx * 1.08, ry * 0.62)
    fig.pen.ellipse(*crown, Part.HAT)
    if hat == "cap":
        if fig.profile:
            x0 = hx + fig.d * 0.02 * h
            x1 = hx + fig.d * 0.11 * h
            fig.pen.polygon(
                [
                    (x0, y0 := hy - 0.03 * h),
                    (x1, y0 + 0.008 * h),
                    (x1, y0 + 0.018 * h),
                    (x0, y0 + 0.016 * h),
                ],
                Part.HAT,
            )
        elif fig.pose.view == "front":
            fig.pen.ellipse(hx, hy - 0.025 * h, rx * 1.2, 0.012 * h, Part.HAT)


def draw_logo(fig: Figure) -> None:
    """The chest logo (circle, square, triangle or bar), seen only from the front."""
    logo, h, b, cx, y = fig.who.logo, fig.h, fig.b, fig.cx, fig.y
    if logo == "none" or fig.pose.view != "front":
        return
    s = 0.032 * h * b
    ly = y(0.71)
    if logo == "circle":
        fig.pen.ellipse(cx, ly, s, s, Part.LOGO)
    elif logo == "square":
        fig.pen.polygon(
            [(cx - s, ly - s), (cx + s, ly - s), (cx + s, ly + s), (cx - s, ly + s)], Part.LOGO
        )
    elif logo == "triangle":
        fig.pen.polygon(
            [(cx, ly - s * 1.2), (cx + s * 1.2, ly + s), (cx - s * 1.2, ly + s)], Part.LOGO
        )
    else:
        fig.pen.polygon(
            [
                (cx - 2.4 * s, ly - 0.6 * s),
                (cx + 2.4 * s, ly - 0.6 * s),
                (cx + 2.4 * s, ly + 0.6 * s),
                (cx - 2.4 * s, ly + 0.6 * s),
            ],
            Part.LOGO,
        )


def draw_backpack(fig: Figure, stage: str) -> None:
    """Backpack body and straps for the view.

    Args:
        fig: the posed figure.
        stage: "behind" (called before the torso is drawn) or "over" (after it).
    """
    if fig.who.bag != "backpack":
        return
    h, b, cx, y = fig.h, fig.b, fig.cx, fig.y
    view = fig.pose.view
    if view == "back" and stage == "over":
        fig.pen.rectangle(cx - 0.1 * h * b, y(0.81), cx + 0.1 * h * b, y(0.55), Part.BAG)
        fig.pen.rectangle(cx - 0.075 * h * b, y(0.66), cx + 0.075 * h * b, y(0.6), Part.STRAP)
    elif fig.profile and stage == "behind":
        x_back = cx - fig.d * 0.06 * h * b
        x_out = x_back - fig.d * 0.1 * h * b
        fig.pen.rectangle(min(x_back, x_out), y(0.8), max(x_back, x_out), y(0.56), Part.BAG)
    elif fig.profile and stage == "over":
        fig.pen.limb(
            (cx, y(0.82)), (cx - fig.d * 0.01 * h, y(0.62)), 0.02 * h, 0.02 * h, Part.STRAP
        )
    elif view == "front" and stage == "over":
        for s in (-1.0, 1.0):
            fig.pen.limb(
                (cx + s * 0.07 * h * b, y(0.82)),
                (cx + s * 0.08 * h * b, y(0.6)),
                0.02 * h,
                0.02 * h,
                Part.STRAP,
            )


def draw_side_bag(fig: Figure, stage: str, hands: dict[str, Point]) -> None:
    """Shoulder bag (with its strap) or hand bag on the person's ``bag_side``.

    Args:
        fig: the posed figure.
        stage: "behind" (before the torso: the far side in profile) or "over".
        hands: image position of each hand, keyed "left" / "right".
    """
    who, h, b, cx, y = fig.who, fig.h, fig.b, fig.cx, fig.y
    if who.bag not in ("shoulder", "hand"):
        return
    side = who.bag_side
    if fig.profile:
        # Facing right shows the right side; facing left the left side.
        near = (side == "right") == (fig.d > 0)
        if stage != ("over" if near else "behind"):
            return
        part = Part.BAG if near else Part.BAG_FAR
        if who.bag == "hand":
            hx, hy = hands[side]
            fig.pen.rectangle(hx - 0.04 * h, hy + 0.01 * h, hx + 0.04 * h, hy + 0.1 * h, part)
        else:
            bx = cx - fig.d * 0.03 * h
            if near:
                fig.pen.limb(
                    (cx + fig.d * 0.02 * h, y(0.82)),
                    (bx, y(0.52)),
                    0.018 * h,
                    0.018 * h,
                    Part.STRAP,
                )
            fig.pen.rectangle(bx - 0.055 * h, y(0.53), bx + 0.055 * h, y(0.41), part)
        return
    if stage != "over":
        return
    sign = fig.left_sign if side == "left" else -fig.left_sign
    if who.bag == "hand":
        hx, hy = hands[side]
        fig.pen.rectangle(hx - 0.035 * h, hy + 0.01 * h, hx + 0.035 * h, hy + 0.1 * h, Part.BAG)
        return
    bx = cx + sign * 0.13 * h * b
    # Cross-body strap from the opposite shoulder.
    fig.pen.limb(
        (cx - sign * 0.08 * h * b, y(0.82)), (bx, y(0.53)), 0.018 * h, 0.018 * h, Part.STRAP
    )
    fig.pen.rectangle(bx - 0.045 * h, y(0.54), bx + 0.045 * h, y(0.41), Part.BAG)
