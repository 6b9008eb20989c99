"""Tiny fakes of the original CUHK-SYSU and PRW layouts, written with ``scipy.io.savemat``.

The MATLAB structures follow the originals (docs/datasets.md, "Layouts and quirks"):
struct arrays are numpy structured arrays of object fields, cell arrays are object
arrays, empty matrices are 0x0. Images are real (tiny) JPEGs so the converters read their headers.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

EMPTY = np.zeros((0, 0))


def struct_array(rows: Sequence[dict], fields: Sequence[str]) -> np.ndarray:
    """A MATLAB 1xN struct array."""
    arr = np.zeros((1, len(rows)), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        for f in fields:
            arr[0, i][f] = row[f]
    return arr


def cell_column(items: Sequence[object]) -> np.ndarray:
    """A MATLAB Nx1 cell array."""
    arr = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        arr[i, 0] = item
    return arr


def box(values: Sequence[float] | None) -> np.ndarray:
    """An ``idlocate`` 1x4 double matrix, or an empty matrix for ``None``."""
    return EMPTY if values is None else np.asarray([values], dtype=float)


def write_jpeg(path: Path, width: int, height: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=90)


def write_truncated_jpeg(path: Path, width: int, height: int) -> None:
    """A JPEG whose header is intact but whose scan data stops half-way."""
    buf = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 255, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    path.write_bytes(data[: len(data) // 2])


# --------------------------------------------------------------------- CUHK-SYSU


def write_cuhk_sysu(
    root: Path,
    images: dict[str, tuple[int, int, list[list[float]]]],
    pool: list[str],
    train: list[tuple[str, list[tuple[str, list[float]]]]],
    tests: dict[
        int, list[tuple[tuple[str, list[float], str], list[tuple[str, list[float] | None]]]]
    ],
) -> None:
    """Write ``annotation/`` and ``Image/SSM/`` of a CUHK-SYSU fake.

    Args:
        images: name -> (width, height, boxes [x, y, w, h] in Images.mat order).
        pool: the test image names.
        train: (idname, [(imname, box), ...]) per training identity.
        tests: gallery size -> per query ((imname, box, idname), [(imname, box or None)]).
    """
    ann = root / "annotation"
    protocol = ann / "test" / "train_test"
    protocol.mkdir(parents=True, exist_ok=True)
    for i, (name, (width, height, _)) in enumerate(images.items()):
        write_jpeg(root / "Image" / "SSM" / name, width, height, seed=i)

    img_rows = [
        {
            "imname": name,
            "nAppear": np.array([[len(boxes)]], dtype=float),
            "box": struct_array(
                [{"idlocate": box(b), "ishard": np.array([[0]], dtype=float)} for b in boxes],
                ["idlocate", "ishard"],
            ),
        }
        for name, (_, _, boxes) in images.items()
    ]
    scipy.io.savemat(
        ann / "Images.mat", {"Img": struct_array(img_rows, ["imname", "nAppear", "box"])}
    )
    scipy.io.savemat(ann / "pool.mat", {"pool": cell_column(pool)})

    identities = []
    for idname, scenes in train:
        scene = struct_array(
            [{"imname": n, "idlocate": box(b), "ishard": np.array([[0]])} for n, b in scenes],
            ["imname", "idlocate", "ishard"],
        )
        identities.append(
            struct_array(
                [{"idname": idname, "nAppear": np.array([[len(scenes)]]), "scene": scene}],
                ["idname", "nAppear", "scene"],
            )
        )
    scipy.io.savemat(protocol / "Train.mat", {"Train": cell_column(identities)})

    for size, queries in tests.items():
        rows = []
        for (q_name, q_box, idname), gallery in queries:
            query = struct_array(
                [
                    {
                        "imname": q_name,
                        "idlocate": box(q_box),
                        "ishard": np.array([[0]]),
                        "idname": idname,
                    }
                ],
                ["imname", "idlocate", "ishard", "idname"],
            )
            entries = struct_array(
                [{"imname": n, "idlocate": box(b), "ishard": np.array([[0]])} for n, b in gallery],
                ["imname", "idlocate", "ishard"],
            )
            rows.append({"Query": query, "Gallery": entries})
        scipy.io.savemat(
            protocol / f"TestG{size}.mat",
            {f"TestG{size}": struct_array(rows, ["Query", "Gallery"])},
        )


# --------------------------------------------------------------------------- PRW


def write_prw(
    root: Path,
    train: dict[str, tuple[int, int]],
    test: dict[str, tuple[int, int]],
    annotations: dict[str, tuple[str, np.ndarray]],
    query_lines: Sequence[str],
    line_end: str = "\r\n",
) -> None:
    """Write a PRW fake.

    Args:
        train, test: frame name (no extension) -> (width, height).
        annotations: frame -> (variable name, Nx5 matrix id x y w h).
        query_lines: ``pid x y w h frame`` lines, joined with ``line_end``.
    """
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for i, (frame, (width, height)) in enumerate({**train, **test}.items()):
        write_jpeg(root / "frames" / f"{frame}.jpg", width, height, seed=i)
    for frame, (variable, table) in annotations.items():
        scipy.io.savemat(root / "annotations" / f"{frame}.jpg.mat", {variable: table})
    scipy.io.savemat(root / "frame_train.mat", {"img_index_train": cell_column(list(train))})
    scipy.io.savemat(root / "frame_test.mat", {"img_index_test": cell_column(list(test))})
    (root / "query_info.txt").write_bytes("".join(f"{ln}{line_end}" for ln in query_lines).encode())
