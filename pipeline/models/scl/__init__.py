"""Fully unsupervised re-id with selective contrastive learning and DBSCAN pseudo labels.

Pang et al., "Fully Unsupervised Person Re-Identification via Selective
Contrastive Learning", ACM TOMM 2022 (official code: pangbo1997/Unsup_ReID),
with the pseudo-label rounds of the cluster-contrast family (docs/methods.md,
"SCL"). Modules, one concept each:

- ``settings``: the ``scl`` params section (validation);
- ``backbone``, ``network``: ResNet trunk (last stride 1, ImageNet weights) with
  the global and eight-stripe local embeddings;
- ``memory``: global, local and mixture banks, cluster memory, update rules;
- ``selection``: the mixed distance and the positive/negative selection rules;
- ``rounds``: feature extraction and one pseudo-label round;
- ``data``: datasets, the seeded DDP-aware batch sampler;
- ``trainer``: one epoch and the resumable state; ``train``: the stage's entry point;
- ``evaluate``: query/gallery metrics, baselines, CMC data and ranked lists.

The losses live in ``pipeline.losses.selective_contrastive`` and
``pipeline.losses.cluster_contrast``.
"""
