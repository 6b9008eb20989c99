"""Evaluate a DICL model on a processed person-search test set.

Protocols (docs/methods.md, "Evaluation protocols"; implemented in
``pipeline.evaluation``): detections scoring >= 0.5 enter both the detection
metrics (greedy matching at IoU 0.5; recall and AP x recall) and the search;
CUHK-SYSU is searched in every gallery size present in ``protocol.json`` and in the
full gallery (``gfull_`` keys; the headline metrics use ``gallery_size``, 100 by default), PRW in the whole
gallery (all test frames but the query's own, similarity weighted by the
detection score as DICL's PRW script does) and its cross-camera variant.

Query embeddings follow the official test scripts (jiabeiwangTJU/DICL): on
CUHK-SYSU the annotated query box is embedded as a given proposal
(tools/test_personsearch.py:70-75, ``LoadProposals``; scene and crop branches
averaged, as gallery detections are); on PRW the query is the query image's own
detection (any score) overlapping the annotated box most, its embedding taken as
is (tools/test_results_prw.py:149-166; an image without detections gives a zero
vector, which matches nothing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from detectron2.config import CfgNode

from pipeline.data.detectron2 import load_person_search_dicts
from pipeline.evaluation import (
    SearchQuery,
    cuhk_sysu_queries,
    evaluate_detection,
    evaluate_search,
    prw_queries,
    scene_annotations,
)
from pipeline.evaluation.detection import Detections, box_iou, xywh_to_xyxy
from pipeline.models.dicl.data import build_test_mapper
from pipeline.models.dicl.inference import annotation_boxes_xyxy, detect, embed_boxes

CMC_RANKS = tuple(range(1, 21))
HEADLINE_TOPK = (1, 5, 10)


@dataclass
class SearchEvaluation:
    """Flat metrics plus what the plots need.

    Attributes:
        metrics: ``mAP``, ``top1``, ``top5``, ``top10``, ``det_ap``, ``det_recall`` and
            per-gallery keys (``g50_mAP``, ..., ``gfull_mAP`` on CUHK-SYSU; ``cross_cam_mAP``, ... on PRW).
        cmc: top-k hit rate for k = 1..20 in the headline gallery.
        det_y_true, det_y_score: kept detections' match flags and scores (PR curve).
        ranked: per query, its best detections (image_id, box, score, correct).
        query_records: per query, ``{"file_name", "box"}`` (for ranked-list pictures).
        image_files: image_id -> file name of every test image.
    """

    metrics: dict[str, float]
    cmc: np.ndarray
    det_y_true: np.ndarray
    det_y_score: np.ndarray
    ranked: list[list[dict[str, Any]]] = field(default_factory=list)
    query_records: list[dict[str, Any]] = field(default_factory=list)
    image_files: dict[Any, str] = field(default_factory=dict)


def _search_metrics(result: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out = {f"{prefix}mAP": result["mAP"]}
    for k in HEADLINE_TOPK:
        out[f"{prefix}top{k}"] = result[f"top{k}"]
    return out


def _box_features(
    model: torch.nn.Module, cfg: CfgNode, records: list[dict], mapper, desc: str
) -> np.ndarray:
    """(sum of boxes, D) features of each record's ``query_boxes``, in record order."""
    return np.concatenate(
        embed_boxes(model, records, mapper, batch_images=cfg.TEST.DICL_BATCH_IMAGES, desc=desc)
    )


@torch.no_grad()
def evaluate_person_search(
    model: torch.nn.Module,
    cfg: CfgNode,
    *,
    processed_dir: str | Path,
    path_root: str | Path,
    layout: str,
    gallery_size: int = 100,
    keep_top: int = 10,
) -> SearchEvaluation:
    """Detect in every test image, embed every query, and score both.

    Args:
        model: a DICL model (any mode; evaluated in eval mode).
        cfg: its config (test scale, image format, search score threshold).
        processed_dir: holds ``test.json`` and ``protocol.json``.
        path_root: folder the image paths are relative to.
        layout: ``cuhk_sysu`` or ``prw``.
        gallery_size: CUHK-SYSU headline gallery (must be in the protocol).
        keep_top: ranked detections kept per query for pictures.

    Raises:
        ValueError: an unknown layout or a gallery size the protocol lacks.
    """
    processed_dir = Path(processed_dir)
    test_dicts = load_person_search_dicts(processed_dir / "test.json", path_root)
    with (processed_dir / "test.json").open(encoding="utf-8") as fh:
        scenes = scene_annotations(json.load(fh))
    with (processed_dir / "protocol.json").open(encoding="utf-8") as fh:
        protocol = json.load(fh)
    thresh = cfg.TEST.DICL_SEARCH_SCORE_THRESH
    mapper = build_test_mapper(cfg)

    detections = detect(model, test_dicts, mapper, desc="gallery")
    by_id = {d["image_id"]: d for d in test_dicts}
    query_records = []
    for n, q in enumerate(protocol["queries"]):
        if q["image_id"] not in by_id:
            raise ValueError(
                f"protocol.json: queries[{n}] image {q['image_id']!r} not in test.json"
            )
        query_records.append({**by_id[q["image_id"]], "query_boxes": xywh_to_xyxy([q["bbox"]])})
    if layout == "prw":
        query_feats = best_overlap_query_features(query_records, detections)
    else:
        query_feats = _box_features(model, cfg, query_records, mapper, desc="queries")

    ground_truth = {d["image_id"]: annotation_boxes_xyxy(d) for d in test_dicts}
    det = evaluate_detection(ground_truth, detections, score_thresh=thresh, return_scores=True)
    metrics: dict[str, float] = {"det_ap": det["ap"], "det_recall": det["recall"]}

    if layout == "cuhk_sysu":
        sizes = [int(s) for s in protocol.get("gallery_sizes", [])]
        if gallery_size not in sizes:
            raise ValueError(
                f"dicl.test.gallery_size={gallery_size}: protocol.json has gallery sizes {sizes}"
            )
        headline = None
        # The official sizes in protocol.json, then the whole test set ("full": the 50-image
        # gallery plus every other test scene, tools/person_search/evaluate.py:95-96, 161-178;
        # built on the 50-image lists, so only where the protocol has them).
        for size in [*sizes, "full"] if 50 in sizes else sizes:
            result = evaluate_search(
                query_feats,
                cuhk_sysu_queries(protocol, scenes, size),
                detections,
                score_thresh=thresh,
                topk=CMC_RANKS,
                keep_top=keep_top if size == gallery_size else 0,
            )
            metrics.update(_search_metrics(result, f"g{size}_"))
            if size == gallery_size:
                headline = result
    elif layout == "prw":
        cross = evaluate_search(
            query_feats,
            prw_queries(protocol["queries"], scenes, cross_camera=True),
            detections,
            score_thresh=thresh,
            topk=CMC_RANKS,
            weight_by_score=True,
        )
        metrics.update(_search_metrics(cross, "cross_cam_"))
        headline = evaluate_search(
            query_feats,
            prw_queries(protocol["queries"], scenes),
            detections,
            score_thresh=thresh,
            topk=CMC_RANKS,
            weight_by_score=True,
            keep_top=keep_top,
        )
    else:
        raise ValueError(f"layout {layout!r}: DICL evaluates cuhk_sysu or prw")
    metrics.update(_search_metrics(headline))
    valid = ~np.isnan(headline["ap"])
    cmc = headline["hits"][valid].mean(axis=0)
    return SearchEvaluation(
        metrics=metrics,
        cmc=cmc,
        det_y_true=det["y_true"],
        det_y_score=det["y_score"],
        ranked=headline.get("ranked", []),
        query_records=[
            {"file_name": r["file_name"], "box": r["query_boxes"][0].tolist()}
            for r in query_records
        ],
        image_files={d["image_id"]: d["file_name"] for d in test_dicts},
    )


