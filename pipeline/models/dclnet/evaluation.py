"""Evaluate trained DCLNet models: the library side of ``eval_dclnet``.

Protocols from :mod:`pipeline.evaluation.cross_modality`: SYSU-MM01 all-search
and indoor-search, single- and multi-shot (10 gallery trials each, the dataset's
``rand_perm_cam.mat`` draws when the converter found them, else seeded draws;
infrared probes, visible gallery), or RegDB visible->thermal and
thermal->visible, averaged over the trained splits. Each row is encoded by its
own modality's stream; features are L2-normalised and compared by cosine
distance. Three descriptors are scored with the same protocol:

* the trained model (keys ``all_single_mAP``, ``v2t_rank1``, ...);
* ``init_``: the same network untrained (same seed, same initial weights);
* ``hist_``: a striped HSV colour histogram (``pipeline.models.color_histogram``).

SYSU-MM01 also gets a diagnostic outside the published protocol: retrieval
*within* each modality (keys ``intra_visible_*``, ``intra_infrared_*``: every
test image of one modality against the others of that modality, the Market-1501
rule dropping same-identity same-camera items). A model that matches well within
each modality but not across them has learnt modality-specific identity cues
rather than shared ones; the gap between the two is what the cross-modal losses
exist to close. RegDB has one camera per modality, so it has no such diagnostic.

Plots: CMC curves of the three (headline protocol: all-search single-shot or
thermal->visible), the trained model's precision-recall curve over all probe x
gallery pairs, and ranked lists of infrared probes with their visible matches.
The frame (prefixes, curves, ranked lists) is the one SCL shares:
``pipeline.evaluation.baselines``; the protocols and their trials are DCLNet's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.checkpoint import load_weights
from pipeline.data.reid_index import GalleryTrials, IndexRow, read_gallery_trials
from pipeline.evaluation.baselines import (
    KINDS,
    MODEL,
    Scored,
    prefixed,
    score_baselines,
    top_k_ranking,
    write_eval_plots,
    write_ranked_sample,
)
from pipeline.evaluation.cross_modality import (
    evaluate_regdb,
    evaluate_sysu_mm01,
    flat_metrics,
    sysu_mm01_exclusion,
)
from pipeline.evaluation.curves import precision_recall_rows, write_curve
from pipeline.evaluation.reid import evaluate_rank, headline_metrics
from pipeline.io import write_json
from pipeline.models.dclnet.data import load_test_rows, training_units
from pipeline.models.dclnet.encoders import (
    cosine_distance,
    histogram_encoder,
    model_encoder,
)
from pipeline.models.dclnet.network import DCLNet, build_dclnet
from pipeline.models.dclnet.settings import DclnetSettings, model_kwargs

SYSU_PROTOCOLS = (("all", 1), ("all", 10), ("indoor", 1), ("indoor", 10))
REPORTED = ("mAP", "mINP", "rank1", "rank5", "rank10", "rank20")
RANKED_TOP_K = 10
log = logging.getLogger(__name__)


def protocol_name(mode: str, shots: int) -> str:
    return f"{mode}_{'single' if shots == 1 else 'multi'}"


def _arrays(rows: Sequence[IndexRow]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    pids = np.array([r.pid for r in rows], dtype=np.int64)
    cams = np.array([r.camera for r in rows], dtype=np.int64)
    return pids, cams, [r.path for r in rows]


def _metrics(summary: dict[str, Any], prefix: str) -> dict[str, float]:
    flat = flat_metrics(summary, prefix)
    return {f"{prefix}_{k}": flat[f"{prefix}_{k}"] for k in REPORTED}


def sysu_scores(
    dist: np.ndarray,
    query: Sequence[IndexRow],
    gallery: Sequence[IndexRow],
    trials: int,
    seed: int,
    permutations: GalleryTrials | None = None,
) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    """The four SYSU-MM01 protocols; returns flat metrics and each protocol's summary.

    ``permutations``: the dataset's fixed trials (``gallery_trials.json``); None: seeded.
    """
    q_pids, q_cams, _ = _arrays(query)
    g_pids, g_cams, g_names = _arrays(gallery)
    flat, summaries = {}, {}
    for mode, shots in SYSU_PROTOCOLS:
        name = protocol_name(mode, shots)
        summaries[name] = evaluate_sysu_mm01(
            dist, q_pids, q_cams, g_pids, g_cams, g_names,
            mode=mode, num_shots=shots, num_trials=trials, seed=seed, permutations=permutations,
        )  # fmt: skip
        flat.update(_metrics(summaries[name], name))
    return flat, summaries


def intra_modality_scores(
    features: np.ndarray, rows: Sequence[IndexRow], modality: str
) -> dict[str, float]:
    """Diagnostic: one modality's images ranked against each other (Market-1501 rule).

    Args:
        features: (N, C) L2-normalised features of ``rows``, all of one modality.
        rows: their index rows.
        modality: ``visible`` or ``infrared``, names the keys.

    Returns:
        ``intra_<modality>_mAP``, ``_mINP`` and ``_rank1``.
    """
    pids, cams, _ = _arrays(rows)
    result = evaluate_rank(cosine_distance(features, features), pids, pids, cams, cams)
    return headline_metrics(result, ranks=(1,), prefix=f"intra_{modality}_")


def regdb_scores(
    dists: Sequence[np.ndarray],
    queries: Sequence[Sequence[IndexRow]],
    galleries: Sequence[Sequence[IndexRow]],
) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    """Both RegDB directions over the splits (query = visible, gallery = thermal rows)."""
    result = evaluate_regdb(
        list(dists), [_arrays(q)[0] for q in queries], [_arrays(g)[0] for g in galleries]
    )
    flat = {}
    for direction in ("v2t", "t2v"):
        flat.update(_metrics(result[direction], direction))
    return flat, result


def _load_model(config: dict, unit: str, model_dir: Path, settings: DclnetSettings) -> DCLNet:
    info = config["units"][unit]
    model = DCLNet(num_classes=int(info["num_classes"]), **model_kwargs(settings))
    model.load_state_dict(load_weights(model_dir / info["model"]))
    return model


def _init_model(config: dict, unit: str, settings: DclnetSettings) -> DCLNet:
    """The untrained network: the weights training started from (seed and pretraining)."""
    return build_dclnet(
        num_classes=int(config["units"][unit]["num_classes"]),
        seed=int(config["seed"]),
        pretrained=settings.model.pretrained,
        **model_kwargs(settings),
    )


def evaluate_dclnet(
    settings: DclnetSettings,
    layout: str,
    config: dict[str, Any],
    *,
    data_dir: str | Path,
    model_dir: str | Path,
    plots_dir: str | Path,
    device: torch.device,
    root: str | Path = ".",
) -> dict[str, float]:
    """Score the trained model and both baselines; write the eval plots.

    Args:
        settings: the settings the models were trained with (``config["settings"]``).
        layout: ``sysu_mm01`` or ``regdb``.
        config: ``models/dclnet/config.json``.
        data_dir: ``data/processed/<dataset>``.
        model_dir: ``models/dclnet``.
        plots_dir: output ``plots/dclnet/eval`` (written atomically).
        device: where the networks run.
        root: the folder index paths are relative to.

    Returns:
        Flat metrics: the trained model's keys, and the same with ``init_`` / ``hist_``
        (SYSU-MM01 adds the ``intra_`` within-modality diagnostics of each).
    """
    data_dir, model_dir, root = Path(data_dir), Path(model_dir), Path(root)
    units = training_units(settings, layout, data_dir)
    missing = sorted({u.name for u in units} - set(config.get("units", {})))
    if missing:
        raise ValueError(f"{model_dir / 'config.json'}: no trained model for {missing}")
    permutations = read_gallery_trials(data_dir) if layout == "sysu_mm01" else None
    if layout == "sysu_mm01":
        log.info(
            "SYSU-MM01 gallery trials: %s",
            "the dataset's rand_perm_cam.mat (gallery_trials.json)"
            if permutations is not None
            else f"no gallery_trials.json: seeded draws (trial_seed {settings.eval.trial_seed} + i)",
        )
    dists: dict[str, list[np.ndarray]] = {k: [] for k in KINDS}
    queries, galleries = [], []
    intra: dict[str, float] = {}
    for unit in units:
        rows = load_test_rows(unit.index_csv)
        queries.append(rows["query"])
        galleries.append(rows["gallery"])
        encoders = {
            "model": model_encoder(
                _load_model(config, unit.name, model_dir, settings), settings, device, root
            ),
            "init": model_encoder(_init_model(config, unit.name, settings), settings, device, root),
            "hist": histogram_encoder(root),
        }
        for kind, encode in encoders.items():
            q_feats, g_feats = encode(rows["query"]), encode(rows["gallery"])
            dists[kind].append(cosine_distance(q_feats, g_feats))
            if layout != "regdb":
                for modality, feats, split in (
                    ("infrared", q_feats, rows["query"]),
                    ("visible", g_feats, rows["gallery"]),
                ):
                    intra.update(prefixed(intra_modality_scores(feats, split, modality), kind))

    def scorer(kind: str):
        def score() -> Scored:
            if layout == "regdb":
                flat, summaries = regdb_scores(dists[kind], queries, galleries)
                return Scored(flat, summaries["t2v"]["cmc"], summaries)
            flat, summaries = sysu_scores(
                dists[kind][0],
                queries[0],
                galleries[0],
                settings.eval.trials,
                settings.eval.trial_seed,
                permutations,
            )
            return Scored(flat, summaries["all_single"]["cmc"], summaries)

        return score

    scores = score_baselines("dclnet", {kind: scorer(kind) for kind in KINDS})

    def draw(folder: Path) -> None:
        write_json(folder / "runs.json", _per_run(scores.details[MODEL]))
        _write_pr_and_ranked(
            folder, layout, dists[MODEL][0], queries[0], galleries[0], settings, root
        )

    write_eval_plots(plots_dir, scores.curves, draw)
    return dict(sorted({**intra, **scores.metrics}.items()))


def _per_run(summaries: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, float]]]:
    """Per trial (SYSU-MM01) or per split (RegDB) mAP and rank-1 of each protocol."""
    out = {}
    for name, summary in summaries.items():
        runs = summary.get("trials") or summary.get("splits") or []
        out[name] = [{"mAP": float(r["mAP"]), "rank1": float(r["cmc"][0])} for r in runs]
    return out


def _write_pr_and_ranked(
    out_dir: Path,
    layout: str,
    dist: np.ndarray,
    query: Sequence[IndexRow],
    gallery: Sequence[IndexRow],
    settings: DclnetSettings,
    root: Path,
) -> None:
    """PR curve and ranked lists of infrared probes against visible images (first unit).

    SYSU-MM01 probes are infrared already; RegDB's query rows are visible, so its
    thermal->visible direction is drawn (the transposed distances).
    """
    if layout == "regdb":
        dist, query, gallery = dist.T, gallery, query
    q_pids, q_cams, q_paths = _arrays(query)
    g_pids, g_cams, g_paths = _arrays(gallery)
    same = q_pids[:, None] == g_pids[None, :]
    write_curve(
        out_dir / "precision_recall.csv", precision_recall_rows(same.ravel(), -dist.ravel())
    )
    if settings.eval.ranked_lists == 0:
        return
    excluded = None
    if layout != "regdb":
        rule = sysu_mm01_exclusion(q_cams, g_cams)
        excluded = np.zeros(dist.shape, dtype=bool)
        for qi in range(len(query)):
            excluded[qi, rule(qi)] = True
    k = min(RANKED_TOP_K, len(gallery))
    ranked = top_k_ranking(dist, excluded, k)
    write_ranked_sample(
        out_dir / "ranked_lists.png",
        [root / p for p in q_paths],
        [root / p for p in g_paths],
        ranked,
        np.take_along_axis(same, ranked, axis=1),
        count=settings.eval.ranked_lists,
        seed=settings.eval.trial_seed,
        top_k=k,
    )
