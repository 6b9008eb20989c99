"""DCLNet's training objective: every loss of the paper, each with a switch and a weight.

Sun et al., ACM MM 2022 (docs/methods.md, "DCLNet"). Per batch of B visible + B
infrared images (identity order shared by both halves):

* ``id``: cross-entropy of the BNNeck feature's ID logits;
* ``center_triplet``: centre pull + centre hinge (margin 0.7) on GeM features, the
  hinge at the official anchor rows (every ``ids_per_batch``-th row);
* ``part``: cross-entropy of the part branch's ID logits;
* ``pixel``: parser fg/bg + part cross-entropy against the class-activation part
  masks (PAP supervision);
* ``smooth``: L1 smoothness of the parser logits;
* ``dense``: pixel-to-pixel InfoNCE between the layer1 maps of paired visible and
  infrared images of one identity, positives sharing a part label, foreground only.
  The labels: the parser's (PAP) or fixed stripes (PAP off), then rectified by the
  official ``remask`` (SRM on).

Pixels erased by random erasing are ignored by the pixel and dense losses. The
official training script computes all of these but adds only ``id`` +
``center_triplet``; this project adds every enabled loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pipeline.losses.center_triplet import center_triplet_loss
from pipeline.losses.dense_contrastive import dense_contrastive_loss, pair_by_identity
from pipeline.losses.pixel_parsing import pixel_parsing_loss
from pipeline.losses.smoothness import smoothness_loss
from pipeline.models.dclnet.network import TrainOutputs
from pipeline.models.dclnet.part_masks import (
    BACKGROUND,
    apply_ignore,
    cam_part_masks,
    kept_pixels,
    parsing_masks,
    remask,
    stripe_masks,
)
from pipeline.models.dclnet.settings import (
    DclnetSettings,
    LossSettings,
    PapSettings,
    SrmSettings,
)

LOSS_NAMES = ("id", "center_triplet", "part", "pixel", "smooth", "dense")


@dataclass
class BatchMasks:
    """The label maps of one batch at the layer1 resolution (see ``part_masks``)."""

    cam: torch.Tensor  # (2B, H, W) class-activation part masks: the parser's targets
    parsed: torch.Tensor  # (2B, H, W) the dense loss's labels (parsed or stripes, rectified)


class DclnetObjective:
    """Weighted sum of the enabled losses.

    Args:
        losses: switches, weights and loss parameters.
        pap: whether the parser's labels (or fixed stripes) feed the dense loss.
        srm: whether and how the masks are rectified.
        parts: number of part classes.
        ids_per_batch: identities per batch: the centre-triplet hinge's anchor stride
            (the official ``k_size=args.batch_size``, train_ddag.py:235).
    """

    def __init__(
        self,
        losses: LossSettings,
        pap: PapSettings,
        srm: SrmSettings,
        parts: int,
        ids_per_batch: int,
    ) -> None:
        self.losses = losses
        self.pap = pap
        self.srm = srm
        self.parts = parts
        self.ids_per_batch = ids_per_batch

    @classmethod
    def from_settings(cls, settings: DclnetSettings) -> DclnetObjective:
        """The objective a ``dclnet`` section configures."""
        return cls(
            settings.loss,
            settings.pap,
            settings.srm,
            settings.model.parts,
            settings.sampler.ids_per_batch,
        )

    def enabled(self) -> list[str]:
        return [n for n in LOSS_NAMES if getattr(self.losses, n).enabled]

    @torch.no_grad()
    def masks(
        self,
        out: TrainOutputs,
        labels: torch.Tensor,
        images: torch.Tensor,
        part_weight: torch.Tensor,
    ) -> BatchMasks:
        """Class-activation masks and the dense loss's masks, erased pixels set to -1."""
        size = tuple(out.pixel_logits.shape[-2:])
        cam_ids = labels if self.srm.cam_label == "target" else out.logits.argmax(dim=1)
        cam = cam_part_masks(out.high, part_weight, cam_ids, self.parts, size)
        kept = kept_pixels(images, size)
        if self.pap.enabled:
            parsed = apply_ignore(parsing_masks(out.pixel_logits), kept)
        else:
            parsed = apply_ignore(stripe_masks(len(labels), size, self.parts, labels.device), kept)
        if self.srm.enabled:
            # As train_ddag.py:455: the parser's labels make the prototypes and its
            # foreground is kept; over stripes (no PAP) remask decides the foreground.
            low = torch.cat((out.visible_low, out.infrared_low), dim=0).detach()
            fg = parsed if self.pap.enabled else None
            parsed = apply_ignore(remask(low, parsed, self.parts, self.srm.window, fg), kept)
        return BatchMasks(cam=apply_ignore(cam, kept), parsed=parsed)

    def __call__(
        self,
        out: TrainOutputs,
        labels: torch.Tensor,
        images: torch.Tensor,
        part_weight: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and per-term values for logging.

        Args:
            out: the model's training outputs for visible + infrared images.
            labels: (2B,) identity labels, visible half first.
            images: (2B, 3, H, W) the input images in the same order (erased pixels = 0).
            part_weight: the part classifier's weight, for the class activations.
        """
        masks = self.masks(out, labels, images, part_weight)
        terms: dict[str, torch.Tensor] = {}
        cfg = self.losses
        if cfg.id.enabled:
            terms["id"] = F.cross_entropy(out.logits, labels)
        if cfg.center_triplet.enabled:
            terms["center_triplet"] = center_triplet_loss(
                out.pooled, labels, cfg.center_triplet.margin, self.ids_per_batch
            )
        if cfg.part.enabled:
            terms["part"] = F.cross_entropy(out.part_logits, labels)
        if cfg.pixel.enabled:
            terms["pixel"] = pixel_parsing_loss(out.pixel_logits, masks.cam)
        if cfg.smooth.enabled:
            terms["smooth"] = smoothness_loss(out.pixel_logits)
        if cfg.dense.enabled:
            terms["dense"] = self._dense(out, labels, masks.parsed)

        total = sum(getattr(cfg, name).weight * value for name, value in terms.items())
        if not terms:
            raise ValueError("every dclnet loss is disabled: nothing to train")
        logged = {f"loss_{name}": float(value.detach()) for name, value in terms.items()}
        logged["loss"] = float(total.detach())
        logged["id_accuracy"] = float((out.logits.argmax(dim=1) == labels).float().mean())
        # Share of pixels the dense loss can use as anchors (foreground, not erased).
        logged["dense_pixels"] = float((masks.parsed > BACKGROUND).float().mean())
        return total, logged

    def _dense(self, out: TrainOutputs, labels: torch.Tensor, parsed: torch.Tensor):
        b = out.visible_low.shape[0]
        pairs = pair_by_identity(labels[:b], labels[b:]).to(labels.device)
        if len(pairs) == 0:
            return out.visible_low.sum() * 0.0
        vis, ir = pairs[:, 0], pairs[:, 1]
        return dense_contrastive_loss(
            out.visible_low[vis],
            out.infrared_low[ir],
            parsed[:b][vis],
            parsed[b:][ir],
            self.losses.dense.temperature,
        )
