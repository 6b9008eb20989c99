"""PRW (Person Re-identification in the Wild) annotations -> the project's COCO-style format.

Dataset: Zheng et al., "Person Re-identification in the Wild", CVPR 2017: 11,816
frames from 6 cameras on a university campus; 5,704 training frames with 482
identities, 6,112 test frames with 2,057 query persons (450 identities).

Files read under the dataset folder (``PRW-v16.04.20/`` in the archive):

* ``frame_train.mat`` ``img_index_train`` / ``frame_test.mat`` ``img_index_test``:
  cell arrays of frame names without extension (``c1s1_000151``);
* ``frames/<frame>.jpg``: only the JPEG header is read, for the image size;
* ``annotations/<frame>.jpg.mat``: an Nx5 matrix (id, x, y, w, h) under the first
  present of ``box_new``, ``anno_file``, ``anno_previous``; id -2 is a person whose
  identity is unknown (person_id -1 here); negative coordinates occur and are
  clipped to the image, as is any part of a box beyond it;
* ``query_info.txt``: ``pid x y w h frame`` per line (CRLF line ends in the
  original).

The camera is the digit after ``c`` in the frame name. Search protocol: each
query searches every test frame but its own (``"gallery":
"all_test_frames_but_own"``, written as a rule rather than 6,111 ids per query);
``cross_camera_variant`` says the evaluation also reports the variant whose
gallery keeps only frames of other cameras than the query's.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from pipeline.data.converters._mat import (
    UNKNOWN_PERSON,
    CocoBuilder,
    clip_box,
    image_size,
    load_mat_variable,
    mat_string,
    records,
    write_compact_json,
)
from pipeline.data.converters.layout import find_dataset_root, relative_posix
from pipeline.data.errors import DataError

BOX_VARIABLES = ("box_new", "anno_file", "anno_previous")
UNLABELLED_ID = -2  # PRW's id of a person whose identity is unknown
GALLERY_RULE = "all_test_frames_but_own"
_CAMERA = re.compile(r"c(\d)")

Box = tuple[float, float, float, float]


def camera_of(frame: str, path: Path) -> int:
    """``'c3s1_012345'`` -> 3."""
    match = _CAMERA.search(frame)
    if match is None:
        raise DataError(f"{path}: frame name {frame!r} holds no camera (c<digit>)")
    return int(match.group(1))


def read_frame_list(path: Path, variable: str) -> list[str]:
    """``frame_{train,test}.mat``: the frame names, in file order."""
    _, cells = load_mat_variable(path, variable)
    names = [mat_string(v, path, f"{variable}[{i}]") for i, v in enumerate(records(cells))]
    if not names:
        raise DataError(f"{path}: {variable} lists no frames")
    if len(set(names)) != len(names):
        raise DataError(f"{path}: {variable} lists a frame twice")
    return names


def read_frame_boxes(path: Path) -> list[tuple[int, Box]]:
    """One ``annotations/<frame>.jpg.mat``: (person_id, [x, y, w, h]) per row, unclipped."""
    variable, table = load_mat_variable(path, BOX_VARIABLES)
    table = np.asarray(table)
    if table.size == 0:
        return []
    if table.ndim != 2 or table.shape[1] != 5 or table.dtype.kind not in "iuf":
        raise DataError(
            f"{path}: {variable}: expected an Nx5 numeric matrix (id x y w h), "
            f"got shape {table.shape} of {table.dtype}"
        )
    if not np.isfinite(table).all():
        raise DataError(f"{path}: {variable}: holds non-finite values")
    out = []
    for row, (raw_id, x, y, w, h) in enumerate(table.astype(float).tolist()):
        if raw_id != int(raw_id) or (raw_id < 0 and raw_id != UNLABELLED_ID):
            raise DataError(f"{path}: {variable} row {row}: person id {raw_id:g} is not valid")
        pid = UNKNOWN_PERSON if raw_id == UNLABELLED_ID else int(raw_id)
        out.append((pid, (x, y, w, h)))
    return out


def read_query_info(path: Path) -> list[tuple[int, Box, str]]:
    """``query_info.txt``: (pid, [x, y, w, h], frame) per line; CRLF and blank lines tolerated."""
    if not path.is_file():
        raise DataError(f"{path}: query file not found")
    queries = []
    # Universal newlines: the original file ends its lines with CRLF.
    with path.open("r", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                if len(parts) != 6:
                    raise ValueError(f"expected 6 fields, found {len(parts)}")
                pid = int(parts[0])
                if pid < 0:
                    raise ValueError(f"person id {pid} is negative")
                box = tuple(float(v) for v in parts[1:5])
                if not all(map(math.isfinite, box)):
                    raise ValueError(f"box {list(box)} is not finite")
            except ValueError as exc:
                raise DataError(f"{path}: line {line_no}: {exc}: {line.strip()!r}") from None
            frame = parts[5].removesuffix(".jpg")
            queries.append((pid, box, frame))
    if not queries:
        raise DataError(f"{path}: holds no queries")
    return queries


def _add_split(
    builder: CocoBuilder,
    frames: list[str],
    root: Path,
    frame_prefix: str,
    verify_images: bool,
) -> dict[str, tuple[int, int, int]]:
    """Add frames (sorted by name) and their boxes; returns frame -> (id, width, height)."""
    added = {}
    for frame in sorted(frames):
        image_path = root / "frames" / f"{frame}.jpg"
        width, height = image_size(image_path, verify=verify_images)
        camera = camera_of(frame, image_path)
        image_id = builder.add_image(f"{frame_prefix}/{frame}.jpg", width, height, camera)
        ann_path = root / "annotations" / f"{frame}.jpg.mat"
        for row, (pid, box) in enumerate(read_frame_boxes(ann_path)):
            builder.add_person(image_id, clip_box(box, width, height, ann_path, f"row {row}"), pid)
        added[frame] = (image_id, width, height)
    return added


def convert(raw_dir: Path, out_dir: Path, path_root: Path, *, verify_images: bool = False) -> None:
    """Convert an extracted (or rendered) PRW folder.

    Args:
        raw_dir: the extracted archive; the dataset folder (holding
            ``frame_test.mat``) may be it or lie up to two levels below it.
        out_dir: receives ``train.json``, ``test.json`` and ``protocol.json``; the
            caller makes it atomic.
        path_root: image paths in the outputs are relative to it (the repo root).
        verify_images: decode every frame, not only its header.

    Raises:
        DataError: a file is missing or malformed; the message names it.
    """
    root = find_dataset_root(Path(raw_dir), ["frame_test.mat"], "PRW")
    train_frames = read_frame_list(root / "frame_train.mat", "img_index_train")
    test_frames = read_frame_list(root / "frame_test.mat", "img_index_test")
    shared = sorted(set(train_frames) & set(test_frames))
    if shared:
        raise DataError(f"{root / 'frame_test.mat'}: frames also in frame_train.mat: {shared[:5]}")
    query_path = root / "query_info.txt"
    queries = read_query_info(query_path)

    frame_prefix = relative_posix(root / "frames", Path(path_root))
    train = CocoBuilder()
    _add_split(train, train_frames, root, frame_prefix, verify_images)
    test = CocoBuilder(train.next_image_id, train.next_annotation_id)
    added = _add_split(test, test_frames, root, frame_prefix, verify_images)

    protocol_queries = []
    for n, (pid, box, frame) in enumerate(queries):
        if frame not in added:
            raise DataError(f"{query_path}: query {n}: frame {frame} is not a test frame")
        image_id, width, height = added[frame]
        protocol_queries.append(
            {
                "image": f"{frame_prefix}/{frame}.jpg",
                "image_id": image_id,
                "bbox": clip_box(box, width, height, query_path, f"query {n}"),
                "pid": pid,
                "camera": camera_of(frame, query_path),
                "gallery": GALLERY_RULE,
            }
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_compact_json(out_dir / "train.json", train.to_dict())
    write_compact_json(out_dir / "test.json", test.to_dict())
    write_compact_json(
        out_dir / "protocol.json",
        {
            "layout": "prw",
            "gallery_rule": GALLERY_RULE,
            "cross_camera_variant": True,
            "queries": protocol_queries,
        },
    )
