"""The DICL stages' files: deterministic bytes, written atomically.

Training (``models/dicl/``, ``plots/dicl/train/``): ``model.pt`` (the network's
state dict, memory excluded; written by ``pipeline.checkpoint.write_state_dict``,
so the bytes do not depend on a temporary file name), ``config.json`` (the resolved settings and
what the data fixed), ``history.csv`` / ``history.png`` (per-epoch losses and
learning rate) and ``pseudo_labels.csv`` (per-epoch cluster statistics).

Evaluation (``metrics/dicl.json``, ``plots/dicl/eval/``): the flat metrics with
the untrained model's beside them (``init_`` prefix), ``cmc.csv`` (top-k hit
rate of both), ``det_pr.csv`` (detection precision-recall of the trained model)
and ``ranked_list.png`` (sampled queries and their top detections).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.checkpoint import cpu_state_dict, write_state_dict
from pipeline.engine.history import write_history
from pipeline.evaluation import cmc_rows, precision_recall_rows, sample_queries, write_curve
from pipeline.evaluation.ranked_list import write_ranked_list
from pipeline.io import atomic_dir, write_csv, write_json
from pipeline.models.dicl.evaluate import SearchEvaluation

PSEUDO_PREFIX = "pseudo_"


def write_training_outputs(
    model: torch.nn.Module,
    config: Mapping[str, Any],
    history: Sequence[Mapping[str, float]],
    *,
    model_dir: str | Path,
    plots_dir: str | Path,
) -> None:
    """Write the model folder and the training plots folder (each atomically)."""
    with atomic_dir(model_dir) as tmp:
        write_state_dict(tmp / "model.pt", cpu_state_dict(model))
        write_json(tmp / "config.json", dict(config))
    losses = [{k: v for k, v in row.items() if not k.startswith(PSEUDO_PREFIX)} for row in history]
    pseudo = [
        {
            "epoch": row["epoch"],
            **{k[len(PSEUDO_PREFIX) :]: v for k, v in row.items() if k.startswith(PSEUDO_PREFIX)},
        }
        for row in history
    ]
    with atomic_dir(plots_dir) as tmp:
        write_history(losses, tmp / "history.csv", tmp / "history.png", title="DICL training")
        keys = sorted({k for row in pseudo for k in row} - {"epoch"})
        write_csv(
            tmp / "pseudo_labels.csv",
            ["epoch", *keys],
            ([row.get(k, "") for k in ["epoch", *keys]] for row in pseudo),
        )


def flat_metrics(trained: SearchEvaluation, init: SearchEvaluation | None) -> dict[str, float]:
    """Trained metrics, and the untrained model's with an ``init_`` prefix."""
    out = dict(trained.metrics)
    if init is not None:
        out.update({f"init_{k}": v for k, v in init.metrics.items()})
    return dict(sorted(out.items()))


def _ranked_list(result: SearchEvaluation, path: Path, count: int, seed: int) -> None:
    valid = [i for i, r in enumerate(result.ranked) if r]
    if not valid or count == 0:
        return
    picked = [valid[i] for i in sample_queries(len(valid), count, seed)]
    k = min(10, *(len(result.ranked[i]) for i in picked))
    gallery_paths, index = [], {}
    for image_id, file_name in result.image_files.items():
        index[image_id] = len(gallery_paths)
        gallery_paths.append(file_name)
    ranked = np.array([[index[d["image_id"]] for d in result.ranked[i][:k]] for i in picked])
    correct = np.array([[d["correct"] for d in result.ranked[i][:k]] for i in picked])
    boxes = [[d["box"] for d in result.ranked[i][:k]] for i in picked]
    write_ranked_list(
        path,
        [result.query_records[i]["file_name"] for i in picked],
        gallery_paths,
        ranked,
        correct,
        top_k=k,
        query_boxes=[result.query_records[i]["box"] for i in picked],
        gallery_boxes=boxes,
        crop=True,
    )


def write_eval_outputs(
    trained: SearchEvaluation,
    init: SearchEvaluation | None,
    *,
    metrics_path: str | Path,
    plots_dir: str | Path,
    ranked_queries: int,
    seed: int,
) -> dict[str, float]:
    """Write the metrics file and the evaluation plots folder; return the metrics."""
    metrics = flat_metrics(trained, init)
    with atomic_dir(plots_dir) as tmp:
        curves = {"trained": trained.cmc}
        if init is not None:
            curves["init"] = init.cmc
        write_curve(tmp / "cmc.csv", cmc_rows(curves))
        if trained.det_y_true.any():
            pr = precision_recall_rows(trained.det_y_true, trained.det_y_score)
        else:  # nothing detected correctly: only the curve's (recall 0, precision 1) anchor
            pr = [{"recall": 0.0, "precision": 1.0, "threshold": 1.0}]
        write_curve(tmp / "det_pr.csv", pr)
        _ranked_list(trained, tmp / "ranked_list.png", ranked_queries, seed)
    write_json(metrics_path, metrics)
    return metrics
