"""RegDB (visible-thermal) -> the common re-id index, one per train/test split.

Dataset: Nguyen et al., "Person Recognition System Based on a Combination of
Body Images from Visible Light and Thermal Cameras", Sensors 17(3), 2017. 412
identities, each with 10 visible and 10 thermal images from one dual camera
(``Visible/<pid>/*.bmp``, ``Thermal/<pid>/*.bmp``, names
``{gender}_{front|back}_{v|t}_{serial:05d}_{pid}.bmp``). The evaluation protocol
(Ye et al.) uses 10 random splits of 206 training and 206 test identities, listed
in ``idx/{train,test}_{visible,thermal}_{k}.txt`` as ``Visible/285/... 0`` (path,
label 0..205 within the split).

Output: ``splits/<k>/index.csv`` for k = 1..10 and ``index.csv`` (split 1):
train rows from the train lists, test visible rows as ``query`` and test thermal
rows as ``gallery`` (the evaluation swaps them for thermal->visible). pid is the
identity folder number, the same person in every split; camera 1 = visible, 2 = thermal.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.data.converters.layout import find_dataset_root, relative_posix
from pipeline.data.errors import DataError
from pipeline.data.images import verify_images as decode_all
from pipeline.data.reid_index import IndexRow, write_index

NUM_SPLITS = 10
# (list name part, index split, folder the list must point into, modality, camera)
LISTS = (
    ("train_visible", "train", "Visible", "visible", 1),
    ("train_thermal", "train", "Thermal", "infrared", 2),
    ("test_visible", "query", "Visible", "visible", 1),
    ("test_thermal", "gallery", "Thermal", "infrared", 2),
)


def read_idx_file(path: Path, folder: str) -> list[tuple[str, int]]:
    """``(path inside the dataset folder, pid)`` per line of one idx file.

    Raises:
        DataError: missing file, malformed line, a path outside ``folder/<pid>/``, or one
            identity folder given two labels.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: split list not found") from None
    out = []
    label_of: dict[int, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            raise DataError(f"{path}:{lineno}: expected '<path> <label>', got {line!r}")
        parts = fields[0].split("/")
        if (
            len(parts) != 3
            or parts[0] != folder
            or not parts[1].isdigit()
            or parts[2] in ("", "..")
        ):
            raise DataError(f"{path}:{lineno}: expected '{folder}/<pid>/<name>', got {fields[0]!r}")
        pid, label = int(parts[1]), int(fields[1])
        if label_of.setdefault(pid, label) != label:
            raise DataError(
                f"{path}:{lineno}: identity {pid} has labels {label_of[pid]} and {label}"
            )
        out.append((fields[0], pid))
    if not out:
        raise DataError(f"{path}: split list is empty")
    return out


def split_rows(top: Path, prefix: str, k: int) -> list[IndexRow]:
    """Index rows of split ``k`` (paths are ``prefix`` + the listed path)."""
    rows = []
    for name, split, folder, modality, camera in LISTS:
        for listed, pid in read_idx_file(top / "idx" / f"{name}_{k}.txt", folder):
            rows.append(IndexRow(f"{prefix}/{listed}", pid, camera, split, modality))
    return rows


def convert(raw_dir: Path, out_dir: Path, path_root: Path, *, verify_images: bool = False) -> None:
    """Write ``index.csv`` and ``splits/<k>/index.csv`` for the RegDB folder in ``raw_dir``.

    Args:
        raw_dir: the extracted archive (``RegDB/`` may be inside).
        out_dir: where the outputs go.
        path_root: paths in the index are relative to it (the repository root).
        verify_images: decode every image; listed images are always checked to exist.

    Raises:
        DataError: no RegDB layout, a missing or malformed split list, a listed image that
            does not exist, or (with ``verify_images``) one that does not decode.
    """
    top = find_dataset_root(Path(raw_dir), ["idx", "Visible", "Thermal"], "RegDB")
    prefix = relative_posix(top, Path(path_root))
    splits = {k: split_rows(top, prefix, k) for k in range(1, NUM_SPLITS + 1)}
    listed = sorted({row.path for rows in splits.values() for row in rows})
    for path in listed:
        if not (Path(path_root) / path).is_file():
            raise DataError(f"{Path(path_root) / path}: image listed in {top / 'idx'} not found")
    if verify_images:
        decode_all(Path(path_root) / path for path in listed)
    out_dir = Path(out_dir)
    for k, rows in splits.items():
        written = write_index(out_dir / "splits" / str(k) / "index.csv", rows)
        if k == 1:
            write_index(out_dir / "index.csv", written)
