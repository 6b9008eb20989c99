"""Batched box embedding (memory initialisation, queries) and PRW's detection-based queries."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model

import pipeline.models.dicl  # noqa: F401  (registration)
from pipeline.data.detectron2 import load_person_search_dicts
from pipeline.evaluation.detection import Detections
from pipeline.models.dicl.config import build_cfg
from pipeline.models.dicl.data import PersonSearchMapper
from pipeline.models.dicl.evaluate import best_overlap_query_features
from pipeline.models.dicl.inference import annotation_boxes_xyxy, embed_boxes
from tests.dicl.tiny_world import write_tiny_world


def test_batched_embeddings_equal_one_image_at_a_time(tmp_path, tiny_settings):
    small = write_tiny_world(tmp_path / "small", tmp_path, seed=1, size=(80, 112))
    large = write_tiny_world(tmp_path / "large", tmp_path, seed=2, size=(96, 128))
    a = load_person_search_dicts(small / "train.json", tmp_path)[:8]
    b = load_person_search_dicts(large / "train.json", tmp_path)[:8]
    # interleaved sizes: the size grouping reorders them, the result must not
    records = [r for pair in zip(a, b, strict=True) for r in pair]
    records = [{**r, "query_boxes": annotation_boxes_xyxy(r)} for r in records]
    torch.manual_seed(0)
    model = build_model(build_cfg(tiny_settings, iters_per_epoch=1, memory_size=4))
    # a non-zero offset branch, so the deformable pooling's second pass matters
    torch.nn.init.normal_(model.roi_heads.box_pooler.offset_fc[-1].weight, std=0.01)
    mapper = PersonSearchMapper([(128, 96)], flip=False, with_targets=False)
    one = embed_boxes(model, records, mapper, batch_images=1)
    batched = embed_boxes(model, records, mapper, batch_images=4)
    assert model.training  # mode restored
    assert [len(e) for e in batched] == [len(r["query_boxes"]) for r in records]
    for alone, together in zip(one, batched, strict=True):
        assert together.dtype == np.float32
        np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)
    # records differ, so a shuffled result would not match
    assert not np.allclose(batched[0][0], batched[1][0])
    with pytest.raises(ValueError, match="batch_images"):
        embed_boxes(model, records, mapper, batch_images=0)


def _dets(boxes, scores, feats) -> Detections:
    return Detections(
        boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        scores=np.asarray(scores, dtype=np.float64),
        features=np.asarray(feats, dtype=np.float32).reshape(-1, 2),
    )


def test_prw_query_is_the_best_overlapping_detection_of_any_score():
    detections = {
        1: _dets(
            [[0, 0, 10, 20], [50, 50, 70, 90], [1, 1, 11, 21]],
            [0.99, 0.2, 0.1],  # the best overlap scores lowest, under the 0.5 threshold
            [[1, 0], [0, 1], [0.6, 0.8]],
        ),
        2: _dets(np.zeros((0, 4)), [], np.zeros((0, 2))),
        3: _dets([[5, 5, 15, 15]], [0.9], [[0.8, 0.6]]),
    }
    queries = [
        {"image_id": 1, "query_boxes": np.array([[1.0, 1.0, 11.0, 21.0]])},
        {"image_id": 2, "query_boxes": np.array([[0.0, 0.0, 5.0, 5.0]])},
        {"image_id": 1, "query_boxes": np.array([[52.0, 50.0, 70.0, 88.0]])},
        {"image_id": 3, "query_boxes": np.array([[100.0, 100.0, 110.0, 120.0]])},
    ]
    got = best_overlap_query_features(queries, detections)
    want = np.array([[0.6, 0.8], [0, 0], [0, 1], [0.8, 0.6]], dtype=np.float32)
    # no overlap at all: the first detection (the official argmax of zeros)
    np.testing.assert_array_equal(got, want)
