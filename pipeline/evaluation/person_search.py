"""Person search ranking: mAP and top-k on CUHK-SYSU and PRW.

The protocol of the OIM evaluation (Xiao et al., "Joint Detection and
Identification Feature Learning for Person Search", CVPR 2017), PRW's of Zheng
et al. ("Person Re-identification in the Wild", CVPR 2017), as CGPS, SeqNet and
DICL compute them (``evaluate_search`` / ``eval_search_cuhk`` /
``eval_search_prw``), for one query at a time:

- gallery detections scoring below ``score_thresh`` (0.5) are dropped; each kept
  detection's score is the cosine similarity of its L2-normalised embedding
  with the query's (DICL's PRW script scales it by the detection score:
  ``weight_by_score``);
- in each gallery image holding the query person, the detections are visited
  from most to least similar and only the first with IoU >= min(0.5,
  w*h / ((w + 10)(h + 10))) against the person's box (w, h its size) is a hit:
  small people get a looser threshold, and a second detection is a false one;
- AP = scikit-learn's average precision of all the gallery's detections times
  the recall (hits / gallery images holding the person), so people never
  detected cost AP; 0 when nothing is found;
- top-k: a hit among the k most similar detections;
- a query whose person is in no gallery image (possible in PRW's cross-camera
  variant; the reference divides by zero) is left out and counted.

Galleries (CUHK-SYSU by protocol size, PRW all frames or cross-camera) are built
by :mod:`pipeline.evaluation.search_galleries`. Ties in similarity: the later
detection in gallery order ranks first, as the reference's ``argsort(...)[::-1]``
with a stable sort.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.evaluation.detection import Detections, ImageId, as_boxes

DEFAULT_TOPK = (1, 5, 10)


@dataclass(frozen=True)
class SearchQuery:
    """One query person and the gallery searched for it.

    Attributes:
        image_id: the query's own scene (never part of its gallery).
        gallery: gallery image ids, protocol order, no repeats.
        targets: gallery image id -> the query person's box x1,y1,x2,y2 there,
            for every gallery image holding the person.
    """

    image_id: ImageId
    gallery: Sequence[ImageId] | np.ndarray
    targets: Mapping[ImageId, Any]


@dataclass(frozen=True)
class _DetectionTable:
    """Kept detections of all images stacked; image k owns rows start[k]:start[k]+count[k]."""

    ids: np.ndarray  # sorted image ids
    start: np.ndarray
    count: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    features: np.ndarray


def _stack_detections(
    detections: Mapping[ImageId, Detections], score_thresh: float, dim: int
) -> _DetectionTable:
    ids = np.asarray(list(detections.keys()))
    order = np.argsort(ids, kind="stable")
    dets = [detections[ids[k].item()] for k in order]
    count = np.zeros(len(dets), dtype=np.int64)
    boxes, scores, feats = [], [], []
    for k, det in enumerate(dets):
        keep = det.scores >= score_thresh
        count[k] = np.count_nonzero(keep)
        if count[k] == 0:
            continue
        image_id = ids[order[k]].item()
        if det.features is None:
            raise ValueError(f"detections[{image_id!r}]: features are needed for search")
        if det.features.shape[1] != dim:
            raise ValueError(
                f"detections[{image_id!r}]: features of width {det.features.shape[1]}, "
                f"queries have {dim}"
            )
        boxes.append(det.boxes[keep])
        scores.append(det.scores[keep])
        feats.append(det.features[keep])
    return _DetectionTable(
        ids=ids[order],
        start=np.cumsum(count) - count,
        count=count,
        boxes=np.concatenate(boxes) if boxes else np.zeros((0, 4)),
        scores=np.concatenate(scores) if scores else np.zeros(0),
        features=np.concatenate(feats).astype(np.float32, copy=False)
        if feats
        else np.zeros((0, dim), dtype=np.float32),
    )


def _positions(table: _DetectionTable, image_ids: np.ndarray) -> np.ndarray:
    """Row of each image id in the table, -1 where it has no entry."""
    if table.ids.size == 0 or image_ids.size == 0:
        return np.full(image_ids.size, -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(table.ids, image_ids), table.ids.size - 1)
    return np.where(table.ids[pos] == image_ids, pos, -1)


def average_precision(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """scikit-learn's ``average_precision_score``: sum over score levels of
    (recall step) x precision, equal scores forming one level; 0 without positives.
    Vectorised here because the library call's checks cost ~1 ms per query.
    """
    if y_true.size == 0 or not y_true.any():
        return 0.0
    order = np.argsort(y_score, kind="stable")[::-1]
    scores, hits = y_score[order], y_true[order]
    level_end = np.append(np.flatnonzero(np.diff(scores)), scores.size - 1)
    tps = np.cumsum(hits)[level_end].astype(np.float64)
    precision = tps / (level_end + 1.0)
    recall_step = np.diff(tps, prepend=0.0) / tps[-1]
    return float(np.sum(recall_step * precision))


def evaluate_search(
    query_features: np.ndarray,
    queries: Sequence[SearchQuery],
    detections: Mapping[ImageId, Detections],
    *,
    score_thresh: float = 0.5,
    topk: Sequence[int] = DEFAULT_TOPK,
    weight_by_score: bool = False,
    keep_top: int = 0,
    chunk_size: int = 256,
) -> dict[str, Any]:
    """Search every query in its gallery; mAP and top-k hit rates.

    Args:
        query_features: (Q, D) L2-normalised query embeddings, one per query.
        queries: the Q :class:`SearchQuery` (see
            :mod:`pipeline.evaluation.search_galleries`).
        detections: image id -> :class:`Detections` with features; an image
            without an entry has no detections.
        score_thresh: detections scoring below it are dropped.
        topk: the k of the reported top-k rates.
        weight_by_score: similarity x detection score (DICL's PRW test script).
        keep_top: also return each query's ``keep_top`` best detections
            (``ranked``: image_id, box, score, correct) for ranked-list images.
        chunk_size: queries whose similarities are computed together.

    Returns:
        dict with ``mAP``, ``top{k}`` for each k, ``num_queries`` (those with the
        person in at least one gallery image: the others are left out),
        ``num_queries_without_target``, and per query ``ap`` (Q,) (NaN where
        left out) and ``hits`` (Q, len(topk)) bool.

    Raises:
        ValueError: shapes disagree, a gallery repeats an image or holds the
            query's own image, or a target image is not in the gallery.
    """
    feats = np.asarray(query_features, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[0] != len(queries):
        raise ValueError(
            f"query_features: expected ({len(queries)}, D) for {len(queries)} queries, "
            f"got shape {feats.shape}"
        )
    if len(queries) == 0:
        raise ValueError("queries: none given")
    topk = tuple(int(k) for k in topk)
    if any(k < 1 for k in topk):
        raise ValueError(f"topk={topk}: every k must be >= 1")
    topk_array = np.asarray(topk)
    table = _stack_detections(detections, score_thresh, feats.shape[1])
    ap = np.zeros(len(queries))
    hits = np.zeros((len(queries), len(topk)), dtype=bool)
    # A query whose person is in no gallery image has no defined AP (the
    # reference divides by zero): it is left out and counted.
    valid = np.array([len(q.targets) > 0 for q in queries])
    if not valid.any():
        raise ValueError("queries: no query has its person in any gallery image")
    ranked: list[list[dict[str, Any]]] = []
    det_weight = table.scores.astype(np.float32) if weight_by_score else None
    num_det = table.features.shape[0]
    for c0 in range(0, len(queries), chunk_size):
        block: np.ndarray | None = None  # all similarities of the chunk, made when needed
        for r, query in enumerate(queries[c0 : c0 + chunk_size]):
            qi = c0 + r
            gallery = _gallery_rows(qi, query, table)
            rows = gallery.rows
            if rows.size * 16 < num_det:  # small gallery: only its detections
                y_score = table.features[rows] @ feats[qi]
                if det_weight is not None:
                    y_score *= det_weight[rows]
            else:
                if block is None:
                    block = feats[c0 : c0 + chunk_size] @ table.features.T
                    if det_weight is not None:
                        block *= det_weight[None, :]
                y_score = block[r, rows]
            y_true = _label_targets(qi, query, table, gallery, y_score)
            count_gt = len(query.targets)
            found = int(np.count_nonzero(y_true))
            if found:
                ap[qi] = average_precision(y_true, y_score) * found / count_gt
            order = np.argsort(y_score, kind="stable")[::-1]
            if found:  # top-k hit: the first hit ranks within k
                hits[qi] = int(np.argmax(y_true[order])) < topk_array
            if keep_top:
                ranked.append(
                    [
                        {
                            "image_id": _image_of(table, rows[o]),
                            "box": table.boxes[rows[o]].tolist(),
                            "score": float(y_score[o]),
                            "correct": bool(y_true[o]),
                        }
                        for o in order[:keep_top]
                    ]
                )
    out: dict[str, Any] = {
        "mAP": float(ap[valid].mean()),
        "num_queries": int(np.count_nonzero(valid)),
        "num_queries_without_target": int(np.count_nonzero(~valid)),
    }
    for j, k in enumerate(topk):
        out[f"top{k}"] = float(hits[valid, j].mean())
    ap[~valid] = np.nan
    out.update(ap=ap, hits=hits)
    if keep_top:
        out["ranked"] = ranked
    return out


def _image_of(table: _DetectionTable, row: int) -> ImageId:
    k = int(np.searchsorted(table.start + table.count, row, side="right"))
    return table.ids[k].item()


def _id_kind(ids: np.ndarray) -> str:
    return "int" if ids.dtype.kind in "iu" else ids.dtype.kind


@dataclass(frozen=True)
class _GalleryRows:
    """One query's gallery: image ids, and its detections' rows image by image."""

    images: np.ndarray
    rows: np.ndarray
    offsets: np.ndarray  # first position of image k in ``rows``
    counts: np.ndarray  # detections of image k


def _gallery_rows(qi: int, query: SearchQuery, table: _DetectionTable) -> _GalleryRows:
    """Detection rows of one query's gallery, images in protocol order."""
    gallery = np.asarray(query.gallery)
    if gallery.ndim != 1:
        raise ValueError(f"queries[{qi}].gallery: expected a flat list of image ids")
    if np.unique(gallery).size != gallery.size:
        raise ValueError(f"queries[{qi}].gallery: repeats an image id")
    if np.any(gallery == query.image_id):
        raise ValueError(f"queries[{qi}].gallery: holds the query's own image {query.image_id!r}")
    if table.ids.size and gallery.size and _id_kind(gallery) != _id_kind(table.ids):
        raise ValueError(
            f"queries[{qi}].gallery: image ids of type {gallery.dtype} do not compare with "
            f"the detections' ids ({table.ids.dtype})"
        )
    pos = _positions(table, gallery)
    counts = np.where(pos >= 0, table.count[np.maximum(pos, 0)], 0)
    offsets = np.cumsum(counts) - counts
    rows = np.repeat(table.start[np.maximum(pos, 0)] - offsets, counts) + np.arange(counts.sum())
    return _GalleryRows(gallery, rows, offsets, counts)


def _label_targets(
    qi: int, query: SearchQuery, table: _DetectionTable, g: _GalleryRows, y_score: np.ndarray
) -> np.ndarray:
    """Mark the hit in each target image; re-orders ``g.rows``/``y_score`` in place there.

    The reference visits a target image's detections by similarity, best first
    (and keeps them in that order); the first with enough IoU is the hit.
    """
    y_true = np.zeros(g.rows.size, dtype=bool)
    if not query.targets:
        return y_true
    target_ids = np.asarray(list(query.targets.keys()))
    by_id = np.argsort(g.images, kind="stable")
    where = np.minimum(np.searchsorted(g.images[by_id], target_ids), by_id.size - 1)
    found = g.images[by_id[where]] == target_ids
    if not found.all():
        missing = target_ids[np.flatnonzero(~found)[0]].item()
        raise ValueError(f"queries[{qi}].targets: image {missing!r} is not in its gallery")
    k = by_id[where]  # gallery position of each target image
    boxes = np.stack(
        [as_boxes(b, f"queries[{qi}].targets[{i!r}]")[0] for i, b in query.targets.items()]
    )
    counts = g.counts[k]
    if counts.sum() == 0:
        return y_true
    # Positions in the gallery's detection list of every target image's detections.
    seg = np.repeat(np.arange(k.size), counts)
    pos = np.repeat(g.offsets[k] - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
    # Per image: similarity descending, later first on ties (reversed stable sort).
    order = np.lexsort((-pos, -y_score[pos], seg))
    pos_sorted = pos[order]
    rows_sorted = g.rows[pos_sorted]
    scores_sorted = y_score[pos_sorted]
    # ``pos`` lists each image's slots in order, grouped like ``order``: refill best first.
    g.rows[pos], y_score[pos] = rows_sorted, scores_sorted
    target = boxes[seg]
    det = table.boxes[rows_sorted]
    iw = np.maximum(0.0, np.minimum(det[:, 2], target[:, 2]) - np.maximum(det[:, 0], target[:, 0]))
    ih = np.maximum(0.0, np.minimum(det[:, 3], target[:, 3]) - np.maximum(det[:, 1], target[:, 1]))
    inter = iw * ih
    union = (
        (det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1])
        + (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
        - inter
    )
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    thresh = np.minimum(0.5, (w * h) / ((w + 10.0) * (h + 10.0)))
    good = np.flatnonzero(iou >= thresh[seg])
    first = good[np.unique(seg[good], return_index=True)[1]]
    y_true[pos[first]] = True
    return y_true
