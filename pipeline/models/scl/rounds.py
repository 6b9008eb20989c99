"""One pseudo-label round of the unsupervised track (docs/methods.md, "SCL").

Before each post-warm-up epoch in cluster mode: embed every training image,
mix the global and stripe embeddings into one unit vector whose squared
distance is the paper's selection distance (``network.mixed_embedding``),
k-reciprocal Jaccard distance (k1 = 30, k2 = 6), DBSCAN (eps 0.6, min_samples 4)
or HDBSCAN, outliers dropped (label -1). Label quality against the true ids is
computed for the report only; the ids never reach training.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from pipeline.clustering.jaccard import compute_jaccard_distance, compute_sparse_jaccard_distance
from pipeline.clustering.pseudo_labels import cluster
from pipeline.clustering.quality import label_quality
from pipeline.engine.features import extract_features
from pipeline.models.scl.network import mixed_embedding


@torch.no_grad()
def extract_embeddings(
    model: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    data: DataLoader,
    device: torch.device,
    *,
    desc: str = "features",
) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Global and stripe embeddings of every image of ``data`` (the caller sets eval mode).

    Returns:
        ``(global (N, Dg), local (N, S, Dl), rest)`` on the CPU, float32, in loader
        order; ``rest`` holds the loader's other fields (pid, camera, index, ...).
    """
    shape: list[int] = []

    def embed(images: torch.Tensor) -> torch.Tensor:
        g, loc = model(images)
        shape[:] = [g.shape[1], loc.shape[1], loc.shape[2]]
        return torch.cat([g, loc.flatten(1)], dim=1)

    feats, rest = extract_features(embed, data, device, desc=desc, normalize=False)
    feats = torch.from_numpy(feats)
    if not shape:
        raise ValueError("extract_embeddings: the loader yielded no images")
    dg, stripes, dl = shape
    return feats[:, :dg].clone(), feats[:, dg:].reshape(-1, stripes, dl).clone(), rest


def pseudo_labels(
    global_feats: torch.Tensor,
    local_feats: torch.Tensor,
    *,
    lambda_g: float,
    method: str,
    knn: str = "exact",
    knn_device: torch.device | None = None,
    k1: int,
    k2: int,
    eps: float,
    min_samples: int,
) -> np.ndarray:
    """Cluster the training images; return ``(N,)`` int64 labels, -1 = dropped outlier.

    DBSCAN reads a sparse Jaccard matrix holding only pairs within ``eps`` (the
    pairs it can link), so memory stays linear in N; HDBSCAN needs the dense one.
    ``knn`` picks the neighbour search ("exact", "int8", the approximate "ivf", or
    "torch" on ``knn_device``, the trainer's device).
    """
    mixed = mixed_embedding(global_feats, local_feats, lambda_g).numpy()
    if method == "dbscan":
        distance = compute_sparse_jaccard_distance(
            mixed, k1, k2, max_distance=eps, knn_route=knn, knn_device=knn_device
        )
    else:
        distance = compute_jaccard_distance(mixed, k1, k2, knn_route=knn, knn_device=knn_device)
    return cluster(distance, method, eps, min_samples, outliers="drop")


def round_quality(labels: np.ndarray, true_ids: np.ndarray | None) -> dict[str, float]:
    """The per-round figures the training plots show (clusters, outliers, NMI, ARI, ...)."""
    stats = label_quality(labels, true_ids)
    keys = (
        "num_clusters",
        "outlier_share",
        "mean_cluster_size",
        "nmi",
        "ari",
        "pairwise_precision",
        "pairwise_recall",
    )
    return {k: float(stats[k]) for k in keys if k in stats}
