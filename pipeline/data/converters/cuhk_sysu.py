"""CUHK-SYSU person search annotations -> the project's COCO-style format.

Dataset: Xiao et al., "Joint Detection and Identification Feature Learning for
Person Search", CVPR 2017: 18,184 scene images (street snaps and movie frames),
96,143 boxes, 8,432 labelled identities; 11,206 training images with 5,532
identities, 6,978 test images (``pool.mat``) with 2,900 query persons, each
searched in galleries of 50, 100, 500, 1000, 2000 and 4000 images.

Files read (``scipy.io.loadmat``, MATLAB v5), under the dataset folder:

* ``annotation/Images.mat`` ``Img``: struct (imname, nAppear, box); ``box`` is a
  struct array (idlocate [x y w h], ishard) of every person in the image;
* ``annotation/pool.mat`` ``pool``: cell array of the test image names;
* ``annotation/test/train_test/Train.mat`` ``Train``: cells holding a struct
  (idname, nAppear, scene), ``scene`` a struct array (imname, idlocate, ishard);
* every ``annotation/test/train_test/TestG{N}.mat`` present (the original has
  N = 50, 100, 500, 1000, 2000, 4000; the synthetic world may write other N; at
  least one is needed) ``TestG{N}``: struct (Query, Gallery); Query (imname,
  idlocate, ishard, idname), Gallery a struct array (imname, idlocate, ishard)
  where an empty ``idlocate`` means the query person is absent from that image.
  All files must list the same queries in the same order.

Identities reach boxes by exact equality of a labelled box with one box of the
image in ``Images.mat``. Zero-size boxes (an annotation error in the original)
are dropped; boxes are clipped to the image. Person ids are the numbers of the
``pXXXX`` identity names; unlabelled people get -1. Images carry camera -1: the
dataset has no cameras.

Outputs in ``out_dir``: ``train.json`` (all images but the pool), ``test.json``
(the pool), ``protocol.json``: every query (image, image_id, bbox, pid, camera)
with ``gallery`` mapping each gallery size present to the ``test.json`` image ids
of its gallery, in the file's order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.data.converters._mat import (
    UNKNOWN_CAMERA,
    UNKNOWN_PERSON,
    CocoBuilder,
    clip_box,
    image_size,
    load_mat_variable,
    mat_box,
    mat_string,
    records,
    struct_records,
    write_compact_json,
)
from pipeline.data.converters.layout import find_dataset_root, relative_posix
from pipeline.data.errors import DataError

GALLERY_SIZES = (50, 100, 500, 1000, 2000, 4000)
_QUERY_FIELDS = ("imname", "idlocate", "idname")
PROTOCOL_DIR = Path("annotation/test/train_test")
_PERSON_NAME = re.compile(r"p(\d+)")
_TEST_FILE = re.compile(r"TestG([1-9]\d*)\.mat")

Box = tuple[float, float, float, float]


@dataclass
class _SceneImage:
    """One image of ``Images.mat``: its boxes in file order and the id of each."""

    boxes: list[Box]
    pids: list[int] = field(default_factory=list)
    # First index of each distinct box: exact-equality lookup for id attachment.
    index: dict[Box, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Query:
    image: str
    box: Box
    pid: int


def person_id(name: str, path: Path, what: str) -> int:
    """``'p1234'`` -> 1234."""
    match = _PERSON_NAME.fullmatch(name.strip())
    if match is None:
        raise DataError(f"{path}: {what}: identity name {name!r} is not of the form pNNNN")
    return int(match.group(1))


def gallery_sizes_present(folder: Path) -> list[int]:
    """The N of every ``TestG{N}.mat`` in ``folder``, ascending; at least one is needed."""
    sizes = sorted(
        int(m.group(1)) for p in folder.glob("TestG*.mat") if (m := _TEST_FILE.fullmatch(p.name))
    )
    if not sizes:
        raise DataError(
            f"{folder}: no TestG{{N}}.mat found (the original has N in {list(GALLERY_SIZES)})"
        )
    return sizes


def _is_zero_size(box: Box) -> bool:
    return box[2] <= 0 or box[3] <= 0


def read_images(path: Path) -> dict[str, _SceneImage]:
    """``Images.mat``: every image's boxes in file order, all labelled unknown for now."""
    _, img = load_mat_variable(path, "Img", squeeze=True)
    images: dict[str, _SceneImage] = {}
    for n, rec in enumerate(struct_records(img, ("imname", "box"), path, "Img")):
        name = mat_string(rec["imname"], path, f"Img[{n}].imname")
        if name in images:
            raise DataError(f"{path}: Img[{n}]: image {name} listed twice")
        boxes = []
        box_recs = struct_records(rec["box"], ("idlocate",), path, f"Img[{n}].box")
        for k, box_rec in enumerate(box_recs):
            what = f"Img[{n}].box[{k}]"
            box = mat_box(box_rec["idlocate"], path, f"{what}.idlocate")
            if box is None:
                raise DataError(f"{path}: {what}: empty idlocate")
            boxes.append(box)
        scene = _SceneImage(boxes=boxes, pids=[UNKNOWN_PERSON] * len(boxes))
        for k, box in enumerate(boxes):
            scene.index.setdefault(box, k)  # a duplicated box: the first one takes the id
        images[name] = scene
    return images


