"""DICL pseudo labels for the memory slots, computed before every epoch.

Official ``ClusterHook`` + ``label_generator_dbscan_context``: the memory's slot
features (L2-normalised) -> k-reciprocal Jaccard distance (k1 = 30, k2 = 6) ->
DBSCAN at eps 0.68 / 0.70 / 0.72 with the context rule applied to each run (two
boxes of one image never share a cluster: the one closest to the cluster centre
stays) -> SpCL's reliability criterion on the middle run; outliers and
unreliable members become singleton clusters (``use_outliers``). The
independence threshold is fixed at the first round and reused, as SpCL does.
The clustering itself lives in ``pipeline.clustering``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.clustering import (
    cluster,
    compute_sparse_jaccard_distance,
    l2_normalize,
    label_quality,
    reliable_cluster,
)


@dataclass(frozen=True)
class PseudoLabelConfig:
    """Clustering settings (``dicl.pseudo_labels``)."""

    knn: str = "exact"
    k1: int = 30
    k2: int = 6
    eps: tuple[float, float, float] = (0.68, 0.70, 0.72)
    min_samples: int = 2
    context: bool = True
    reliability: bool = True
    instance_epochs: int = 0

    @classmethod
    def from_cfg(cls, cfg) -> PseudoLabelConfig:
        """From ``cfg.MODEL.DICL.PSEUDO``."""
        p = cfg.MODEL.DICL.PSEUDO
        return cls(
            knn=p.KNN,
            k1=p.K1,
            k2=p.K2,
            eps=tuple(p.EPS),
            min_samples=p.MIN_SAMPLES,
            context=p.CONTEXT,
            reliability=p.RELIABILITY,
            instance_epochs=p.INSTANCE_EPOCHS,
        )


@dataclass(frozen=True)
class PseudoLabels:
    """One round's labels and what to plot about them.

    Attributes:
        labels: (M,) int64 labels in [0, C): clusters first, then singletons.
        indep_threshold: the reliability threshold to reuse next round (or None).
        stats: cluster count, singletons, outlier share, and, against the
            held-back identities (statistics only), NMI / ARI / pairwise F1.
    """

    labels: np.ndarray
    indep_threshold: float | None
    stats: dict[str, float]


def assign_pseudo_labels(
    features: np.ndarray,
    slot_image: np.ndarray,
    config: PseudoLabelConfig,
    *,
    indep_threshold: float | None = None,
    held_back_ids: np.ndarray | None = None,
    instance_level: bool = False,
    knn_device=None,
) -> PseudoLabels:
    """Cluster the memory slots.

    Args:
        features: (M, D) slot features.
        slot_image: (M,) image of each slot (the context rule's groups).
        config: clustering settings.
        indep_threshold: threshold of an earlier round (None: derive it).
        held_back_ids: (M,) true ids for the statistics only (-1 unknown).
        instance_level: skip clustering, every slot its own label (warm-up epochs).
        knn_device: where ``knn: torch`` searches (the memory's device; None: the
            first GPU, else the CPU).

    Returns:
        :class:`PseudoLabels`.
    """
    feats = l2_normalize(np.asarray(features, dtype=np.float32))
    n = feats.shape[0]
    groups = np.asarray(slot_image) if config.context else None
    if instance_level or n <= config.k1:
        # Warm-up, or too few slots for the k-reciprocal neighbourhood.
        labels = np.arange(n, dtype=np.int64)
    else:
        distance = compute_sparse_jaccard_distance(
            feats,
            config.k1,
            config.k2,
            max_distance=max(config.eps),
            knn_route=config.knn,
            knn_device=knn_device,
        )
        if config.reliability:
            result = reliable_cluster(
                distance,
                config.eps,
                config.min_samples,
                outliers="singleton",
                cannot_link_groups=groups,
                features=feats,
                indep_threshold=indep_threshold,
            )
            labels, indep_threshold = result.labels, result.indep_threshold
        else:
            labels = cluster(
                distance,
                "dbscan",
                sorted(config.eps)[1],
                config.min_samples,
                outliers="singleton",
                cannot_link_groups=groups,
                features=feats,
            )
    quality = label_quality(labels, held_back_ids)
    stats = {k: float(v) for k, v in quality.items() if k != "num_samples"}
    return PseudoLabels(
        labels=np.asarray(labels, dtype=np.int64), indep_threshold=indep_threshold, stats=stats
    )