def best_overlap_query_features(
    query_records: list[dict], detections: dict[Any, Detections]
) -> np.ndarray:
    """Per query, the features of its image's detection overlapping its box most.

    As the official PRW script (tools/test_results_prw.py:149-166): every detection
    of the query image counts, whatever its score; ties go to the first; an image
    with no detection gives a zero vector. IoU is ``pipeline.evaluation``'s (the
    official ``get_max_iou`` adds 1 pixel to each side, which moves only near-ties).

    Returns:
        (Q, D) float32, one row per query record (its ``query_boxes``' single box).
    """
    dims = {d.features.shape[1] for d in detections.values() if d.features is not None}
    if len(dims) != 1:
        raise ValueError(f"detections: expected one embedding size, got {sorted(dims)}")
    (dim,) = dims
    rows = np.zeros((len(query_records), dim), dtype=np.float32)
    for n, record in enumerate(query_records):
        found = detections[record["image_id"]]
        if len(found.boxes) == 0:
            continue
        overlap = box_iou(found.boxes, record["query_boxes"][:1])[:, 0]
        rows[n] = found.features[int(np.argmax(overlap))]
    return rows


def validation_queries(records: list[dict], ids: np.ndarray) -> tuple[list[dict], list]:
    """Queries of a validation split: every appearance of a held-out identity.

    Each query's gallery is every other held-out scene (in record order); its
    targets are the identity's first box in each gallery scene holding it.

    Returns:
        ``(query_records, queries)``: per query, its record with ``query_boxes``
        (x1 y1 x2 y2, one box) and its :class:`SearchQuery`.
    """
    wanted = {int(i) for i in ids}
    boxes = {r["image_id"]: annotation_boxes_xyxy(r) for r in records}
    pids = {r["image_id"]: [int(a["person_id"]) for a in r["annotations"]] for r in records}
    image_ids = [r["image_id"] for r in records]
    query_records, queries = [], []
    for record in records:
        for k, pid in enumerate(pids[record["image_id"]]):
            if pid not in wanted:
                continue
            gallery = [i for i in image_ids if i != record["image_id"]]
            targets = {i: boxes[i][pids[i].index(pid)] for i in gallery if pid in pids[i]}
            query_records.append({**record, "query_boxes": boxes[record["image_id"]][k : k + 1]})
            queries.append(
                SearchQuery(image_id=record["image_id"], gallery=gallery, targets=targets)
            )
    return query_records, queries


@torch.no_grad()
def evaluate_validation(
    model: torch.nn.Module, cfg: CfgNode, records: list[dict], ids: np.ndarray
) -> dict[str, float]:
    """Detection and search metrics on the held-out training scenes (``val_`` keys).

    The same protocol as the test set (score threshold, IoU rules, AP x recall),
    searched in the gallery of all other held-out scenes.
    """
    thresh = cfg.TEST.DICL_SEARCH_SCORE_THRESH
    mapper = build_test_mapper(cfg)
    detections = detect(model, records, mapper, desc="validation")
    query_records, queries = validation_queries(records, ids)
    query_feats = _box_features(model, cfg, query_records, mapper, desc="val queries")
    ground_truth = {r["image_id"]: annotation_boxes_xyxy(r) for r in records}
    det = evaluate_detection(ground_truth, detections, score_thresh=thresh)
    search = evaluate_search(query_feats, queries, detections, score_thresh=thresh)
    return {
        "val_det_ap": float(det["ap"]),
        "val_det_recall": float(det["recall"]),
        "val_mAP": float(search["mAP"]),
        "val_top1": float(search["top1"]),
    }