def read_pool(path: Path, images: dict[str, _SceneImage], images_path: Path) -> set[str]:
    """``pool.mat``: the names of the test images."""
    _, pool = load_mat_variable(path, "pool", squeeze=True)
    names = [mat_string(v, path, f"pool[{i}]") for i, v in enumerate(records(pool))]
    if not names:
        raise DataError(f"{path}: pool is empty")
    unknown = sorted(set(names) - set(images))
    if unknown:
        raise DataError(f"{path}: {len(unknown)} image(s) not in {images_path}: {unknown[:5]}")
    return set(names)


class _IdentityAttacher:
    """Gives person ids to ``Images.mat`` boxes by exact box equality."""

    def __init__(self, images: dict[str, _SceneImage], images_path: Path) -> None:
        self.images = images
        self.images_path = images_path

    def attach(self, image: str, box: Box, pid: int, path: Path, what: str) -> int:
        """Label the box of ``image`` equal to ``box`` with ``pid``; returns the box's index."""
        scene = self.images.get(image)
        if scene is None:
            raise DataError(f"{path}: {what}: image {image} is not in {self.images_path}")
        k = scene.index.get(box)
        if k is None:
            raise DataError(
                f"{path}: {what}: box {list(box)} equals no box of {image} in {self.images_path}"
            )
        if _is_zero_size(box):
            raise DataError(f"{path}: {what}: labelled box {list(box)} has zero size")
        if scene.pids[k] not in (UNKNOWN_PERSON, pid):
            raise DataError(
                f"{path}: {what}: box {list(box)} of {image} is labelled both "
                f"p{scene.pids[k]} and p{pid}"
            )
        scene.pids[k] = pid
        return k


def read_train(path: Path, attacher: _IdentityAttacher, test_images: set[str]) -> int:
    """``Train.mat``: label every training identity's boxes; returns the identity count."""
    _, train = load_mat_variable(path, "Train", squeeze=True)
    seen: set[int] = set()
    for n, rec in enumerate(struct_records(train, ("idname", "scene"), path, "Train")):
        what = f"Train[{n}]"
        name = mat_string(rec["idname"], path, f"{what}.idname")
        pid = person_id(name, path, f"{what}.idname")
        if pid in seen:
            raise DataError(f"{path}: {what}: identity {name} listed twice")
        seen.add(pid)
        scenes = struct_records(rec["scene"], ("imname", "idlocate"), path, f"{what}.scene")
        for k, scene in enumerate(scenes):
            where = f"{what}.scene[{k}]"
            image = mat_string(scene["imname"], path, f"{where}.imname")
            box = mat_box(scene["idlocate"], path, f"{where}.idlocate")
            if box is None:
                raise DataError(f"{path}: {where}: empty idlocate")
            if image in test_images:
                raise DataError(f"{path}: {where}: {image} is a test image (in pool.mat)")
            attacher.attach(image, box, pid, path, where)
    return len(seen)


def read_test_protocol(
    path: Path, variable: str, attacher: _IdentityAttacher, test_ids: dict[str, int]
) -> tuple[list[_Query], list[np.ndarray]]:
    """``TestG{N}.mat``: label queries and gallery targets.

    Args:
        test_ids: test image name -> its id in ``test.json``.

    Returns:
        The queries, and per query its gallery as image ids (int32, file order).
    """
    _, table = load_mat_variable(path, variable, squeeze=True)
    queries: list[_Query] = []
    galleries: list[np.ndarray] = []
    for n, rec in enumerate(struct_records(table, ("Query", "Gallery"), path, variable)):
        what = f"{variable}[{n}]"
        query_recs = struct_records(rec["Query"], _QUERY_FIELDS, path, f"{what}.Query")
        if len(query_recs) != 1:
            raise DataError(f"{path}: {what}.Query: expected one record, found {len(query_recs)}")
        q, where = query_recs[0], f"{what}.Query"
        image = mat_string(q["imname"], path, f"{where}.imname")
        box = mat_box(q["idlocate"], path, f"{where}.idlocate")
        idname = mat_string(q["idname"], path, f"{where}.idname")
        pid = person_id(idname, path, f"{where}.idname")
        if box is None:
            raise DataError(f"{path}: {where}: empty idlocate")
        _test_id(image, test_ids, path, where)
        attacher.attach(image, box, pid, path, where)
        queries.append(_Query(image=image, box=box, pid=pid))

        gallery: list[int] = []
        gallery_recs = struct_records(
            rec["Gallery"], ("imname", "idlocate"), path, f"{what}.Gallery"
        )
        for k, g in enumerate(gallery_recs):
            where = f"{what}.Gallery[{k}]"
            g_image = mat_string(g["imname"], path, f"{where}.imname")
            gallery.append(_test_id(g_image, test_ids, path, where))
            g_box = mat_box(g["idlocate"], path, f"{where}.idlocate")
            if g_box is not None:  # empty idlocate: the query person is absent here
                attacher.attach(g_image, g_box, pid, path, where)
        galleries.append(np.asarray(gallery, dtype=np.int32))
    if not queries:
        raise DataError(f"{path}: {variable} holds no queries")
    return queries, galleries


