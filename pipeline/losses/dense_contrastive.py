"""Cross-modality dense (pixel-to-pixel) contrastive loss of DCLNet.

Sun et al., "Not All Pixels Are Matched: Dense Contrastive Learning for
Cross-Modality Person Re-Identification", ACM MM 2022. A visible image and an
infrared image of the same identity are compared pixel by pixel on their
layer1 maps (cosine similarity, temperature 0.05). Every foreground pixel of
one image is an anchor; its positives are the pixels of the other image that
carry the same part label, its contrast set every usable pixel of the other
image (background pixels are negatives only)::

    l(p) = -log( sum_{q: y_q = y_p} exp(s_pq / t) / sum_q exp(s_pq / t) )

in both directions (visible anchors against the infrared map and back), averaged
over all anchors of all pairs. Anchors whose part is absent from the other image
have no positive and are skipped, as are pixels labelled ``-1`` (erased by
augmentation): they take part in nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _anchor_terms(
    logits: torch.Tensor, positive: torch.Tensor, usable: torch.Tensor, anchors: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of ``-log p(positive)`` over anchors that have a positive, and their count.

    Args:
        logits: (N, P, Q) scaled similarities, anchors along P.
        positive: (N, P, Q) bool, same part label.
        usable: (N, 1, Q) bool, pixels of the other image that may be contrasted.
        anchors: (N, P) bool, foreground anchors.
    """
    # A finite floor instead of -inf keeps empty rows (and their gradients) free of NaN.
    floor = torch.finfo(logits.dtype).min
    log_all = logits.masked_fill(~usable, floor).logsumexp(dim=-1)
    positive = positive & usable
    log_pos = logits.masked_fill(~positive, floor).logsumexp(dim=-1)
    counted = anchors & positive.any(dim=-1)
    terms = (log_all - log_pos).masked_fill(~counted, 0.0)
    return terms.sum(), counted.sum()


def dense_contrastive_loss(
    visible_maps: torch.Tensor,
    infrared_maps: torch.Tensor,
    visible_labels: torch.Tensor,
    infrared_labels: torch.Tensor,
    temperature: float = 0.05,
) -> torch.Tensor:
    """Pixel-to-pixel InfoNCE between paired visible and infrared maps.

    Args:
        visible_maps: (N, C, H, W) feature maps; pair ``i`` is ``visible_maps[i]``
            with ``infrared_maps[i]`` (same identity).
        infrared_maps: (N, C, H, W).
        visible_labels: (N, H, W) int: ``-1`` ignored, ``0`` background, ``k > 0`` part k.
        infrared_labels: (N, H, W) int, same convention.
        temperature: softmax temperature (0.05 in DCLNet).

    Returns:
        Scalar mean over all counted anchors of both directions; 0 (still attached
        to the graph) when no anchor has a positive.
    """
    if visible_maps.shape != infrared_maps.shape:
        raise ValueError(
            f"visible maps {tuple(visible_maps.shape)} and infrared maps "
            f"{tuple(infrared_maps.shape)} differ in shape"
        )
    n, _, h, w = visible_maps.shape
    for name, labels in (("visible", visible_labels), ("infrared", infrared_labels)):
        if tuple(labels.shape) != (n, h, w):
            raise ValueError(f"{name} labels {tuple(labels.shape)} do not match maps {(n, h, w)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")

    vis = F.normalize(visible_maps.flatten(2), dim=1)  # (N, C, P)
    ir = F.normalize(infrared_maps.flatten(2), dim=1)
    logits = torch.bmm(vis.transpose(1, 2), ir).clamp(-1.0, 1.0) / temperature  # (N, P, Q)
    y_vis = visible_labels.flatten(1)
    y_ir = infrared_labels.flatten(1)
    same = (y_vis.unsqueeze(2) == y_ir.unsqueeze(1)) & (y_vis.unsqueeze(2) > 0)

    sum_v, count_v = _anchor_terms(logits, same, (y_ir >= 0).unsqueeze(1), y_vis > 0)
    sum_r, count_r = _anchor_terms(
        logits.transpose(1, 2), same.transpose(1, 2), (y_vis >= 0).unsqueeze(1), y_ir > 0
    )
    count = (count_v + count_r).clamp(min=1).to(logits.dtype)
    return (sum_v + sum_r) / count


def pair_by_identity(visible_pids: torch.Tensor, infrared_pids: torch.Tensor) -> torch.Tensor:
    """Index pairs ``(visible i, infrared j)`` of one identity, the k-th of each matched.

    For every identity present in both modalities, its visible images (in batch
    order) are zipped with its infrared images; surplus images stay unpaired.

    Returns:
        int64 (M, 2).
    """
    pairs: list[tuple[int, int]] = []
    vis = visible_pids.tolist()
    ir = infrared_pids.tolist()
    for pid in sorted(set(vis) & set(ir)):
        v_idx = [i for i, p in enumerate(vis) if p == pid]
        r_idx = [j for j, p in enumerate(ir) if p == pid]
        pairs.extend(zip(v_idx, r_idx, strict=False))
    return torch.tensor(pairs, dtype=torch.long).reshape(-1, 2)
