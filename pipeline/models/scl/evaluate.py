"""Evaluate the SCL track on query/gallery (Market-1501 protocol) with two baselines.

Distance, as the official SCL evaluation computes it (``utils/reid_metric.py``):
``lambda_g * |g_q - g_g| + (1 - lambda_g) * mean_s |l_q,s - l_g,s| + c * [same camera]``
(Euclidean, not squared; lambda_g = 0.5, c = 0.05). Metrics via
``pipeline.evaluation.reid.evaluate_rank`` (same-id same-camera gallery items
removed per query): ``mAP``, ``rank1``, ``rank5``, ``rank10``, ``mINP`` for

- the trained model (``model.pt``),
- ``init_``: the same network untrained (built with the training seed, with the
  ImageNet weights when the dataset option uses them),
- ``hist_``: striped HSV colour histograms (``pipeline.models.color_histogram``),
  Euclidean, with the same camera term so that only the descriptor differs.

Also written: CMC curves of the three (``cmc.csv``, for ``dvc plots``) and
ranked-list pictures of a seeded sample of queries. The frame (prefixes, curves,
ranked lists) is the one DCLNet shares: ``pipeline.evaluation.baselines``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from pipeline.checkpoint import load_weights
from pipeline.evaluation.baselines import (
    Scored,
    TopK,
    score_baselines,
    write_eval_plots,
    write_ranked_sample,
)
from pipeline.evaluation.reid import evaluate_rank, headline_metrics
from pipeline.io import write_json
from pipeline.models.color_histogram import color_histogram_features
from pipeline.models.scl.data import loader, test_dataset
from pipeline.models.scl.network import build_net_for, pretrained_path
from pipeline.models.scl.rounds import extract_embeddings
from pipeline.models.scl.settings import SCLSettings
from pipeline.params import validate
from pipeline.runtime import Runtime

RANKED_TOP_K = 10


def mixed_distance_blocks(
    query: tuple[torch.Tensor, torch.Tensor],
    gallery: tuple[torch.Tensor, torch.Tensor],
    q_cams: np.ndarray,
    g_cams: np.ndarray,
    *,
    lambda_g: float,
    camera_penalty: float,
    chunk: int = 512,
) -> Iterator[np.ndarray]:
    """Query-row blocks of the paper's test distance (bounded memory).

    Args:
        query: ``(global (Q, Dg), local (Q, S, Dl))``; gallery: the same for G images.
        q_cams, g_cams: camera ids.

    Yields:
        ``(c, G)`` float32 blocks in query order.
    """
    qg, ql = query
    gg, gl = gallery
    g_cams_t = torch.as_tensor(g_cams)
    for start in range(0, qg.shape[0], chunk):
        stop = min(start + chunk, qg.shape[0])
        block = lambda_g * torch.cdist(qg[start:stop], gg)
        local = torch.zeros_like(block)
        for s in range(ql.shape[1]):
            local += torch.cdist(ql[start:stop, s], gl[:, s])
        block += (1.0 - lambda_g) * local / ql.shape[1]
        same = torch.as_tensor(q_cams[start:stop])[:, None] == g_cams_t[None, :]
        block += camera_penalty * same.float()
        yield block.numpy()


def histogram_distance_blocks(
    q_feats: np.ndarray,
    g_feats: np.ndarray,
    q_cams: np.ndarray,
    g_cams: np.ndarray,
    *,
    camera_penalty: float,
    chunk: int = 512,
) -> Iterator[np.ndarray]:
    """Euclidean distance of histogram descriptors plus the same camera term."""
    g = torch.from_numpy(np.ascontiguousarray(g_feats, dtype=np.float32))
    for start in range(0, q_feats.shape[0], chunk):
        q = torch.from_numpy(np.ascontiguousarray(q_feats[start : start + chunk], dtype=np.float32))
        same = torch.from_numpy(q_cams[start : start + chunk][:, None] == g_cams[None, :])
        yield (torch.cdist(q, g) + camera_penalty * same.float()).numpy()


def load_trained_config(model_dir: str | Path) -> tuple[SCLSettings, int]:
    """The settings and seed the model in ``model_dir`` was trained with."""
    path = Path(model_dir) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found; run the train_scl stage first") from None
    return validate(SCLSettings, config["settings"], prefix=str(path)), int(config["seed"])


def evaluate_scl(
    settings: SCLSettings,
    *,
    model_dir: str | Path,
    index_csv: str | Path,
    root: str | Path,
    metrics_path: str | Path,
    plots_dir: str | Path,
    runtime: Runtime,
    pretrained_cache: str | Path,
) -> dict[str, float]:
    """Evaluate the trained model and both baselines; write metrics, CMC data, ranked lists.

    Args:
        settings: the current ``scl`` settings (its ``eval`` keys are used); the
            network itself is rebuilt from ``model_dir/config.json``.
        model_dir: the train stage's output (``model.pt``, ``config.json``).
        index_csv, root: the processed dataset and the folder its paths are relative to.
        metrics_path: ``metrics/scl.json``.
        plots_dir: ``plots/scl/eval`` (replaced atomically).
        runtime: device; evaluation runs on the main process only.
        pretrained_cache: where ImageNet weights are cached (for the init_ baseline).

    Returns:
        The flat metrics written.
    """
    trained_settings, seed = load_trained_config(model_dir)
    ev = settings.eval
    d = trained_settings.data
    query = test_dataset(index_csv, root, "query", height=d.height, width=d.width)
    gallery = test_dataset(index_csv, root, "gallery", height=d.height, width=d.width)
    if len(query) == 0 or len(gallery) == 0:
        raise ValueError(
            f"{index_csv}: needs query and gallery rows ({len(query)}, {len(gallery)})"
        )
    q_pids, g_pids, q_cams, g_cams = query.pids, gallery.pids, query.cameras, gallery.cameras

    def features(net) -> tuple[tuple, tuple]:
        net = net.to(runtime.device).eval()
        out = []
        for ds in (query, gallery):
            data = loader(ds, batch_size=d.test_batch_size, num_workers=d.num_workers, seed=seed)
            g, loc, _ = extract_embeddings(net, data, runtime.device, desc="eval features")
            out.append((g, loc))
        return out[0], out[1]

    def score(blocks, details=None) -> Scored:
        result = evaluate_rank(blocks, q_pids, g_pids, q_cams, g_cams, ev.max_rank)
        return Scored(headline_metrics(result, ranks=(1, 5, 10)), result["cmc"], details)

    def mixed(net) -> Iterator[np.ndarray]:
        qf, gf = features(net)
        return mixed_distance_blocks(
            qf, gf, q_cams, g_cams, lambda_g=ev.lambda_g, camera_penalty=ev.camera_penalty
        )

    def junk(rows: slice) -> np.ndarray:
        """Same id and same camera: not a valid match (the protocol), not shown either."""
        return (q_pids[rows, None] == g_pids[None]) & (q_cams[rows, None] == g_cams[None])

    def trained_score() -> Scored:
        trained = build_net_for(trained_settings, None, seed)
        trained.load_state_dict(load_weights(Path(model_dir) / "model.pt"))
        top = TopK(mixed(trained), junk, RANKED_TOP_K)  # the ranked lists, while ranking
        return score(top, details=top)

    def init_score() -> Scored:
        weights = pretrained_path(trained_settings, runtime, pretrained_cache)
        return score(mixed(build_net_for(trained_settings, weights, seed)))

    root = Path(root)

    def hist_score() -> Scored:
        qh = color_histogram_features([root / p for p in query.paths])
        gh = color_histogram_features([root / p for p in gallery.paths])
        return score(
            histogram_distance_blocks(qh, gh, q_cams, g_cams, camera_penalty=ev.camera_penalty)
        )

    scores = score_baselines(
        "scl", {"model": trained_score, "init": init_score, "hist": hist_score}
    )
    write_json(metrics_path, scores.metrics)

    def draw(folder: Path) -> None:
        ranked = scores.details["model"].ranking()
        write_ranked_sample(
            folder / "ranked_lists.png",
            [root / p for p in query.paths],
            [root / p for p in gallery.paths],
            ranked,
            q_pids[:, None] == g_pids[ranked],
            count=ev.ranked_lists,
            seed=seed,
            top_k=RANKED_TOP_K,
        )

    write_eval_plots(plots_dir, scores.curves, draw)
    return scores.metrics
