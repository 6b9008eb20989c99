"""The Market-1501 folder layout, shared by Market-1501, DukeMTMC-reID and re-packed MSMT17.

``bounding_box_train/`` (train), ``query/`` and ``bounding_box_test/`` (gallery),
one JPEG per person box, identity and camera in the file name. pid -1 marks junk
boxes (dropped: the protocol ignores them), pid 0 distractors (kept in the gallery).
Files other than JPEGs (``Thumbs.db`` in several archives) are ignored; a JPEG
whose name does not follow the layout's pattern is an error naming it.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.data.converters.layout import find_dataset_root, list_files, relative_posix
from pipeline.data.errors import DataError
from pipeline.data.images import verify_images as decode_all
from pipeline.data.reid_index import IndexRow, write_index

SPLIT_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
JUNK_PID = -1


def parse_name(
    name: str, folder: Path, pattern: re.Pattern[str], num_cameras: int
) -> tuple[int, int]:
    """(pid, camera) from a file name; ``pattern`` has groups ``pid`` and ``cam``.

    Raises:
        DataError: the name does not match, pid < -1 or camera outside 1..num_cameras.
    """
    match = pattern.fullmatch(name)
    if match is None:
        raise DataError(f"{folder / name}: file name does not match {pattern.pattern}")
    pid, camera = int(match["pid"]), int(match["cam"])
    if pid < JUNK_PID:
        raise DataError(f"{folder / name}: pid {pid} < -1")
    if not 1 <= camera <= num_cameras:
        raise DataError(f"{folder / name}: camera {camera} outside 1..{num_cameras}")
    return pid, camera


def read_split_folder(
    top: Path, split: str, path_root: Path, pattern: re.Pattern[str], num_cameras: int
) -> list[tuple[str, int, int]]:
    """``(path, pid, camera)`` of every JPEG in the split's folder, junk included, sorted."""
    folder = top / SPLIT_FOLDERS[split]
    prefix = relative_posix(folder, path_root)
    out = []
    for name in list_files(folder, (".jpg", ".jpeg")):
        pid, camera = parse_name(name, folder, pattern, num_cameras)
        out.append((f"{prefix}/{name}", pid, camera))
    return out


def market_style_rows(
    top: Path, path_root: Path, pattern: re.Pattern[str], num_cameras: int
) -> list[IndexRow]:
    """Index rows of a Market-style dataset folder, junk (-1) dropped, distractors (0) kept.

    Raises:
        DataError: a split folder is missing, or a JPEG name is malformed.
    """
    rows = []
    for split in SPLIT_FOLDERS:
        for path, pid, camera in read_split_folder(top, split, path_root, pattern, num_cameras):
            if pid != JUNK_PID:
                rows.append(IndexRow(path, pid, camera, split, "visible"))
    return rows


def convert_market_style(
    raw_dir: Path,
    out_dir: Path,
    path_root: Path,
    *,
    pattern: re.Pattern[str],
    num_cameras: int,
    dataset: str,
    verify_images: bool = False,
) -> None:
    """Write ``out_dir/index.csv`` for the Market-style folder found in ``raw_dir``.

    Args:
        raw_dir: the extracted archive (the dataset's own top folder may be inside).
        out_dir: where ``index.csv`` goes.
        path_root: paths in the index are relative to it (the repository root).
        pattern: file-name pattern with groups ``pid`` and ``cam``.
        num_cameras: cameras are numbered 1..num_cameras.
        dataset: the dataset's name, for messages.
        verify_images: decode every image (slow at full scale); names are always checked.

    Raises:
        DataError: no such layout, a malformed file name, or an image that does not decode.
    """
    top = find_dataset_root(Path(raw_dir), list(SPLIT_FOLDERS.values()), dataset)
    rows = market_style_rows(top, Path(path_root), pattern, num_cameras)
    if verify_images:
        decode_all(Path(path_root) / r.path for r in rows)
    write_index(Path(out_dir) / "index.csv", rows)
