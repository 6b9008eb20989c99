"""Garment patterns: stripes and checks painted onto the top after drawing.

A pattern is a second material (``PATTERN``) replacing the top's material on
the pixels where the pattern is "on", computed in body coordinates (fractions
of the stature), so stripes keep their width relative to the person at every
scale and bend with nothing. Only pixels still showing the person's top
change, so occluders cut the pattern as they cut the garment.
"""

from __future__ import annotations

import numpy as np

from pipeline.data.synthetic.identities import Identity
from pipeline.data.synthetic.materials import Part


def apply_pattern(
    labels: np.ndarray, who: Identity, base: int, cx: float, foot_y: float, stature: float
) -> None:
    """Paint the top's stripes or checks onto the person's ``TOP`` pixels, in place.

    Args:
        labels: the material map (supersampled), changed in place.
        who: the person (``top_pattern``: plain, hstripes, vstripes or checks).
        base: the person's first label.
        cx, foot_y, stature: where the person was drawn, in map pixels.
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
