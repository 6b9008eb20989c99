"""SYSU-MM01 (visible-infrared) -> the common re-id index.

Dataset: Wu et al., "RGB-Infrared Cross-Modality Person Re-Identification",
ICCV 2017. 491 identities, 6 cameras: RGB cameras 1, 2 (indoor), 4, 5
(outdoor); near-infrared cameras 3 (indoor) and 6 (outdoor). Layout:
``cam{c}/{pid:04d}/{n:04d}.jpg``; ``exp/{train,val,test}_id.txt`` each hold one
line of comma-separated identity numbers (296 + 99 + 96).

Output rows (docs/design.md, "Re-id index"): training uses train + val identities (395)
from every camera; the test identities' infrared images are the ``query`` rows,
their RGB images the ``gallery`` rows. The evaluation samples the single-shot /
multi-shot gallery trials (all-search: cameras 1, 2, 4, 5; indoor: 1, 2) with a
seed; nothing is sampled here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.data.converters._mat import load_mat_variable
from pipeline.data.converters.layout import find_dataset_root, list_files, relative_posix
from pipeline.data.errors import DataError
from pipeline.data.images import verify_images as decode_all
from pipeline.data.reid_index import GalleryTrials, IndexRow, write_gallery_trials, write_index

CAMERAS = (1, 2, 3, 4, 5, 6)
INFRARED_CAMERAS = (3, 6)
RGB_CAMERAS = (1, 2, 4, 5)
ID_FILES = ("train_id.txt", "val_id.txt", "test_id.txt")
RAND_PERM_FILE = "rand_perm_cam.mat"  # in exp/, beside the id lists


def read_rand_perm_cam(path: Path) -> dict[int, list[np.ndarray]]:
    """``rand_perm_cam`` of one file: per camera 1..6, per pid (index pid - 1) a trials x n array.

    Raises:
        DataError: not the 6x1 cell of per-identity cells, or an entry that is not a
            2-D matrix whose rows are permutations of 1..n.
    """
    _, value = load_mat_variable(path, "rand_perm_cam")
    cams = np.asarray(value, dtype=object).reshape(-1)
    if value.dtype != object or cams.size != len(CAMERAS):
        raise DataError(
            f"{path}: rand_perm_cam must be a 6x1 cell, got {value.dtype} {value.shape}"
        )
    out: dict[int, list[np.ndarray]] = {}
    for cam, cell in zip(CAMERAS, cams, strict=True):
        cell = np.asarray(cell)
        if cell.dtype != object:
            raise DataError(f"{path}: rand_perm_cam{{{cam}}} is not a cell of identities")
        entries = []
        for index, entry in enumerate(cell.reshape(-1)):
            entry = np.asarray(entry)
            if entry.ndim != 2:
                raise DataError(f"{path}: rand_perm_cam{{{cam}}}{{{index + 1}}} is not a matrix")
            expected = np.arange(1, entry.shape[1] + 1)
            if entry.size and not (np.sort(entry, axis=1) == expected).all():
                raise DataError(
                    f"{path}: rand_perm_cam{{{cam}}}{{{index + 1}}}: a row is not a "
                    f"permutation of 1..{entry.shape[1]}"
                )
            entries.append(entry.astype(np.int64))
        out[cam] = entries
    return out


def gallery_trials(path: Path, top: Path, test_ids: list[int]) -> GalleryTrials:
    """The test identities' RGB-camera entries of ``rand_perm_cam.mat``, checked against the images.

    An identity a camera saw but the file gives no permutation is left out of that
    camera's galleries, as ``get_testing_set.m:41-43`` skips it.

    Raises:
        DataError: a permutation over other image numbers than the folder's, or trials
            of unequal count.
    """
    perms = read_rand_perm_cam(path)
    trials: GalleryTrials = {}
    for cam in RGB_CAMERAS:
        for pid in test_ids:
            folder = top / f"cam{cam}" / f"{pid:04d}"
            if not folder.is_dir():
                continue
            entry = perms[cam][pid - 1] if pid <= len(perms[cam]) else np.empty((0, 0))
            if entry.size == 0:
                continue
            names = list_files(folder, (".jpg", ".jpeg", ".png"))
            numbers = sorted(int(Path(n).stem) for n in names if Path(n).stem.isdigit())
            if len(numbers) != len(names) or numbers != list(range(1, entry.shape[1] + 1)):
                raise DataError(
                    f"{path}: cam{cam} id {pid} permutes images 1..{entry.shape[1]}, "
                    f"but {folder} holds {sorted(names)[:5]}... ({len(names)} images)"
                )
            trials[(cam, pid)] = entry.tolist()
    counts = {len(rows) for rows in trials.values()}
    if len(counts) > 1:
        raise DataError(f"{path}: entries hold different numbers of trials {sorted(counts)}")
    return trials


def read_id_file(path: Path) -> list[int]:
    """Identity numbers from one ``exp/*_id.txt`` (comma-separated, one line).

    Raises:
        DataError: missing file, a field that is not a positive integer, or a repeated id.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: identity list not found") from None
    fields = [f.strip() for f in text.replace("\n", ",").split(",") if f.strip()]
    if not fields:
        raise DataError(f"{path}: identity list is empty")
    bad = [f for f in fields if not f.isdigit() or int(f) == 0]
    if bad:
        raise DataError(f"{path}: not positive integer identity numbers: {bad[:5]}")
    ids = [int(f) for f in fields]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: an identity is listed twice")
    return ids


def camera_rows(top: Path, path_root: Path, camera: int, pids: list[int], split: str):
    """Rows of one camera for the given identities; an identity it never saw has no folder."""
    cam_dir = top / f"cam{camera}"
    modality = "infrared" if camera in INFRARED_CAMERAS else "visible"
    prefix = relative_posix(cam_dir, path_root)
    rows = []
    for pid in pids:
        folder = f"{pid:04d}"
        if not (cam_dir / folder).is_dir():
            continue
        for name in list_files(cam_dir / folder, (".jpg", ".jpeg", ".png")):
            rows.append(IndexRow(f"{prefix}/{folder}/{name}", pid, camera, split, modality))
    return rows


def convert(raw_dir: Path, out_dir: Path, path_root: Path, *, verify_images: bool = False) -> None:
    """Write ``out_dir/index.csv`` for the SYSU-MM01 folder found in ``raw_dir``.

    Args:
        raw_dir: the extracted archive (``SYSU-MM01/`` may be inside).
        out_dir: where ``index.csv`` goes.
        path_root: paths in the index are relative to it (the repository root).
        verify_images: decode every image.

    Raises:
        DataError: no SYSU-MM01 layout, a missing or malformed id file, train and test
            identities that overlap, an image that does not decode, or an
            ``exp/rand_perm_cam.mat`` that does not fit the images.
    """
    markers = ["exp", *(f"cam{c}" for c in CAMERAS)]
    top = find_dataset_root(Path(raw_dir), markers, "SYSU-MM01")
    train_ids, val_ids, test_ids = (read_id_file(top / "exp" / name) for name in ID_FILES)
    shared = sorted(set(train_ids + val_ids) & set(test_ids))
    if shared:
        raise DataError(f"{top / 'exp'}: identities both in training and test lists: {shared[:5]}")
    training = sorted(set(train_ids + val_ids))
    testing = sorted(test_ids)
    rows = []
    for camera in CAMERAS:
        rows += camera_rows(top, Path(path_root), camera, training, "train")
        test_split = "query" if camera in INFRARED_CAMERAS else "gallery"
        rows += camera_rows(top, Path(path_root), camera, testing, test_split)
    if verify_images:
        decode_all(Path(path_root) / r.path for r in rows)
    write_index(Path(out_dir) / "index.csv", rows)
    perm_file = top / "exp" / RAND_PERM_FILE
    if perm_file.is_file():
        trials = gallery_trials(perm_file, top, testing)
        write_gallery_trials(Path(out_dir), trials, f"exp/{RAND_PERM_FILE}")