def _test_id(image: str, test_ids: dict[str, int], path: Path, what: str) -> int:
    image_id = test_ids.get(image)
    if image_id is None:
        raise DataError(f"{path}: {what}: {image} is not a test image (not in pool.mat)")
    return image_id


def _add_split(
    builder: CocoBuilder,
    names: list[str],
    images: dict[str, _SceneImage],
    image_dir: Path,
    image_prefix: str,
    verify_images: bool,
) -> dict[str, tuple[int, list[list[float] | None]]]:
    """Add images (sorted by name) and their non-zero boxes, clipped to the image.

    Returns, per image, its id and each Images.mat box's clipped bbox (None: dropped).
    """
    added = {}
    for name in names:
        image_path = image_dir / name
        width, height = image_size(image_path, verify=verify_images)
        image_id = builder.add_image(f"{image_prefix}/{name}", width, height, UNKNOWN_CAMERA)
        scene = images[name]
        clipped: list[list[float] | None] = []
        for k, (box, pid) in enumerate(zip(scene.boxes, scene.pids, strict=True)):
            if _is_zero_size(box):
                clipped.append(None)
                continue
            bbox = clip_box(box, width, height, image_path, f"Images.mat box {k} of {name}")
            builder.add_person(image_id, bbox, pid)
            clipped.append(bbox)
        added[name] = (image_id, clipped)
    return added


def convert(raw_dir: Path, out_dir: Path, path_root: Path, *, verify_images: bool = False) -> None:
    """Convert an extracted (or rendered) CUHK-SYSU folder.

    Args:
        raw_dir: the extracted archive; the dataset folder (holding ``annotation/``
            and ``Image/SSM/``) may be it or lie up to two levels below it.
        out_dir: receives ``train.json``, ``test.json`` and ``protocol.json``; the
            caller makes it atomic.
        path_root: image paths in the outputs are relative to it (the repo root).
        verify_images: decode every image, not only its header.

    Raises:
        DataError: a file is missing or malformed; the message names it.
    """
    root = find_dataset_root(Path(raw_dir), ["annotation/Images.mat"], "CUHK-SYSU")
    images_path = root / "annotation" / "Images.mat"
    images = read_images(images_path)
    test_images = read_pool(root / "annotation" / "pool.mat", images, images_path)
    attacher = _IdentityAttacher(images, images_path)
    read_train(root / PROTOCOL_DIR / "Train.mat", attacher, test_images)

    # Ids follow the order the images are written in: train then test, each by name.
    train_names = sorted(set(images) - test_images)
    test_names = sorted(test_images)
    first_test_id = len(train_names) + 1
    test_ids = {name: first_test_id + i for i, name in enumerate(test_names)}

    sizes = gallery_sizes_present(root / PROTOCOL_DIR)
    queries: list[_Query] = []
    galleries_by_size: dict[int, list[np.ndarray]] = {}
    first_path = root / PROTOCOL_DIR / f"TestG{sizes[0]}.mat"
    for size in sizes:
        path = root / PROTOCOL_DIR / f"TestG{size}.mat"
        size_queries, galleries = read_test_protocol(path, f"TestG{size}", attacher, test_ids)
        if queries and size_queries != queries:
            raise DataError(f"{path}: its queries differ from those of {first_path}")
        queries = size_queries
        galleries_by_size[size] = galleries

    image_prefix = relative_posix(root / "Image" / "SSM", Path(path_root))
    image_dir = root / "Image" / "SSM"
    train = CocoBuilder()
    _add_split(train, train_names, images, image_dir, image_prefix, verify_images)
    test = CocoBuilder(first_test_id, train.next_annotation_id)
    added = _add_split(test, test_names, images, image_dir, image_prefix, verify_images)

    protocol_queries = []
    for q_index, query in enumerate(queries):
        image_id, clipped = added[query.image]
        protocol_queries.append(
            {
                "image": f"{image_prefix}/{query.image}",
                "image_id": image_id,
                "bbox": clipped[images[query.image].index[query.box]],
                "pid": query.pid,
                "camera": UNKNOWN_CAMERA,
                "gallery": {str(size): galleries_by_size[size][q_index].tolist() for size in sizes},
            }
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_compact_json(out_dir / "train.json", train.to_dict())
    write_compact_json(out_dir / "test.json", test.to_dict())
    write_compact_json(
        out_dir / "protocol.json",
        {"layout": "cuhk_sysu", "gallery_sizes": sizes, "queries": protocol_queries},
    )
