"""Evaluation protocols: re-id ranking, person search, visible-infrared, plots.

Each protocol is its own function over plain arrays (fast-reid's ``evaluate_rank``
style); the stage scripts load features and annotations and call these.
"""

from pipeline.evaluation.cross_modality import (
    evaluate_regdb,
    evaluate_sysu_mm01,
    flat_metrics,
    sysu_mm01_gallery,
)
from pipeline.evaluation.curves import cmc_rows, precision_recall_rows, write_curve
from pipeline.evaluation.detection import Detections, evaluate_detection, xywh_to_xyxy
from pipeline.evaluation.person_search import SearchQuery, evaluate_search
from pipeline.evaluation.ranked_list import render_ranked_list, sample_queries, write_ranked_list
from pipeline.evaluation.reid import (
    evaluate_rank,
    headline_metrics,
    iter_distance_chunks,
    top_k_matches,
)
from pipeline.evaluation.rerank import re_ranking
from pipeline.evaluation.search_galleries import (
    SceneAnnotations,
    cuhk_sysu_queries,
    prw_queries,
    scene_annotations,
)

__all__ = [
    "Detections",
    "SceneAnnotations",
    "SearchQuery",
    "cmc_rows",
    "cuhk_sysu_queries",
    "evaluate_detection",
    "evaluate_rank",
    "evaluate_regdb",
    "evaluate_search",
    "evaluate_sysu_mm01",
    "flat_metrics",
    "headline_metrics",
    "iter_distance_chunks",
    "precision_recall_rows",
    "prw_queries",
    "re_ranking",
    "render_ranked_list",
    "sample_queries",
    "scene_annotations",
    "sysu_mm01_gallery",
    "top_k_matches",
    "write_curve",
    "write_ranked_list",
    "xywh_to_xyxy",
]
