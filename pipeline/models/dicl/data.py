"""Data for DICL training and inference: memory slots, multi-scale resizing, epoch batches.

Weak supervision: training reads boxes only. Each training box gets a memory
slot (images in file order, boxes in file order) and the index of its image (the
context rule's group); identities are kept apart (``held_back_ids``) and used for
nothing but the pseudo-label quality statistics.

Resizing follows mmdet's ``Resize(keep_ratio=True)`` of the official pipeline: a
``(long, short)`` pair is drawn per image and the image is scaled by
``min(long / max(h, w), short / min(h, w))``; then a horizontal flip with
probability 0.5 (training). Batches are drawn per epoch from a permutation seeded
by ``(seed, epoch)`` and split into contiguous per-process shards, so an epoch's
data order depends on nothing but its number: a resumed run sees the same batches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from pipeline.data.detectron2 import load_person_search_dicts


@dataclass(frozen=True)
class TrainingSet:
    """Training images as detectron2 dicts, without identities.

    Attributes:
        dicts: one dict per image; each annotation has ``bbox``, ``bbox_mode``,
            ``category_id`` 0 and ``memory_index``.
        slot_image: (M,) index (into ``dicts``) of the image holding each memory slot.
        held_back_ids: (M,) person id of each slot (-1 unknown); statistics only.
    """

    dicts: list[dict]
    slot_image: np.ndarray
    held_back_ids: np.ndarray

    @property
    def num_slots(self) -> int:
        return int(self.slot_image.size)


def load_training_set(json_file: str | Path, path_root: str | Path) -> TrainingSet:
    """Read ``train.json``: boxes with memory slots; person ids set aside.

    Raises:
        DataError: the file is missing or malformed.
        ValueError: the file has no box at all.
    """
    return training_set_from_records(load_person_search_dicts(json_file, path_root), json_file)


@dataclass(frozen=True)
class ValidationSplit:
    """Training scenes split into the ones trained on and the held-out validation ones.

    Attributes:
        train: records (detectron2 dicts with ``person_id`` s) to train on.
        validation: held-out records: every training scene holding a drawn identity.
        ids: the drawn identities (sorted): the ones searched in validation.
    """

    train: list[dict]
    validation: list[dict]
    ids: np.ndarray


def split_validation(records: Sequence[dict], num_ids: int, seed: int) -> ValidationSplit:
    """Hold out ``num_ids`` labelled identities (drawn from ``seed``) with all their scenes.

    An identity drawn is searchable in validation: each of its appearances is a
    query, the other held-out scenes the gallery; none of its scenes is trained on.
    ``num_ids`` 0 keeps every scene for training.

    Raises:
        ValueError: more identities asked for than labelled, or no scene left to train on.
    """
    if num_ids == 0:
        return ValidationSplit(list(records), [], np.zeros(0, dtype=np.int64))
    labelled = np.unique(
        [a["person_id"] for r in records for a in r["annotations"] if a["person_id"] >= 0]
    ).astype(np.int64)
    if num_ids > labelled.size:
        raise ValueError(
            f"dicl.validation.ids: {num_ids} asked for, the training scenes hold "
            f"{labelled.size} labelled identities"
        )
    # A stream of its own (seed, "validation") so the split does not move other draws.
    rng = np.random.default_rng([seed, 0x76A1])
    ids = np.sort(rng.choice(labelled, size=num_ids, replace=False))
    held = {int(i) for i in ids}
    train, validation = [], []
    for record in records:
        holds = any(a["person_id"] in held for a in record["annotations"])
        (validation if holds else train).append(record)
    if not train:
        raise ValueError(
            f"dicl.validation.ids: holding out {num_ids} identities leaves no training scene"
        )
    return ValidationSplit(train, validation, ids)


def training_set_from_records(records: Sequence[dict], source: str | Path) -> TrainingSet:
    """Memory slots of ``records`` (detectron2 dicts with ``person_id`` s) in order.

    Raises:
        ValueError: no box at all (``source`` names where the records came from).
    """
    dicts = []
    slot_image: list[int] = []
    held_back: list[int] = []
    for image_index, record in enumerate(records):
        annotations = []
        for ann in record["annotations"]:
            held_back.append(ann["person_id"])
            annotations.append(
                {
                    "bbox": ann["bbox"],
                    "bbox_mode": ann["bbox_mode"],
                    "category_id": 0,
                    "iscrowd": 0,
                    "memory_index": len(slot_image),
                }
            )
            slot_image.append(image_index)
        dicts.append(
            {**{k: v for k, v in record.items() if k != "annotations"}, "annotations": annotations}
        )
    if not slot_image:
        raise ValueError(f"{source}: no person boxes to train on")
    return TrainingSet(
        dicts=dicts,
        slot_image=np.asarray(slot_image, dtype=np.int64),
        held_back_ids=np.asarray(held_back, dtype=np.int64),
    )


class ResizeLongShort(T.Augmentation):
    """mmdet ``Resize(img_scale=[(long, short), ...], keep_ratio=True)``, one pair per image."""

    def __init__(self, scales: Sequence[Sequence[int]]) -> None:
        super().__init__()
        self.scales = [(int(a), int(b)) for a, b in scales]
        if not self.scales:
            raise ValueError("ResizeLongShort needs at least one (long, short) pair")

    def get_transform(self, image: np.ndarray) -> T.Transform:
        h, w = image.shape[:2]
        pick = np.random.randint(len(self.scales)) if len(self.scales) > 1 else 0
        long_side, short_side = self.scales[pick]
        scale = min(long_side / max(h, w), short_side / min(h, w))
        new_h, new_w = int(h * scale + 0.5), int(w * scale + 0.5)
        if (new_h, new_w) == (h, w):
            # PIL would return a copy of the same pixels; skipping the round trip
            # through PIL saves ~3 ms an image (the synthetic scale is the native one).
            return T.NoOpTransform()
        return T.ResizeTransform(h, w, new_h, new_w)


class PersonSearchMapper:
    """detectron2 dataset dict -> model input.

    Args:
        scales: ``(long, short)`` pairs (one drawn per image).
        flip: random horizontal flip (training).
        image_format: detectron2 image format (``BGR``).
        with_targets: add ``instances`` (``gt_boxes``, ``gt_classes``, ``gt_memory_index``).
    """

    def __init__(
        self,
        scales: Sequence[Sequence[int]],
        *,
        flip: bool,
        image_format: str = "BGR",
        with_targets: bool,
    ) -> None:
        augs: list[T.Augmentation] = [ResizeLongShort(scales)]
        if flip:
            augs.append(T.RandomFlip(prob=0.5, horizontal=True, vertical=False))
        self.augmentations = T.AugmentationList(augs)
        self.image_format = image_format
        self.with_targets = with_targets

    def __call__(self, record: dict) -> dict:
        image = utils.read_image(record["file_name"], format=self.image_format)
        utils.check_image_size(record, image)
        aug_input = T.AugInput(image)
        transforms = self.augmentations(aug_input)
        image = aug_input.image
        out = {
            "image": torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "height": record["height"],
            "width": record["width"],
            "image_id": record["image_id"],
        }
        if "query_boxes" in record:  # boxes to embed, x1 y1 x2 y2 in the original frame
            boxes = np.asarray(record["query_boxes"], dtype=np.float64).reshape(-1, 4)
            out["boxes"] = torch.as_tensor(transforms.apply_box(boxes), dtype=torch.float32)
        if self.with_targets:
            # detectron2 transforms an annotation in place: work on copies.
            annos = [
                utils.transform_instance_annotations(dict(a), transforms, image.shape[:2])
                for a in record["annotations"]
            ]
            instances = utils.annotations_to_instances(annos, image.shape[:2])
            instances.gt_memory_index = torch.as_tensor(
                [a["memory_index"] for a in annos], dtype=torch.long
            )
            out["instances"] = utils.filter_empty_instances(instances)
        return out


def build_test_mapper(cfg) -> PersonSearchMapper:
    """Test-time input (evaluation, queries, memory initialisation): the single test
    scale, no flip, no targets."""
    return PersonSearchMapper(
        [cfg.INPUT.DICL_TEST_SCALE], flip=False, image_format=cfg.INPUT.FORMAT, with_targets=False
    )


def iters_per_epoch(num_images: int, ims_per_batch: int, world_size: int) -> int:
    """Iterations that show every image once (the last batches wrap around)."""
    return max(1, math.ceil(num_images / (ims_per_batch * world_size)))


def epoch_batches(
    num_images: int,
    epoch: int,
    *,
    seed: int,
    ims_per_batch: int,
    rank: int = 0,
    world_size: int = 1,
) -> list[list[int]]:
    """This process's batches of image indices for one epoch.

    A permutation seeded by ``(seed, epoch)`` is padded by wrapping to
    ``iters * ims_per_batch * world_size`` entries and cut into contiguous
    per-process shards.
    """
    iters = iters_per_epoch(num_images, ims_per_batch, world_size)
    perm = np.random.default_rng([seed, epoch]).permutation(num_images)
    total = iters * ims_per_batch * world_size
    padded = np.resize(perm, total)  # np.resize repeats the array to fill
    shard = padded[rank * iters * ims_per_batch : (rank + 1) * iters * ims_per_batch]
    return [shard[i : i + ims_per_batch].tolist() for i in range(0, shard.size, ims_per_batch)]
