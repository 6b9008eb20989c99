"""The common re-id index: ``data/processed/<dataset>/index.csv`` (docs/design.md, "Re-id index").

One row per image: ``path,pid,camera,split,modality``. ``path`` is relative to
the repository root (POSIX), ``split`` is train/query/gallery, ``modality`` is
visible/infrared. Junk images (pid -1) are never written; distractors keep pid 0.
Rows are sorted by (split, path) so a rerun writes the same bytes.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from pipeline.data.errors import DataError
from pipeline.io import write_csv, write_json

HEADER = ("path", "pid", "camera", "split", "modality")
SPLITS = ("train", "query", "gallery")
MODALITIES = ("visible", "infrared")
DISTRACTOR_PID = 0


class IndexRow(NamedTuple):
    """One image of a re-id dataset."""

    path: str
    pid: int
    camera: int
    split: str
    modality: str


def sorted_rows(rows: Iterable[IndexRow]) -> list[IndexRow]:
    """Rows checked and sorted by (split, path).

    Raises:
        DataError: a bad split, modality or pid, or the same path listed twice.
    """
    out = sorted(rows, key=lambda r: (r.split, r.path))
    for row in out:
        if row.split not in SPLITS:
            raise DataError(f"{row.path}: split {row.split!r} is not one of {SPLITS}")
        if row.modality not in MODALITIES:
            raise DataError(f"{row.path}: modality {row.modality!r} is not one of {MODALITIES}")
        if row.pid < 0:
            raise DataError(f"{row.path}: pid {row.pid} < 0 (junk rows are dropped)")
    for prev, row in zip(out, out[1:], strict=False):
        if prev.split == row.split and prev.path == row.path:
            raise DataError(f"{row.path}: listed twice in split {row.split!r}")
    return out


def write_index(path: Path, rows: Iterable[IndexRow]) -> list[IndexRow]:
    """Write ``index.csv`` (sorted, atomically); return the rows as written."""
    out = sorted_rows(rows)
    write_csv(path, HEADER, out)
    return out


def read_index(path: str | Path) -> list[IndexRow]:
    """Read and check an ``index.csv``.

    Raises:
        DataError: missing file, wrong header or a malformed line (file and line named).
    """
    path = Path(path)
    try:
        fh = path.open("r", newline="", encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: index file not found") from None
    rows: list[IndexRow] = []
    with fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(header) != HEADER:
            raise DataError(f"{path}: header {header} is not {','.join(HEADER)}")
        for lineno, fields in enumerate(reader, start=2):
            if len(fields) != len(HEADER):
                raise DataError(f"{path}:{lineno}: expected 5 fields, got {len(fields)}")
            name, pid, camera, split, modality = fields
            try:
                row = IndexRow(name, int(pid), int(camera), split, modality)
            except ValueError:
                raise DataError(f"{path}:{lineno}: pid/camera not integers: {fields}") from None
            if split not in SPLITS or modality not in MODALITIES or row.pid < 0:
                raise DataError(f"{path}:{lineno}: bad split, modality or pid: {fields}")
            rows.append(row)
    return rows


# ------------------------------------------------------- fixed gallery trials (SYSU-MM01)

# The dataset's own gallery draws (SYSU-MM01's exp/rand_perm_cam.mat), as the converter
# carries them next to index.csv: per camera and identity, one permutation of the image
# numbers (``{n:04d}.jpg``) per trial.
GALLERY_TRIALS_NAME = "gallery_trials.json"

GalleryTrials = dict[tuple[int, int], list[list[int]]]  # (camera, pid) -> trials x images


def write_gallery_trials(out_dir: Path, trials: GalleryTrials, source: str) -> None:
    """Write ``out_dir/gallery_trials.json`` (sorted by camera, pid: a rerun writes the same bytes)."""
    entries = [
        {"camera": cam, "pid": pid, "trials": [list(map(int, row)) for row in rows]}
        for (cam, pid), rows in sorted(trials.items())
    ]
    write_json(Path(out_dir) / GALLERY_TRIALS_NAME, {"source": source, "entries": entries})


def read_gallery_trials(data_dir: str | Path) -> GalleryTrials | None:
    """The gallery trials next to ``index.csv``; None when the dataset has none.

    Raises:
        DataError: a file without ``entries`` or an entry without camera, pid, trials.
    """
    path = Path(data_dir) / GALLERY_TRIALS_NAME
    if not path.is_file():
        return None
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["entries"]
        return {
            (int(e["camera"]), int(e["pid"])): [[int(n) for n in row] for row in e["trials"]]
            for e in entries
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: not a gallery-trials file ({exc!r})") from exc
