"""The pen figures are drawn with: labelled primitives that remember their extent.

Every primitive fills one material label (``base`` + a :class:`Part`) with no
anti-aliasing, and widens the running bounding box, which becomes the person's
annotated box in the person-search scenes.
"""

from __future__ import annotations

import math

from PIL import ImageDraw

from pipeline.data.synthetic.materials import Part

Point = tuple[float, float]


class Pen:
    """Draws labelled primitives and keeps the bounding box of what it drew."""

    def __init__(self, draw: ImageDraw.ImageDraw, base: int) -> None:
        """Args: ``draw`` of the uint8 material map; ``base``: the person's first label."""
        self.draw = draw
        self.base = base
        self.box = [math.inf, math.inf, -math.inf, -math.inf]

    def _extend(self, xs: list[float], ys: list[float]) -> None:
        self.box[0] = min(self.box[0], *xs)
        self.box[1] = min(self.box[1], *ys)
        self.box[2] = max(self.box[2], *xs)
        self.box[3] = max(self.box[3], *ys)

    def polygon(self, points: list[Point], part: Part) -> None:
        """Fill a polygon with the part's label."""
        self.draw.polygon(points, fill=self.base + part)
        self._extend([p[0] for p in points], [p[1] for p in points])

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, part: Part) -> None:
        """Fill an axis-aligned ellipse (centre, radii; at least half a pixel)."""
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

    def rectangle(self, x0: float, y0: float, x1: float, y1: float, part: Part) -> None:
        """Fill an axis-aligned rectangle given by two corners."""
        self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], part)
