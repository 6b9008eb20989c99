"""Shared helpers of the MATLAB-annotated person-search converters (CUHK-SYSU, PRW).

Two concerns both converters have:

* reading ``.mat`` annotations with ``scipy.io.loadmat`` and its quirks: MATLAB
  has no 1-d arrays, so a list of N records arrives as 1xN or Nx1, and a list of
  one record ``.squeeze()``-s to a 0-d array that cannot be iterated; strings
  arrive as 1-element arrays, empty matrices as shape (0, 0);
* writing the project's COCO-style person-search format (docs/design.md, "Person search"):
  image sizes read from the JPEG header only, paths relative to the repository
  root, boxes clipped to the image, sequential image and annotation ids.

Every problem raises :class:`pipeline.data.errors.DataError` naming the file and
what is wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from PIL import Image

from pipeline.data.errors import DataError
from pipeline.data.images import load_rgb
from pipeline.io import FLOAT_DIGITS, write_text

PERSON_CATEGORY = {"id": 1, "name": "person"}
UNKNOWN_PERSON = -1
# Neither CUHK-SYSU (street snaps and movie frames) nor the synthetic scenes in its
# layout record a camera; the image dicts still carry the key.
UNKNOWN_CAMERA = -1


# ---------------------------------------------------------------- .mat reading


def load_mat_variable(
    path: Path, names: str | Sequence[str], squeeze: bool = False
) -> tuple[str, np.ndarray]:
    """Load the first of ``names`` present in a MATLAB v5 file.

    Args:
        path: the ``.mat`` file.
        names: one variable name, or several tried in order (PRW's ``box_new``,
            ``anno_file``, ``anno_previous``).
        squeeze: ``loadmat(squeeze_me=True)``: strings and scalars come as Python
            objects instead of 1x1 arrays, which cuts the memory of the large
            CUHK-SYSU files about fourfold (TestG4000 holds 11.6M gallery records).

    Returns:
        (the name found, its array as ``loadmat`` returns it).
    """
    candidates = [names] if isinstance(names, str) else list(names)
    if not path.is_file():
        raise DataError(f"{path}: annotation file not found")
    try:
        data = scipy.io.loadmat(path, squeeze_me=squeeze)
    except Exception as exc:  # scipy raises several types for a damaged or v7.3 file
        raise DataError(f"{path}: not a readable MATLAB v5 file ({exc})") from exc
    found = next((name for name in candidates if name in data), None)
    if found is None:
        present = sorted(k for k in data if not k.startswith("__"))
        raise DataError(
            f"{path}: variable {' or '.join(map(repr, candidates))} missing "
            f"(the file holds {present})"
        )
    return found, data[found]


def records(value: Any) -> np.ndarray:
    """Any MATLAB array (1xN, Nx1, 1x1, 0-d after squeeze, empty) as a flat 1-d array."""
    return np.asarray(value).reshape(-1)


def struct_records(value: Any, fields: Sequence[str], path: Path, what: str) -> Sequence[np.void]:
    """The records of a struct array, or of a cell array of 1x1 structs, in order.

    ``Train.mat`` wraps each identity in a cell; ``Images.mat`` and ``TestG*.mat`` are
    plain struct arrays. Both, and a single record squeezed to 0-d, come out as a
    sequence of records, each checked to hold ``fields``.
    """
    flat = records(value)
    if flat.dtype.names is not None:  # a struct array: one dtype, checked once
        _require_fields(flat.dtype.names, fields, path, what)
        return flat
    out = []
    for index, item in enumerate(flat):
        while not isinstance(item, np.void):
            if not (isinstance(item, np.ndarray) and item.size == 1):
                raise DataError(f"{path}: {what}[{index}]: expected a struct record, got {item!r}")
            item = item.reshape(-1)[0]
        _require_fields(item.dtype.names or (), fields, path, f"{what}[{index}]")
        out.append(item)
    return out


def _require_fields(names: Sequence[str], fields: Sequence[str], path: Path, what: str) -> None:
    missing = [f for f in fields if f not in names]
    if missing:
        raise DataError(
            f"{path}: {what}: struct field(s) {missing} missing (fields: {list(names)})"
        )


def mat_string(value: Any, path: Path, what: str) -> str:
    """A MATLAB char array (``array(['s1.jpg'])``, possibly nested in a cell) as str."""
    # The common cases first, kept fast: CUHK-SYSU makes 300k calls and more.
    if type(value) is str and value:
        return value
    if type(value) is np.ndarray and value.dtype.kind == "U" and value.size == 1:
        text = value.item()
        if text:
            return text
    flat = records(value)
    while flat.size == 1 and flat.dtype == object:
        flat = records(flat[0])
    if flat.size != 1 or flat.dtype.kind != "U" or not str(flat[0]):
        raise DataError(f"{path}: {what}: expected a non-empty string, got {value!r}")
    return str(flat[0])


def mat_box(value: Any, path: Path, what: str) -> tuple[float, float, float, float] | None:
    """An ``idlocate``-style [x, y, w, h] box; ``None`` for an empty matrix."""
    flat = records(value)
    if flat.size == 0:
        return None
    if flat.size != 4 or flat.dtype.kind not in "iuf":
        raise DataError(f"{path}: {what}: expected 4 numbers [x y w h], got {value!r}")
    box = tuple(flat.astype(float).tolist())
    if not all(map(math.isfinite, box)):
        raise DataError(f"{path}: {what}: box {list(box)} is not finite")
    return box


# ------------------------------------------------------------ layout and images


def image_size(path: Path, verify: bool = False) -> tuple[int, int]:
    """(width, height) from the image header only; with ``verify`` the pixels are decoded too."""
    try:
        with Image.open(path) as img:
            size = img.size
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... per format
        raise DataError(f"{path}: cannot read the image header ({exc})") from None
    if verify:
        load_rgb(path)
    return int(size[0]), int(size[1])


def clip_box(box: Sequence[float], width: int, height: int, path: Path, what: str) -> list[float]:
    """Clip an [x, y, w, h] box to the image; a box with no area inside it is an error."""
    x, y, w, h = box
    x1, y1 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x2, y2 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    if x2 <= x1 or y2 <= y1:
        raise DataError(
            f"{path}: {what}: box [x y w h] = {list(box)} lies outside the {width}x{height} image"
        )
    return [round(float(v), FLOAT_DIGITS) for v in (x1, y1, x2 - x1, y2 - y1)]


# ------------------------------------------------------------------ COCO output


class CocoBuilder:
    """Accumulates images and person boxes into one COCO-style dict.

    Ids continue from ``first_image_id`` / ``first_annotation_id`` so that train and
    test files of one dataset never share an id.
    """

    def __init__(self, first_image_id: int = 1, first_annotation_id: int = 1) -> None:
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self._next_image_id = first_image_id
        self._next_annotation_id = first_annotation_id

    @property
    def next_image_id(self) -> int:
        return self._next_image_id

    @property
    def next_annotation_id(self) -> int:
        return self._next_annotation_id

    def add_image(self, file_name: str, width: int, height: int, camera: int) -> int:
        """Add one image; returns its id."""
        image_id = self._next_image_id
        self._next_image_id += 1
        self.images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "width": width,
                "height": height,
                "camera": camera,
            }
        )
        return image_id

    def add_person(self, image_id: int, bbox: Sequence[float], person_id: int) -> int:
        """Add one person box [x, y, w, h] (``person_id`` -1: identity unknown); returns its id."""
        ann_id = self._next_annotation_id
        self._next_annotation_id += 1
        x, y, w, h = (round(float(v), FLOAT_DIGITS) for v in bbox)
        self.annotations.append(
            {
                "id": ann_id,
                "image_id": image_id,
                "bbox": [x, y, w, h],
                "area": round(w * h, FLOAT_DIGITS),
                "category_id": PERSON_CATEGORY["id"],
                "iscrowd": 0,
                "person_id": int(person_id),
            }
        )
        return ann_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "annotations": self.annotations,
            "categories": [dict(PERSON_CATEGORY)],
        }


def write_compact_json(path: Path, obj: Any) -> None:
    """JSON with sorted keys and no indentation, through the C encoder.

    The annotation files run to 100k boxes and the CUHK-SYSU protocol to millions
    of gallery ids: ``pipeline.io.write_json`` (indented, a Python pass to round
    floats) takes seconds on them. Floats are rounded where they are made
    (:func:`clip_box`, :class:`CocoBuilder`), so none is rounded here.
    """
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    write_text(path, text + "\n")
