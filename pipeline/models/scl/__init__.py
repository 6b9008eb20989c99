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
- ``trainer``: one epoch and the resumable state; ``train``: training end to end;
- ``evaluate``: query/gallery metrics, baselines, CMC data and ranked lists;
- ``entry``: the track's contract, ``build_model``, ``train_model`` and ``evaluate_model``, the same
  three functions every track exposes (re-exported here).

The losses live in ``pipeline.losses.selective_contrastive`` and
``pipeline.losses.cluster_contrast``.
"""

from pipeline.models.scl.entry import build_model, evaluate_model, train_model

__all__ = ["build_model", "evaluate_model", "train_model"]
