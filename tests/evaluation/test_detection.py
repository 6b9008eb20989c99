"""Detection recall / AP (pipeline.evaluation.detection): hand-worked matches."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from pipeline.evaluation.detection import (
    Detections,
    box_iou,
    evaluate_detection,
    match_detections,
    xywh_to_xyxy,
)


def test_box_iou_hand_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [1, 0, 11, 10]])
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 50 / 150, 0.0, 90 / 110]])
    assert box_iou(np.zeros((1, 4)), np.zeros((1, 4)))[0, 0] == 0.0  # empty union


def test_xywh_conversion():
    np.testing.assert_array_equal(xywh_to_xyxy([[1, 2, 3, 4]]), [[1, 2, 4, 6]])


def test_mutual_best_matching_is_one_to_one():
    gt = np.array([[0, 0, 10, 10], [3, 0, 13, 10]])
    # det 0 fits gt 0 (IoU 1). det 1 overlaps gt 0 by 0.82 and gt 1 by 0.67: gt 1's
    # best detection is det 1, but det 1's best box is gt 0 (taken by det 0), so
    # under the reference's mutual-best rule it matches nothing and gt 1 is missed
    # (a greedy matcher would pair det 1 with gt 1).
    det = np.array([[0, 0, 10, 10], [1, 0, 11, 10]])
    np.testing.assert_allclose(box_iou(gt, det), [[1.0, 90 / 110], [70 / 130, 80 / 120]])
    np.testing.assert_array_equal(match_detections(gt, det, 0.5), [True, False])
    assert not match_detections(np.zeros((0, 4)), det, 0.5).any()
    assert match_detections(gt, np.zeros((0, 4)), 0.5).shape == (0,)


def test_recall_and_ap_hand_worked():
    gt = {"a": [[0, 0, 10, 10], [20, 0, 30, 10]], "b": [[0, 0, 10, 20]], "c": []}
    dets = {
        # match gt a0 (0.9); duplicate of a0 (0.8, false); a1 found only at 0.4: dropped.
        "a": Detections([[0, 0, 10, 10], [1, 0, 11, 10], [20, 0, 30, 10]], [0.9, 0.8, 0.4]),
        # b: IoU 0.45 < 0.5: a false detection; the person is missed.
        "b": Detections([[0, 0, 10, 9]], [0.95]),
        # c: nobody there: false.
        "c": Detections([[0, 0, 5, 5]], [0.6]),
    }
    out = evaluate_detection(gt, dets, score_thresh=0.5, return_scores=True)
    assert (out["num_gt"], out["num_tp"], out["num_det"]) == (3, 1, 4)
    assert out["recall"] == pytest.approx(1 / 3)
    # Ranked: b 0.95 F, a 0.9 T, a 0.8 F, c 0.6 F -> sklearn AP = 1/2, times recall.
    assert out["ap"] == pytest.approx(0.5 / 3)
    np.testing.assert_array_equal(out["y_true"], [True, False, False, False])
    lower = evaluate_detection(gt, dets, score_thresh=0.3)
    assert lower["num_tp"] == 2 and lower["recall"] == pytest.approx(2 / 3)


def test_ap_equals_sklearn_times_recall_on_random_images():
    rng = np.random.default_rng(0)
    gt, dets = {}, {}
    for i in range(30):
        boxes = np.c_[rng.uniform(0, 100, (5, 2)), np.zeros((5, 2))]
        boxes[:, 2:] = boxes[:, :2] + rng.uniform(10, 40, (5, 2))
        gt[i] = boxes[: rng.integers(0, 5)]
        jitter = boxes + rng.normal(0, 4, boxes.shape)
        dets[i] = Detections(jitter, rng.random(5))
    out = evaluate_detection(gt, dets, return_scores=True)
    expected = average_precision_score(out["y_true"], out["y_score"]) * out["recall"]
    assert out["ap"] == pytest.approx(expected, abs=1e-12)


def test_missing_images_and_errors():
    gt = {"a": [[0, 0, 10, 10]]}
    out = evaluate_detection(gt, {})
    assert out["recall"] == 0.0 and out["ap"] == 0.0
    with pytest.raises(ValueError, match="not in ground_truth"):
        evaluate_detection(gt, {"z": Detections([[0, 0, 1, 1]], [1.0])})
    with pytest.raises(ValueError, match="holds no box"):
        evaluate_detection({"a": []}, {})
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        Detections([[0, 0, 1, 1], [0, 0, 2, 2]], [0.5])
    with pytest.raises(ValueError, match=r"ground_truth\['a'\]"):
        evaluate_detection({"a": [[0, 0, 1]]}, {})
