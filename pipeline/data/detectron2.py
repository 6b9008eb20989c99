"""Registering a processed person-search dataset with detectron2.

Reads the project's COCO-style ``train.json`` / ``test.json`` (written by the
CUHK-SYSU and PRW converters, docs/design.md, "Person search") into detectron2's standard
dataset dicts, keeping what person search needs beyond detection: each box's
``person_id`` (-1 = identity unknown, the weak-supervision setting of DICL) and
each image's ``camera``. Registered names are ``<dataset>_train`` and
``<dataset>_test``; the test metadata points at ``protocol.json``.

detectron2 is imported inside the functions, so the converters and their tests
do not need it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipeline.data.errors import DataError

SPLITS = ("train", "test")
PERSON_CATEGORY_ID = 1  # the one COCO category the converters write
_IMAGE_KEYS = ("id", "file_name", "width", "height", "camera")
_ANNOTATION_KEYS = ("image_id", "bbox", "category_id", "person_id")


def load_person_search_dicts(json_file: str | Path, path_root: str | Path = ".") -> list[dict]:
    """Read one processed COCO-style file into detectron2 dataset dicts.

    Args:
        json_file: ``data/processed/<dataset>/{train,test}.json``.
        path_root: the folder the file names are relative to (the repo root).

    Returns:
        One dict per image, in file order: ``file_name`` (joined to ``path_root``),
        ``height``, ``width``, ``image_id``, ``camera`` and ``annotations``, each
        with ``bbox`` [x, y, w, h], ``bbox_mode`` XYWH_ABS, ``category_id`` 0,
        ``person_id`` and ``iscrowd``.

    Raises:
        DataError: the file is missing, not JSON, or lacks a required key.
    """
    from detectron2.structures import BoxMode

    json_file = Path(json_file)
    try:
        with json_file.open("r", encoding="utf-8") as fh:
            coco = json.load(fh)
    except FileNotFoundError:
        raise DataError(f"{json_file}: person-search annotation file not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{json_file}: not valid JSON ({exc})") from None

    dicts: dict[int, dict[str, Any]] = {}
    for n, image in enumerate(_entries(coco, "images", json_file)):
        _require(image, _IMAGE_KEYS, json_file, f"images[{n}]")
        if image["id"] in dicts:
            raise DataError(f"{json_file}: images[{n}]: image id {image['id']} used twice")
        dicts[image["id"]] = {
            "file_name": os.path.join(str(path_root), image["file_name"]),
            "height": image["height"],
            "width": image["width"],
            "image_id": image["id"],
            "camera": image["camera"],
            "annotations": [],
        }
    for n, ann in enumerate(_entries(coco, "annotations", json_file)):
        _require(ann, _ANNOTATION_KEYS, json_file, f"annotations[{n}]")
        record = dicts.get(ann["image_id"])
        if record is None:
            raise DataError(f"{json_file}: annotations[{n}]: unknown image id {ann['image_id']}")
        if ann["category_id"] != PERSON_CATEGORY_ID:
            raise DataError(
                f"{json_file}: annotations[{n}]: category {ann['category_id']} is not "
                f"person ({PERSON_CATEGORY_ID})"
            )
        record["annotations"].append(
            {
                "bbox": [float(v) for v in ann["bbox"]],
                "bbox_mode": BoxMode.XYWH_ABS,
                "category_id": 0,  # detectron2 wants contiguous ids from 0
                "person_id": int(ann["person_id"]),
                "iscrowd": int(ann.get("iscrowd", 0)),
            }
        )
    return list(dicts.values())


def register_person_search(
    dataset: str, processed_dir: str | Path, path_root: str | Path = "."
) -> list[str]:
    """Register ``<dataset>_train`` and ``<dataset>_test`` with detectron2's catalogs.

    The files are read lazily, when detectron2 asks for the dataset. Registering a
    name again replaces it, so a notebook or a test can re-register.

    Args:
        dataset: the dataset's name in params.yaml (``cuhk_sysu``, ``prw``, ...).
        processed_dir: ``data/processed/<dataset>/``.
        path_root: the folder the image paths are relative to (the repo root).

    Returns:
        The registered names, train first.

    Raises:
        DataError: ``train.json``, ``test.json`` or ``protocol.json`` is missing.
    """
    from detectron2.data import DatasetCatalog, MetadataCatalog

    processed_dir = Path(processed_dir)
    for name in ("train.json", "test.json", "protocol.json"):
        if not (processed_dir / name).is_file():
            raise DataError(f"{processed_dir / name}: processed person-search file not found")

    names = []
    for split in SPLITS:
        name = f"{dataset}_{split}"
        json_file = processed_dir / f"{split}.json"
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        DatasetCatalog.register(
            name, lambda f=json_file: load_person_search_dicts(f, path_root=path_root)
        )
        metadata = {
            "thing_classes": ["person"],
            "thing_dataset_id_to_contiguous_id": {PERSON_CATEGORY_ID: 0},
            "json_file": str(json_file),
            "image_root": str(path_root),
            "evaluator_type": "person_search",
        }
        if split == "test":
            metadata["protocol_file"] = str(processed_dir / "protocol.json")
        MetadataCatalog.get(name).set(**metadata)
        names.append(name)
    return names


def _entries(coco: Any, key: str, json_file: Path) -> list:
    if not isinstance(coco, dict) or not isinstance(coco.get(key), list):
        raise DataError(f"{json_file}: expected a list under {key!r}")
    return coco[key]


def _require(entry: Any, keys: tuple[str, ...], json_file: Path, what: str) -> None:
    missing = [k for k in keys if not isinstance(entry, dict) or k not in entry]
    if missing:
        raise DataError(f"{json_file}: {what}: missing key(s) {missing}")
