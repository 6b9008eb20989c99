"""MSMT17 -> the common re-id index; both layouts in circulation.

Dataset: Wei et al., "Person Transfer GAN to Bridge Domain Gap for Person
Re-Identification", CVPR 2018. 4,101 identities, 15 cameras (12 outdoor, 3
indoor); 32,621 training images (1,041 ids), 11,659 queries and 82,161 gallery
images (3,060 ids).

Original layout (``MSMT17_V1``; ``MSMT17_V2`` names its folders ``mask_train_v2``
/ ``mask_test_v2``): ``list_{train,val}.txt`` point into ``train/``,
``list_{query,gallery}.txt`` into ``test/``; a line is
``0000/0000_000_01_0303morning_0015_0.jpg 0`` (path, pid) and the camera is the
third ``_`` field of the name. Training uses train + val (val holds more images
of the training identities).

Re-packed layout: Market-style folders (``bounding_box_train/``, ``query/``,
``bounding_box_test/``) with names ``{pid}_c{cam}_...jpg``.

Identities: the original numbers train and test identities from 0 each. pid 0
means "distractor" in the common index, so every pid is shifted by 1, and test
pids are further offset by the number of training ids: train 1..1041, test
1042..4101 (applied to both layouts, so they give the same numbering).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pipeline.data.converters.layout import find_dataset_root, locate_layout, relative_posix
from pipeline.data.converters.market_style import SPLIT_FOLDERS, read_split_folder
from pipeline.data.errors import DataError
from pipeline.data.images import verify_images as decode_all
from pipeline.data.reid_index import IndexRow, write_index

NUM_CAMERAS = 15
# list file -> (split in the index, whether its images are test images)
LIST_FILES = {
    "list_train.txt": ("train", False),
    "list_val.txt": ("train", False),
    "list_query.txt": ("query", True),
    "list_gallery.txt": ("gallery", True),
}
IMAGE_FOLDERS = (("train", "test"), ("mask_train_v2", "mask_test_v2"))
REPACKED_NAME = re.compile(r"(?P<pid>-?\d+)_c(?P<cam>\d+)_.*\.jpg")


def _read_list(list_path: Path, image_dir: Path, path_root: Path) -> list[tuple[str, int, int]]:
    """``(image path relative to path_root, pid as listed, camera)`` per line of a list file."""
    prefix = relative_posix(image_dir, path_root)
    try:
        text = list_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{list_path}: list file not found") from None
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            raise DataError(f"{list_path}:{lineno}: expected '<path> <pid>', got {line!r}")
        name_fields = os.path.basename(fields[0]).split("_")
        if len(name_fields) < 3 or not name_fields[2].isdigit():
            raise DataError(f"{list_path}:{lineno}: no camera field in {fields[0]!r}")
        camera = int(name_fields[2])
        if not 1 <= camera <= NUM_CAMERAS:
            raise DataError(f"{list_path}:{lineno}: camera {camera} outside 1..{NUM_CAMERAS}")
        if ".." in fields[0].split("/") or fields[0].startswith("/"):
            raise DataError(f"{list_path}:{lineno}: path {fields[0]!r} leaves {image_dir}")
        if not (image_dir / fields[0]).is_file():
            raise DataError(f"{list_path}:{lineno}: image {image_dir / fields[0]} not found")
        out.append((f"{prefix}/{fields[0]}", int(fields[1]), camera))
    return out


def _image_dirs(top: Path) -> tuple[Path, Path]:
    for train, test in IMAGE_FOLDERS:
        if (top / train).is_dir() and (top / test).is_dir():
            return top / train, top / test
    raise DataError(f"{top}: no image folders {' or '.join('/'.join(f) for f in IMAGE_FOLDERS)}")


def list_layout_rows(top: Path, path_root: Path) -> list[IndexRow]:
    """Rows of the original list-file layout (pids shifted and offset, see module doc)."""
    train_dir, test_dir = _image_dirs(top)
    read = {
        name: _read_list(top / name, test_dir if is_test else train_dir, path_root)
        for name, (_, is_test) in LIST_FILES.items()
    }
    return _shift_pids(
        [
            (path, pid, camera, split, is_test)
            for name, (split, is_test) in LIST_FILES.items()
            for path, pid, camera in read[name]
        ]
    )


def repacked_rows(top: Path, path_root: Path) -> list[IndexRow]:
    """Rows of the Market-style re-packing (junk -1 dropped, pids shifted and offset)."""
    listed = []
    for split in SPLIT_FOLDERS:
        for path, pid, camera in read_split_folder(
            top, split, path_root, REPACKED_NAME, NUM_CAMERAS
        ):
            if pid != -1:
                listed.append((path, pid, camera, split, split != "train"))
    return _shift_pids(listed)


def _shift_pids(listed: list[tuple[str, int, int, str, bool]]) -> list[IndexRow]:
    train_pids = [pid for _, pid, _, _, is_test in listed if not is_test]
    test_offset = max(train_pids, default=-1) + 1
    return [
        IndexRow(path, pid + 1 + (test_offset if is_test else 0), camera, split, "visible")
        for path, pid, camera, split, is_test in listed
    ]


def convert(raw_dir: Path, out_dir: Path, path_root: Path, *, verify_images: bool = False) -> None:
    """Write ``out_dir/index.csv`` for the MSMT17 folder (either layout) found in ``raw_dir``.

    Args:
        raw_dir: the extracted archive (``MSMT17_V1/`` may be inside).
        out_dir: where ``index.csv`` goes.
        path_root: paths in the index are relative to it (the repository root).
        verify_images: decode every image; list entries are always checked to exist.

    Raises:
        DataError: no MSMT17 layout, a missing list file or image, or a malformed line.
    """
    raw_dir, path_root = Path(raw_dir), Path(path_root)
    top = locate_layout(raw_dir, ["list_train.txt"], "MSMT17")
    if top is not None:
        rows = list_layout_rows(top, path_root)
    else:
        markers = list(SPLIT_FOLDERS.values())
        top = find_dataset_root(raw_dir, markers, "MSMT17 (list files or Market-style folders)")
        rows = repacked_rows(top, path_root)
    if verify_images:
        decode_all(path_root / r.path for r in rows)
    write_index(Path(out_dir) / "index.csv", rows)
