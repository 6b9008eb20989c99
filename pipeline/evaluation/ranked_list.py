"""Ranked-list images: each sampled query beside its top-k gallery results.

The figure every re-id and person-search paper shows: one row per query, the
query (blue border) then its best-ranked gallery images left to right, with a
green border when the result is the query's identity and red when it is not
(a key under the rows says so).
Works for crops (re-id; visible-infrared: infrared queries, visible results,
grayscale shown as RGB) and for person search, where boxes are either drawn on
the scene or cropped out of it (``crop``).

Output is deterministic: fixed tile sizes, bilinear resizing, PIL's built-in
bitmap font, and a PNG with no metadata chunks (no timestamps), written
atomically through :mod:`pipeline.io`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.io import write_bytes

CORRECT = (0, 170, 0)
WRONG = (220, 0, 0)
QUERY = (0, 90, 220)
BACKGROUND = (255, 255, 255)
TILE_FILL = (200, 200, 200)
BORDER = 4
GAP = 4
LABEL_HEIGHT = 12
CROP_TILE = (64, 128)
SCENE_TILE = (192, 128)
# The key under the rows: what each frame colour means.
LEGEND = ((QUERY, "query"), (CORRECT, "same person"), (WRONG, "another person"))
LEGEND_HEIGHT = 14

PathLike = str | Path


def sample_queries(num_queries: int, count: int, seed: int) -> np.ndarray:
    """``count`` distinct query indices drawn with ``seed``, sorted (all if fewer)."""
    if num_queries < 0 or count < 0:
        raise ValueError(f"num_queries={num_queries}, count={count}: must be >= 0")
    rng = np.random.default_rng(seed)
    picked = rng.choice(num_queries, size=min(count, num_queries), replace=False)
    return np.sort(picked)


def _open_rgb(path: PathLike) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"ranked list: image not found: {path}") from exc


def _tile(
    path: PathLike, box: Any, crop: bool, size: tuple[int, int], color: tuple[int, int, int]
) -> Image.Image:
    """One bordered tile: the image (or its box cropped) letterboxed into ``size``."""
    image = _open_rgb(path)
    if box is not None:
        x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64).ravel()[:4])
        if crop:
            image = image.crop((round(x1), round(y1), round(x2), round(y2)))
        else:
            width = max(2, round(max(image.size) / 150))
            ImageDraw.Draw(image).rectangle((x1, y1, x2, y2), outline=color, width=width)
    inner = (size[0] - 2 * BORDER, size[1] - 2 * BORDER)
    scale = min(inner[0] / max(image.width, 1), inner[1] / max(image.height, 1))
    fitted = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(fitted, Image.Resampling.BILINEAR)
    tile = Image.new("RGB", size, color)
    tile.paste(TILE_FILL, (BORDER, BORDER, size[0] - BORDER, size[1] - BORDER))
    tile.paste(image, (BORDER + (inner[0] - fitted[0]) // 2, BORDER + (inner[1] - fitted[1]) // 2))
    return tile


def render_ranked_list(
    query_paths: Sequence[PathLike],
    gallery_paths: Sequence[PathLike],
    ranked: Any,
    correct: Any,
    *,
    queries: Sequence[int] | None = None,
    top_k: int = 10,
    query_boxes: Any = None,
    gallery_boxes: Any = None,
    crop: bool = True,
    tile_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Draw the ranked lists of some queries, one row per query.

    Args:
        query_paths: (Q,) query image paths (crops, or scenes with ``query_boxes``).
        gallery_paths: (G,) gallery image paths (crops or scenes).
        ranked: (Q, >=k) gallery indices, best first (e.g. from
            :func:`pipeline.evaluation.reid.top_k_matches`, or the scenes of person
            search's ranked detections); -1 leaves the slot empty.
        correct: (Q, >=k) bool, whether each ranked result is the query's person.
        queries: which query rows to draw (default all; see :func:`sample_queries`).
        top_k: results shown per query.
        query_boxes: (Q, 4) query boxes x1,y1,x2,y2 in the query scenes, or None.
        gallery_boxes: (Q, >=k, 4) the box of each ranked result in its scene,
            or None (whole images).
        crop: cut boxes out (True) or draw them on the scene (False).
        tile_size: (width, height) of a tile incl. border; default 64x128 for
            crops, 192x128 for scenes.

    Returns:
        An RGB image.
    """
    ranked = np.asarray(ranked)
    correct = np.asarray(correct, dtype=bool)
    num_q = len(query_paths)
    if ranked.ndim != 2 or ranked.shape[0] != num_q or correct.shape != ranked.shape:
        raise ValueError(
            f"ranked {ranked.shape} and correct {correct.shape}: need equal (Q={num_q}, k) shapes"
        )
    if top_k < 1:
        raise ValueError(f"top_k={top_k}: must be >= 1")
    rows = list(range(num_q)) if queries is None else [int(q) for q in queries]
    if not rows:
        raise ValueError("queries: nothing to draw")
    boxed = query_boxes is not None or gallery_boxes is not None
    size = tile_size or (SCENE_TILE if boxed and not crop else CROP_TILE)
    k = min(top_k, ranked.shape[1])
    width = GAP + (size[0] + GAP) * (k + 1) + GAP
    height = GAP + (LABEL_HEIGHT + size[1] + GAP) * len(rows) + LEGEND_HEIGHT
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default_imagefont()  # bitmap: same pixels everywhere
    _draw_legend(draw, font, height - LEGEND_HEIGHT)
    for r, qi in enumerate(rows):
        if not 0 <= qi < num_q:
            raise ValueError(f"queries: index {qi} outside [0, {num_q})")
        top = GAP + r * (LABEL_HEIGHT + size[1] + GAP)
        q_box = None if query_boxes is None else query_boxes[qi]
        draw.text((GAP, top), f"query {qi}", fill=(0, 0, 0), font=font)
        canvas.paste(_tile(query_paths[qi], q_box, crop, size, QUERY), (GAP, top + LABEL_HEIGHT))
        for j in range(k):
            g = int(ranked[qi, j])
            if g == -1:  # a gallery shorter than k
                continue
            if not 0 <= g < len(gallery_paths):
                raise ValueError(f"ranked[{qi}, {j}] = {g}: outside [0, {len(gallery_paths)})")
            color = CORRECT if correct[qi, j] else WRONG
            g_box = None if gallery_boxes is None else gallery_boxes[qi][j]
            left = GAP + (j + 1) * (size[0] + GAP) + GAP
            draw.text((left, top), str(j + 1), fill=(0, 0, 0), font=font)
            canvas.paste(
                _tile(gallery_paths[g], g_box, crop, size, color), (left, top + LABEL_HEIGHT)
            )
    return canvas


def _draw_legend(draw: ImageDraw.ImageDraw, font: Any, top: int) -> None:
    """A framed swatch per colour with its meaning, left to right."""
    left = GAP
    for colour, text in LEGEND:
        draw.rectangle((left, top + 2, left + 9, top + 11), outline=colour, width=2)
        draw.text((left + 13, top + 1), text, fill=(0, 0, 0), font=font)
        left += 13 + int(draw.textlength(text, font=font)) + 10


def png_bytes(image: Image.Image) -> bytes:
    """PNG encoding without metadata chunks: same pixels give the same bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def write_ranked_list(path: str | Path, *args: Any, **kwargs: Any) -> None:
    """:func:`render_ranked_list` saved as a deterministic PNG at ``path`` (atomic)."""
    write_bytes(path, png_bytes(render_ranked_list(*args, **kwargs)))
