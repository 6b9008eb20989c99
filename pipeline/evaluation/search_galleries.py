"""Person-search galleries of CUHK-SYSU and PRW, built from the converted files.

Inputs are the parsed ``test.json`` (COCO style: images with ``camera``,
annotations with ``bbox`` [x, y, w, h] and ``person_id``) and, for CUHK-SYSU,
``protocol.json`` (each query's image, pid and galleries by size). Outputs are
:class:`pipeline.evaluation.person_search.SearchQuery` lists for
:func:`pipeline.evaluation.person_search.evaluate_search`:

- CUHK-SYSU (Xiao et al., CVPR 2017): the protocol's gallery of the chosen size
  (50..4000); "full" is the 50-image gallery plus every other test image, those
  taken as target-free, as the OIM/CGPS evaluator does;
- PRW (Zheng et al., CVPR 2017): every test frame but the query's own, or only
  other cameras' frames (cross-camera), as SeqNet's / DICL's ``eval_search_prw``.

Targets are the boxes carrying the query's ``person_id`` in the gallery images
(the first one if a person is annotated twice in a frame, as the reference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.evaluation.detection import ImageId, xywh_to_xyxy
from pipeline.evaluation.person_search import SearchQuery


@dataclass(frozen=True)
class SceneAnnotations:
    """Ground truth of one test image: person boxes x1,y1,x2,y2, their ids, camera."""

    boxes: np.ndarray
    pids: np.ndarray
    camera: int = -1


def scene_annotations(test: Mapping[str, Any]) -> dict[ImageId, SceneAnnotations]:
    """Per image of a COCO-style ``test.json`` (parsed): boxes, ``person_id`` s, camera.

    Images keep the file's order; boxes convert from [x, y, w, h].
    """
    images = test.get("images")
    annotations = test.get("annotations")
    if not isinstance(images, list) or not isinstance(annotations, list):
        raise ValueError("test.json: expected 'images' and 'annotations' lists")
    boxes: dict[ImageId, list[list[float]]] = {im["id"]: [] for im in images}
    pids: dict[ImageId, list[int]] = {im["id"]: [] for im in images}
    for n, ann in enumerate(annotations):
        image_id = ann.get("image_id")
        if image_id not in boxes:
            raise ValueError(f"test.json: annotations[{n}] names unknown image {image_id!r}")
        boxes[image_id].append(ann["bbox"])
        pids[image_id].append(int(ann.get("person_id", -1)))
    return {
        im["id"]: SceneAnnotations(
            boxes=xywh_to_xyxy(boxes[im["id"]]),
            pids=np.asarray(pids[im["id"]], dtype=np.int64),
            camera=int(im.get("camera", -1)),
        )
        for im in images
    }


def _target_boxes(
    scenes: Mapping[ImageId, SceneAnnotations], gallery: Sequence[ImageId], pid: int
) -> dict[ImageId, np.ndarray]:
    """The person's first box in each gallery image that holds the person."""
    out = {}
    for image_id in gallery:
        scene = scenes[image_id]
        where = np.flatnonzero(scene.pids == pid)
        if where.size:
            out[image_id] = scene.boxes[where[0]]
    return out


def cuhk_sysu_queries(
    protocol: Mapping[str, Any],
    scenes: Mapping[ImageId, SceneAnnotations],
    gallery_size: int | str = 100,
) -> list[SearchQuery]:
    """CUHK-SYSU queries from a parsed ``protocol.json`` and :func:`scene_annotations`.

    Args:
        protocol: {"queries": [{"image_id", "pid", "gallery": {"50": [...], ...}}]}.
        scenes: the test images' annotations (targets are the boxes carrying the
            query's ``person_id`` in its gallery images).
        gallery_size: 50, 100, 500, 1000, 2000, 4000, or "full" (the 50-image
            gallery plus every other test image, those taken as target-free).

    Returns:
        One :class:`SearchQuery` per protocol query, in order.
    """
    full = str(gallery_size) in ("full", "-1")
    key = "50" if full else str(gallery_size)
    all_ids = np.asarray(list(scenes.keys()))
    out = []
    for n, q in enumerate(protocol["queries"]):
        galleries = q.get("gallery", {})
        if key not in galleries:
            raise ValueError(
                f"protocol.json: queries[{n}] has no gallery of size {key} "
                f"(sizes: {sorted(galleries)})"
            )
        listed = list(galleries[key])
        missing = [i for i in listed if i not in scenes]
        if missing:
            raise ValueError(f"protocol.json: queries[{n}] gallery image {missing[0]!r} unknown")
        targets = _target_boxes(scenes, listed, int(q["pid"]))
        gallery: Any = listed
        if full:
            rest = all_ids[~np.isin(all_ids, listed + [q["image_id"]])]
            gallery = np.concatenate([np.asarray(listed, dtype=all_ids.dtype), rest])
        out.append(SearchQuery(image_id=q["image_id"], gallery=gallery, targets=targets))
    return out


def prw_queries(
    queries: Sequence[Mapping[str, Any]],
    scenes: Mapping[ImageId, SceneAnnotations],
    *,
    cross_camera: bool = False,
) -> list[SearchQuery]:
    """PRW queries: the gallery is every test frame but the query's own.

    Args:
        queries: [{"image_id", "pid", "camera"}] (e.g. ``protocol.json`` "queries").
        scenes: annotations of every test frame, from :func:`scene_annotations`.
        cross_camera: keep only frames of other cameras than the query's.

    Returns:
        One :class:`SearchQuery` per query; targets are the frames where the
        person appears (first box when annotated twice, as the reference).
    """
    ids = np.asarray(list(scenes.keys()))
    cams = np.asarray([s.camera for s in scenes.values()])
    holders: dict[int, list[ImageId]] = {}
    for image_id, scene in scenes.items():
        for pid in dict.fromkeys(scene.pids.tolist()):
            holders.setdefault(pid, []).append(image_id)
    out = []
    for n, q in enumerate(queries):
        if q["image_id"] not in scenes:
            raise ValueError(f"queries[{n}]: image {q['image_id']!r} is not a test frame")
        camera = int(q["camera"])
        keep = ids != q["image_id"]
        if cross_camera:
            keep &= cams != camera
        pid = int(q["pid"])
        seen_in = [
            i
            for i in holders.get(pid, [])
            if i != q["image_id"] and not (cross_camera and scenes[i].camera == camera)
        ]
        targets = _target_boxes(scenes, seen_in, pid)
        out.append(SearchQuery(image_id=q["image_id"], gallery=ids[keep], targets=targets))
    return out
