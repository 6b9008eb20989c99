"""Ranked-list images (pipeline.evaluation.ranked_list): layout, colours, bytes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline.evaluation.ranked_list import (
    BORDER,
    CORRECT,
    CROP_TILE,
    GAP,
    LABEL_HEIGHT,
    LEGEND_HEIGHT,
    QUERY,
    SCENE_TILE,
    WRONG,
    render_ranked_list,
    sample_queries,
    write_ranked_list,
)


@pytest.fixture
def crops(tmp_path):
    paths = []
    for i in range(6):
        path = tmp_path / f"c{i}.png"
        mode = "L" if i == 0 else "RGB"  # an infrared (grayscale) query
        colour = 128 if mode == "L" else (10 * i, 50, 200)
        Image.new(mode, (32, 64), colour).save(path)
        paths.append(path)
    return paths


def _tile_origin(row, col, size):
    left = GAP if col == 0 else GAP + col * (size[0] + GAP) + GAP
    top = GAP + row * (LABEL_HEIGHT + size[1] + GAP) + LABEL_HEIGHT
    return left, top


def test_borders_mark_correct_and_wrong(crops):
    ranked = np.array([[1, 2, 3], [4, 5, 1]])
    correct = np.array([[True, False, True], [False, False, False]])
    image = render_ranked_list(crops[:2], crops, ranked, correct, top_k=3)
    w, h = CROP_TILE
    rows_height = GAP + (LABEL_HEIGHT + h + GAP) * 2
    assert image.size == (GAP + (w + GAP) * 4 + GAP, rows_height + LEGEND_HEIGHT)
    # The key under the rows: a framed swatch of each colour, query first.
    legend = [image.getpixel((x, rows_height + 2)) for x in range(image.size[0])]
    assert legend[GAP] == QUERY
    assert {QUERY, CORRECT, WRONG} <= set(legend)
    expected = {(0, 0): QUERY, (0, 1): CORRECT, (0, 2): WRONG, (0, 3): CORRECT, (1, 1): WRONG}
    for (row, col), colour in expected.items():
        left, top = _tile_origin(row, col, CROP_TILE)
        assert image.getpixel((left + 1, top + 1)) == colour
        assert image.getpixel((left + w - 2, top + h // 2)) == colour
    # Inside the border: the (letterboxed) image itself.
    left, top = _tile_origin(0, 1, CROP_TILE)
    assert image.getpixel((left + w // 2, top + h // 2)) == (10, 50, 200)


def test_png_bytes_are_deterministic(crops, tmp_path):
    args = (crops[:2], crops, np.array([[1, 2], [3, 4]]), np.array([[1, 0], [0, 1]]))
    write_ranked_list(tmp_path / "a.png", *args)
    write_ranked_list(tmp_path / "b.png", *args)
    data = (tmp_path / "a.png").read_bytes()
    assert data == (tmp_path / "b.png").read_bytes()
    assert data.startswith(b"\x89PNG") and b"tIME" not in data and b"tEXt" not in data


def test_person_search_boxes_drawn_or_cropped(tmp_path):
    scene = tmp_path / "scene.png"
    pixels = np.zeros((100, 200, 3), dtype=np.uint8)
    pixels[20:80, 50:80] = (250, 250, 0)  # a yellow person
    Image.fromarray(pixels).save(scene)
    boxes = [[[50, 20, 80, 80]]]
    drawn = render_ranked_list(
        [scene],
        [scene],
        [[0]],
        [[True]],
        query_boxes=[[50, 20, 80, 80]],
        gallery_boxes=boxes,
        crop=False,
    )
    assert drawn.size[0] == GAP + (SCENE_TILE[0] + GAP) * 2 + GAP
    cropped = render_ranked_list(
        [scene],
        [scene],
        [[0]],
        [[True]],
        query_boxes=[[50, 20, 80, 80]],
        gallery_boxes=boxes,
        crop=True,
    )
    left, top = _tile_origin(0, 1, CROP_TILE)
    # The crop holds only the yellow person; the drawn scene is mostly black.
    assert cropped.getpixel((left + CROP_TILE[0] // 2, top + CROP_TILE[1] // 2)) == (250, 250, 0)
    left, top = _tile_origin(0, 1, SCENE_TILE)
    assert drawn.getpixel((left + BORDER + 3, top + SCENE_TILE[1] // 2)) == (0, 0, 0)


def test_sample_queries_and_errors(crops):
    picked = sample_queries(100, 8, seed=3)
    assert picked.size == 8 and np.all(np.diff(picked) > 0)
    np.testing.assert_array_equal(picked, sample_queries(100, 8, seed=3))
    assert sample_queries(3, 8, seed=0).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="need equal"):
        render_ranked_list(crops[:1], crops, [[1, 2]], [[True]])
    short = render_ranked_list(crops[:1], crops, [[1, -1]], [[True, False]])
    left, top = _tile_origin(0, 2, CROP_TILE)
    assert short.getpixel((left + 1, top + 1)) == (255, 255, 255)  # empty slot
    with pytest.raises(ValueError, match="outside"):
        render_ranked_list(crops[:1], crops, [[9]], [[True]])
    with pytest.raises(FileNotFoundError, match="missing.png"):
        render_ranked_list([crops[0].parent / "missing.png"], crops, [[1]], [[True]])
