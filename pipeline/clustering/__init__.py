"""Pseudo labels for unsupervised re-id, shared by the SCL track and DICL.

- ``neighbours``: kNN ranked lists, self first: exact (faiss or chunked numpy), int8 search
  re-ranked in float32, or faiss IVF.
- ``jaccard``: k-reciprocal Jaccard distance (Zhong et al., CVPR 2017).
- ``sparse_jaccard``: its pairs within a radius, in time and memory linear in the pairs.
- ``progress``: progress bars that appear only on long steps.
- ``pseudo_labels``: DBSCAN / HDBSCAN with deterministic labels and an outlier policy.
- ``cannot_link``: DICL's context rule (two boxes of one image never share a cluster).
- ``reliability``: SpCL's independence / compactness criterion over three eps.
- ``quality``: cluster count, outlier share, NMI / ARI / pairwise F1 vs true ids.
"""

from pipeline.clustering.cannot_link import split_cannot_link
from pipeline.clustering.jaccard import (
    compute_jaccard_distance,
    compute_sparse_jaccard_distance,
    jaccard_distance,
    k_reciprocal_encoding,
    knn,
    knn_from_distmat,
    l2_normalize,
    sparse_jaccard_distance,
)
from pipeline.clustering.pseudo_labels import (
    apply_outlier_policy,
    canonical_labels,
    cluster,
)
from pipeline.clustering.quality import label_quality
from pipeline.clustering.reliability import (
    ReliabilityResult,
    independence_threshold,
    reliability_filter,
    reliable_cluster,
)

__all__ = [
    "ReliabilityResult",
    "apply_outlier_policy",
    "canonical_labels",
    "cluster",
    "compute_jaccard_distance",
    "compute_sparse_jaccard_distance",
    "independence_threshold",
    "jaccard_distance",
    "k_reciprocal_encoding",
    "knn",
    "knn_from_distmat",
    "l2_normalize",
    "label_quality",
    "reliability_filter",
    "reliable_cluster",
    "sparse_jaccard_distance",
    "split_cannot_link",
]
