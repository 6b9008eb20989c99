"""Person search protocol (pipeline.evaluation.person_search): hand-worked cases,
the CUHK-SYSU / PRW gallery builders, and a per-query loop reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from pipeline.evaluation.detection import Detections, box_iou
from pipeline.evaluation.person_search import SearchQuery, average_precision, evaluate_search
from pipeline.evaluation.search_galleries import cuhk_sysu_queries, prw_queries, scene_annotations


def unit(*v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


# Query feature (1, 0). Image "a" holds the person at [0, 0, 40, 100] (IoU threshold
# 0.5); its detections: a wrong person with similarity 0.8, the person at 0.6, and a
# 0.3-score box that the 0.5 threshold drops. Image "b" holds the person at
# [0, 0, 10, 20]: small, so the threshold is 10*20 / (20*30) = 1/3 and a box of IoU
# 0.5 counts. Image "c" has no detection.
DETS = {
    "a": Detections(
        [[100, 0, 140, 100], [0, 0, 40, 100], [0, 0, 40, 50]],
        [0.8, 0.9, 0.3],
        [unit(0.8, 0.6), unit(0.6, 0.8), unit(1, 0)],
    ),
    "b": Detections([[0, 0, 10, 10]], [0.9], [unit(0.7, 0.714142842854285)]),
}
QUERY_FEAT = np.array([[1.0, 0.0]], dtype=np.float32)


def test_hand_worked_query():
    query = SearchQuery("q", ["a", "b", "c"], {"a": [0, 0, 40, 100], "b": [0, 0, 10, 20]})
    out = evaluate_search(QUERY_FEAT, [query], DETS, topk=(1, 2, 5), keep_top=3)
    # Ranked: a-wrong 0.8, b-hit 0.7, a-hit 0.6: AP = (1/2 + 2/3) / 2, recall 1.
    assert out["mAP"] == pytest.approx((1 / 2 + 2 / 3) / 2, abs=1e-6)
    assert (out["top1"], out["top2"], out["top5"]) == (0.0, 1.0, 1.0)
    ranked = out["ranked"][0]
    assert [r["image_id"] for r in ranked] == ["a", "b", "a"]
    assert [r["correct"] for r in ranked] == [False, True, True]
    assert ranked[0]["box"] == [100.0, 0.0, 140.0, 100.0]


def test_person_in_an_image_without_detections_costs_recall():
    query = SearchQuery("q", ["a", "c"], {"a": [0, 0, 40, 100], "c": [0, 0, 40, 100]})
    out = evaluate_search(QUERY_FEAT, [query], DETS)
    # a-wrong 0.8, a-hit 0.6: sklearn AP 1/2, recall 1/2 (c holds the person, undetected).
    assert out["mAP"] == pytest.approx(0.25, abs=1e-6)


def test_only_the_most_similar_overlapping_detection_counts():
    dets = {
        "a": Detections(
            [[0, 0, 40, 100], [2, 0, 42, 100]], [0.9, 0.9], [unit(0.6, 0.8), unit(0.9, 0.1)]
        )
    }
    query = SearchQuery("q", ["a"], {"a": [0, 0, 40, 100]})
    out = evaluate_search(QUERY_FEAT, [query], dets, keep_top=2)
    # Both overlap the person; the more similar one (IoU 0.9) is the hit, the exact
    # box is then a false match.
    assert [r["correct"] for r in out["ranked"][0]] == [True, False]
    assert out["mAP"] == pytest.approx(1.0)


def test_detections_missing_the_target_and_empty_gallery_images():
    query = SearchQuery("q", ["a", "c", "d"], {"a": [200, 0, 240, 100]})
    out = evaluate_search(QUERY_FEAT, [query], DETS)
    assert out["mAP"] == 0.0 and out["top5"] == 0.0


def test_weight_by_score_and_threshold():
    query = SearchQuery("q", ["a", "b"], {"b": [0, 0, 10, 20]})
    plain = evaluate_search(QUERY_FEAT, [query], DETS, keep_top=1)
    assert plain["ranked"][0][0]["image_id"] == "a"  # 0.8 > 0.7
    weighted = evaluate_search(QUERY_FEAT, [query], DETS, weight_by_score=True, keep_top=1)
    # Scaled by the detection score: a 0.8 x 0.8 = 0.64 still above b 0.7 x 0.9 = 0.63.
    assert weighted["ranked"][0][0]["score"] == pytest.approx(0.64, abs=1e-6)
    lowered = evaluate_search(QUERY_FEAT, [query], DETS, score_thresh=0.2, keep_top=1)
    assert lowered["ranked"][0][0]["score"] == pytest.approx(1.0, abs=1e-6)  # the 0.3 box


def test_query_without_target_is_left_out():
    queries = [
        SearchQuery("q", ["a", "b"], {"b": [0, 0, 10, 20]}),
        SearchQuery("q2", ["a"], {}),
    ]
    out = evaluate_search(np.repeat(QUERY_FEAT, 2, axis=0), queries, DETS)
    assert out["num_queries"] == 1 and out["num_queries_without_target"] == 1
    assert np.isnan(out["ap"][1])


def test_bad_queries_are_named():
    with pytest.raises(ValueError, match="repeats an image"):
        evaluate_search(QUERY_FEAT, [SearchQuery("q", ["a", "a"], {"a": [0, 0, 1, 1]})], DETS)
    with pytest.raises(ValueError, match="own image"):
        evaluate_search(QUERY_FEAT, [SearchQuery("a", ["a"], {"a": [0, 0, 1, 1]})], DETS)
    with pytest.raises(ValueError, match="not in its gallery"):
        evaluate_search(QUERY_FEAT, [SearchQuery("q", ["a"], {"b": [0, 0, 1, 1]})], DETS)
    with pytest.raises(ValueError, match="do not compare"):
        evaluate_search(QUERY_FEAT, [SearchQuery("q", [1, 2], {1: [0, 0, 1, 1]})], DETS)
    with pytest.raises(ValueError, match="query_features"):
        evaluate_search(np.zeros((2, 2)), [SearchQuery("q", ["a"], {"a": [0, 0, 1, 1]})], DETS)


def test_average_precision_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(50):
        y = rng.random(40) < 0.3
        s = rng.integers(0, 4, 40).astype(float)
        if y.any():
            assert average_precision(y, s) == pytest.approx(
                average_precision_score(y, s), abs=1e-12
            )
    assert average_precision(np.zeros(3, bool), np.ones(3)) == 0.0


def loop_reference(query_feats, queries, detections, thresh=0.5, topk=(1, 5, 10)):
    """The per-query loop of the OIM/CGPS evaluator, written out for comparison."""
    kept = {}
    for image_id, det in detections.items():
        keep = det.scores >= thresh
        if keep.any():
            kept[image_id] = (det.boxes[keep], det.features[keep])
    aps, accs = [], []
    for qi, query in enumerate(queries):
        y_true, y_score, count_gt, count_tp = [], [], 0, 0
        for image_id in query.gallery:
            gt = query.targets.get(image_id)
            count_gt += gt is not None
            if image_id not in kept:
                continue
            boxes, feats = kept[image_id]
            sim = feats @ query_feats[qi]
            label = np.zeros(len(sim), dtype=int)
            if gt is not None:
                w, h = gt[2] - gt[0], gt[3] - gt[1]
                thr = min(0.5, w * h / ((w + 10.0) * (h + 10.0)))
                order = np.argsort(sim, kind="stable")[::-1]
                sim, boxes = sim[order], boxes[order]
                for j in range(len(sim)):
                    if box_iou(np.asarray(gt)[None], boxes[j][None])[0, 0] >= thr:
                        label[j], count_tp = 1, count_tp + 1
                        break
            y_true.extend(label.tolist())
            y_score.extend(sim.tolist())
        if count_gt == 0:
            continue
        y_true, y_score = np.array(y_true), np.array(y_score)
        aps.append(
            0.0 if count_tp == 0 else average_precision_score(y_true, y_score) * count_tp / count_gt
        )
        order = np.argsort(y_score, kind="stable")[::-1]
        accs.append([min(1, y_true[order][:k].sum()) for k in topk])
    return float(np.mean(aps)), np.mean(accs, axis=0)


@pytest.mark.parametrize("seed", range(4))
def test_matches_per_query_loop_on_random_scenes(seed):
    rng = np.random.default_rng(seed)
    images = list(range(40))
    detections = {}
    for i in images:
        k = int(rng.integers(0, 6))
        xy = rng.uniform(0, 60, (k, 2))
        boxes = np.c_[xy, xy + rng.uniform(5, 40, (k, 2))]
        # Features in {-1, 0, 1}^3: exact float32 dot products, so many exact ties.
        feats = rng.integers(-1, 2, (k, 3)).astype(np.float32)
        detections[i] = Detections(boxes, rng.random(k), feats)
    queries = []
    for _ in range(25):
        gallery = rng.permutation(images[1:])[: int(rng.integers(5, 30))]
        targets = {}
        # Targets listed in reverse gallery order: the dict's order must not matter.
        for image_id in gallery[: int(rng.integers(0, 4))][::-1]:
            det = detections[int(image_id)]
            base = det.boxes[0] if len(det.boxes) else np.array([0, 0, 20, 40.0])
            targets[int(image_id)] = base + rng.normal(0, 3, 4)
        queries.append(SearchQuery(0, gallery, targets))
    query_feats = rng.integers(-1, 2, (25, 3)).astype(np.float32)
    for thresh in (0.0, 0.5):
        out = evaluate_search(query_feats, queries, detections, score_thresh=thresh)
        m_ap, accs = loop_reference(query_feats, queries, detections, thresh)
        assert out["mAP"] == pytest.approx(m_ap, abs=1e-12)
        np.testing.assert_allclose([out["top1"], out["top5"], out["top10"]], accs, atol=1e-12)


TEST_JSON = {
    "images": [
        {"id": 1, "file_name": "s1.jpg", "camera": 1},
        {"id": 2, "file_name": "s2.jpg", "camera": 1},
        {"id": 3, "file_name": "s3.jpg", "camera": 2},
        {"id": 4, "file_name": "s4.jpg", "camera": 2},
    ],
    "annotations": [
        {"id": 10, "image_id": 1, "bbox": [0, 0, 10, 20], "person_id": 7},
        {"id": 11, "image_id": 2, "bbox": [5, 5, 10, 20], "person_id": 7},
        {"id": 12, "image_id": 2, "bbox": [50, 5, 10, 20], "person_id": -1},
        {"id": 13, "image_id": 3, "bbox": [1, 2, 30, 60], "person_id": 7},
        {"id": 14, "image_id": 4, "bbox": [1, 2, 30, 60], "person_id": 8},
    ],
}


def test_scene_annotations_from_coco():
    scenes = scene_annotations(TEST_JSON)
    assert list(scenes) == [1, 2, 3, 4]
    np.testing.assert_array_equal(scenes[2].boxes, [[5, 5, 15, 25], [50, 5, 60, 25]])
    np.testing.assert_array_equal(scenes[2].pids, [7, -1])
    assert scenes[3].camera == 2
    with pytest.raises(ValueError, match="unknown image 9"):
        scene_annotations({"images": [], "annotations": [{"image_id": 9, "bbox": [0, 0, 1, 1]}]})


def test_cuhk_sysu_queries_and_full_gallery():
    scenes = scene_annotations(TEST_JSON)
    protocol = {"queries": [{"image_id": 1, "pid": 7, "gallery": {"50": [4, 2]}}]}
    (query,) = cuhk_sysu_queries(protocol, scenes, 50)
    assert list(query.gallery) == [4, 2]
    assert list(query.targets) == [2]
    np.testing.assert_array_equal(query.targets[2], [5, 5, 15, 25])
    (full,) = cuhk_sysu_queries(protocol, scenes, "full")
    # The 50-image gallery, then every other test image but the query's own, as
    # target-free (image 3 holds person 7 but lies outside the protocol gallery).
    assert list(full.gallery) == [4, 2, 3]
    assert list(full.targets) == [2]
    with pytest.raises(ValueError, match="no gallery of size 100"):
        cuhk_sysu_queries(protocol, scenes, 100)


def test_prw_queries_all_frames_and_cross_camera():
    scenes = scene_annotations(TEST_JSON)
    (same,) = prw_queries([{"image_id": 1, "pid": 7, "camera": 1}], scenes)
    assert list(same.gallery) == [2, 3, 4]
    assert sorted(same.targets) == [2, 3]
    (cross,) = prw_queries([{"image_id": 1, "pid": 7, "camera": 1}], scenes, cross_camera=True)
    assert list(cross.gallery) == [3, 4]
    assert list(cross.targets) == [3]
    with pytest.raises(ValueError, match="not a test frame"):
        prw_queries([{"image_id": 99, "pid": 7, "camera": 1}], scenes)


def test_prw_end_to_end_cross_camera_changes_recall():
    scenes = scene_annotations(TEST_JSON)
    feat = np.array([1.0, 0.0], dtype=np.float32)
    dets = {
        2: Detections([[5, 5, 15, 25]], [0.9], [feat]),  # the person, same camera
        4: Detections([[1, 2, 31, 62]], [0.9], [unit(0.5, 0.5)]),  # someone else
    }
    query = [{"image_id": 1, "pid": 7, "camera": 1}]
    all_frames = evaluate_search(feat[None], prw_queries(query, scenes), dets)
    # Frames 2 and 3 hold person 7; only 2's is detected: AP 1 x recall 1/2.
    assert all_frames["mAP"] == pytest.approx(0.5) and all_frames["top1"] == 1.0
    cross = evaluate_search(feat[None], prw_queries(query, scenes, cross_camera=True), dets)
    assert cross["mAP"] == 0.0 and cross["top1"] == 0.0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_gallery_order_does_not_matter_and_perfect_search_scores_one(seed):
    rng = np.random.default_rng(seed)
    detections = {}
    for i in range(12):
        k = int(rng.integers(0, 4))
        xy = rng.uniform(0, 50, (k, 2))
        feats = rng.standard_normal((k, 4)).astype(np.float32)  # no ties
        detections[i] = Detections(np.c_[xy, xy + 20.0], rng.uniform(0.5, 1, k), feats)
    gallery = np.arange(1, 12)
    holders = [i for i in gallery if len(detections[i].boxes)]
    if not holders:
        return
    targets = {int(i): detections[int(i)].boxes[0] for i in holders[:2]}
    query = rng.standard_normal((1, 4)).astype(np.float32)
    a = evaluate_search(query, [SearchQuery(0, gallery, targets)], detections)
    shuffled = rng.permutation(gallery)
    b = evaluate_search(query, [SearchQuery(0, shuffled, targets)], detections)
    assert a["mAP"] == pytest.approx(b["mAP"], abs=1e-12)
    assert (a["top1"], a["top5"], a["top10"]) == (b["top1"], b["top5"], b["top10"])
    # Give each target box the query's own feature: every person found first.
    perfect = dict(detections)
    for i in targets:
        det = detections[i]
        feats = det.features.copy()
        feats[0] = query[0] / np.linalg.norm(query[0]) * 1e3  # far above any other
        perfect[i] = Detections(det.boxes, det.scores, feats)
    best = evaluate_search(query, [SearchQuery(0, gallery, targets)], perfect)
    assert best["mAP"] == pytest.approx(1.0) and best["top1"] == 1.0
