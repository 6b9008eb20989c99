"""Person detection recall and AP, as the person-search benchmarks report them.

The rule of the OIM evaluation (Xiao et al., "Joint Detection and Identification
Feature Learning for Person Search", CVPR 2017) kept by CGPS, SeqNet and DICL
(``evaluate_detections`` / ``eval_detection``): detections scoring below the
threshold are dropped; a detection and a ground-truth box are matched when their
IoU is >= 0.5 AND each is the other's highest-IoU partner (first on equal IoU),
so matching is one-to-one; recall = matched boxes / all boxes; AP = scikit-learn
``average_precision_score`` over every kept detection (matched = positive) times
that recall, so missed boxes lower AP too. IoU uses the reference's continuous
formula (no +1 on widths).

Boxes are (x1, y1, x2, y2) throughout this package; ``xywh_to_xyxy`` converts
COCO ``bbox`` entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

ImageId = int | str


def xywh_to_xyxy(boxes: Any) -> np.ndarray:
    """(N, 4) [x, y, w, h] (COCO ``bbox``) -> (N, 4) [x1, y1, x2, y2] float64."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def as_boxes(boxes: Any, what: str) -> np.ndarray:
    """(N, 4) float64 view of ``boxes``; raises naming ``what`` when malformed."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        return np.zeros((0, 4))
    if b.ndim == 1 and b.shape[0] == 4:
        b = b[None, :]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{what}: expected (N, 4) boxes x1,y1,x2,y2, got shape {b.shape}")
    if not np.isfinite(b).all():
        raise ValueError(f"{what}: boxes contain NaN or infinite values")
    return b


@dataclass(frozen=True)
class Detections:
    """One image's detections.

    Attributes:
        boxes: (K, 4) x1, y1, x2, y2.
        scores: (K,) detector confidence.
        features: (K, D) L2-normalised re-id embeddings (needed for search only).
    """

    boxes: np.ndarray
    scores: np.ndarray
    features: np.ndarray | None = None

    def __post_init__(self) -> None:
        boxes = as_boxes(self.boxes, "Detections.boxes")
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if scores.shape[0] != boxes.shape[0]:
            raise ValueError(f"Detections: {boxes.shape[0]} boxes but {scores.shape[0]} scores")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        if self.features is not None:
            feats = np.asarray(self.features)
            if feats.ndim == 1 and boxes.shape[0] == 0:
                feats = feats.reshape(0, -1)
            if feats.ndim != 2 or feats.shape[0] != boxes.shape[0]:
                raise ValueError(
                    f"Detections: features of shape {feats.shape} for {boxes.shape[0]} boxes"
                )
            object.__setattr__(self, "features", feats)

    def above(self, score_thresh: float) -> Detections:
        """The detections scoring >= ``score_thresh``."""
        keep = self.scores >= score_thresh
        feats = None if self.features is None else self.features[keep]
        return Detections(self.boxes[keep], self.scores[keep], feats)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of x1,y1,x2,y2 boxes, the reference's formula; 0 where the union is 0."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    w = np.maximum(
        0.0, np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    )
    h = np.maximum(
        0.0, np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    )
    inter = w * h
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_detections(gt_boxes: np.ndarray, det_boxes: np.ndarray, iou_thresh: float) -> np.ndarray:
    """Which detections match a ground-truth box under the mutual-best-IoU rule.

    Returns:
        (K,) bool: detection k is matched (at most one per ground-truth box).
    """
    num_gt, num_det = len(gt_boxes), len(det_boxes)
    if num_gt == 0 or num_det == 0:
        return np.zeros(num_det, dtype=bool)
    # float32 like the reference's IoU table: decides matches at exactly the threshold.
    ious = box_iou(gt_boxes, det_boxes).astype(np.float32)
    ok = ious >= np.float32(iou_thresh)
    best_gt = np.argmax(ious, axis=0)  # per detection; first on ties, as the reference
    best_det = np.argmax(ious, axis=1)  # per ground-truth box
    ok &= np.arange(num_gt)[:, None] == best_gt[None, :]
    ok &= np.arange(num_det)[None, :] == best_det[:, None]
    return ok.any(axis=0)


def evaluate_detection(
    ground_truth: Mapping[ImageId, Any],
    detections: Mapping[ImageId, Detections],
    *,
    score_thresh: float = 0.5,
    iou_thresh: float = 0.5,
    return_scores: bool = False,
) -> dict[str, Any]:
    """Detection recall and AP over the test images.

    Args:
        ground_truth: image id -> (N, 4) ground-truth person boxes x1,y1,x2,y2
            (every test image, those without people included).
        detections: image id -> :class:`Detections`; a missing image has none.
        score_thresh: detections scoring below it are dropped (0.5 in the papers).
        iou_thresh: IoU for a match.
        return_scores: also return ``y_true`` / ``y_score`` of the kept
            detections (for a precision-recall curve).

    Returns:
        dict with ``recall`` and ``ap`` (fractions), ``num_gt``, ``num_tp``, ``num_det``.

    Raises:
        ValueError: a detected image is not in ``ground_truth``, or there is no
            ground-truth box at all.
    """
    unknown = [k for k in detections if k not in ground_truth]
    if unknown:
        raise ValueError(
            f"detections: {len(unknown)} image(s) not in ground_truth, e.g. {unknown[0]!r}"
        )
    y_true: list[np.ndarray] = []
    y_score: list[np.ndarray] = []
    num_gt = 0
    for image_id, boxes in ground_truth.items():
        gt = as_boxes(boxes, f"ground_truth[{image_id!r}]")
        num_gt += len(gt)
        det = detections.get(image_id)
        if det is None:
            continue
        det = det.above(score_thresh)
        y_true.append(match_detections(gt, det.boxes, iou_thresh))
        y_score.append(det.scores)
    if num_gt == 0:
        raise ValueError("ground_truth: holds no box, recall is undefined")
    labels = np.concatenate(y_true) if y_true else np.zeros(0, dtype=bool)
    scores = np.concatenate(y_score) if y_score else np.zeros(0)
    num_tp = int(np.count_nonzero(labels))
    recall = num_tp / num_gt
    # Imported here: scikit-learn takes about 1 s to import, and most stages never call this.
    from sklearn.metrics import average_precision_score

    ap = float(average_precision_score(labels, scores)) * recall if num_tp else 0.0
    out: dict[str, Any] = {
        "recall": recall,
        "ap": ap,
        "num_gt": num_gt,
        "num_tp": num_tp,
        "num_det": int(labels.size),
    }
    if return_scores:
        out.update(y_true=labels, y_score=scores)
    return out
