"""Quality of a round of pseudo labels, against true identities when known.

Reported each clustering round of the unsupervised track (docs/methods.md, "SCL"):
cluster count and outlier share, and, when the data carries held-back identities,
NMI and ARI (scikit-learn) and pairwise precision / recall / F1 (the share of
same-cluster pairs that are one person, and of same-person pairs that share a
cluster). Outliers count as clusters of their own in every comparison, so the
"drop" and "singleton" policies score the same. Samples whose true id is
negative (identity unknown, e.g. person-search boxes labelled -1) are left out
of the comparisons. NMI is lenient to over-splitting (all singletons still score
well above 0); ARI and pairwise recall are not, so read them together.
"""

from __future__ import annotations

import numpy as np


def _pairs(counts: np.ndarray) -> int:
    counts = counts.astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def label_quality(labels: np.ndarray, true_ids: np.ndarray | None = None) -> dict[str, float | int]:
    """Summary statistics of pseudo labels.

    Args:
        labels: (N,) pseudo labels, negative = dropped outlier.
        true_ids: optional (N,) true identities; negative = unknown.

    Returns:
        Flat dict. Always: ``num_samples``, ``num_clusters`` (clusters of two or
        more samples), ``num_singletons`` (one-sample clusters), ``num_dropped``
        (label < 0), ``outlier_share`` ((singletons + dropped) / N),
        ``mean_cluster_size`` and ``max_cluster_size`` (over clusters of two or
        more; 0 if none). With ``true_ids``: ``num_true_ids``, ``nmi``, ``ari``,
        ``pairwise_precision``, ``pairwise_recall``, ``pairwise_f1`` (0 when
        undefined), over the samples with a known id.
    """
    labels = np.asarray(labels).ravel().astype(np.int64)
    n = labels.size
    if n == 0:
        raise ValueError("labels: empty")
    kept = labels >= 0
    _, sizes = np.unique(labels[kept], return_counts=True)
    multi = sizes[sizes > 1]
    stats: dict[str, float | int] = {
        "num_samples": n,
        "num_clusters": int(multi.size),
        "num_singletons": int((sizes == 1).sum()),
        "num_dropped": int((~kept).sum()),
        "outlier_share": float(((sizes == 1).sum() + (~kept).sum()) / n),
        "mean_cluster_size": float(multi.mean()) if multi.size else 0.0,
        "max_cluster_size": int(multi.max()) if multi.size else 0,
    }
    if true_ids is None:
        return stats

    true_ids = np.asarray(true_ids).ravel()
    if true_ids.shape != labels.shape:
        raise ValueError(f"true_ids: expected shape {labels.shape}, got {true_ids.shape}")
    known = true_ids >= 0
    # Dropped outliers become singletons so that both outlier policies compare alike.
    pred = np.where(kept, labels, labels.max(initial=-1) + 1 + np.arange(n))[known]
    truth = true_ids[known]
    stats["num_true_ids"] = int(np.unique(truth).size)
    if pred.size == 0:
        stats.update(nmi=0.0, ari=0.0, pairwise_precision=0.0, pairwise_recall=0.0, pairwise_f1=0.0)
        return stats
    # Imported here: scikit-learn takes about 1 s to import, and most stages never call this.
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    stats["nmi"] = float(normalized_mutual_info_score(truth, pred))
    stats["ari"] = float(adjusted_rand_score(truth, pred))
    _, pred_codes = np.unique(pred, return_inverse=True)
    _, true_codes = np.unique(truth, return_inverse=True)
    _, cell_counts = np.unique(
        pred_codes.ravel() * (true_codes.max() + 1) + true_codes.ravel(), return_counts=True
    )
    same_both = _pairs(cell_counts)
    same_pred = _pairs(np.bincount(pred_codes.ravel()))
    same_true = _pairs(np.bincount(true_codes.ravel()))
    precision = same_both / same_pred if same_pred else 0.0
    recall = same_both / same_true if same_true else 0.0
    stats["pairwise_precision"] = precision
    stats["pairwise_recall"] = recall
    stats["pairwise_f1"] = 2 * precision * recall / (precision + recall) if same_both else 0.0
    return stats
