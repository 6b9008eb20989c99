"""DICL as a detectron2 meta-architecture: one-step person search with a Siamese crop branch.

Paper: Wang et al., "Deep Intra-Image Contrastive Learning for Weakly Supervised
One-Step Person Search" (Pattern Recognition 2024); official
``TwoStageDetectorsiamese``. The structure differs from ``GeneralizedRCNN`` in
three places, which is why this is a new meta-architecture (docs/style.md, "Extend
detectron2, don't fork it"):

* training masks random grid cells of the ground-truth boxes in the scene image
  (OIC) before the backbone, while the crops come from the unmasked image;
* every ground-truth box is cropped to 224x96 and re-encoded by the shared
  backbone, neck and embedding (the Siamese branch), and the re-id losses tie the
  scene and crop embeddings (``ReidCriterion``);
* at test, every kept detection's proposal box is cropped and re-encoded, and its
  embedding is the L2-normalised mean of the scene and crop embeddings.

Supervision is boxes only: the inputs carry each box's memory slot, never an identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.structures import Boxes, Instances

from pipeline.losses.memory_contrast import HybridMemory
from pipeline.models.dicl.crops import crop_boxes
from pipeline.models.dicl.occlusion import mask_boxes
from pipeline.models.dicl.reid_criterion import LossSwitches, ReidCriterion
from pipeline.runtime import autocast_region


def _float32_outputs(module, inputs, outputs):
    """Forward hook: the RPN head's objectness logits and anchor deltas as float32, so
    proposal selection (top-k, NMS) and the RPN losses run in fp32 under bf16 autocast
    (mmdet's ``force_fp32`` on its heads' ``loss`` and ``get_bboxes`` does the same)."""
    return tuple([t.float() for t in level] for level in outputs)


@META_ARCH_REGISTRY.register()
class DICLPersonSearch(GeneralizedRCNN):
    """Faster R-CNN with a re-id embedding, a Siamese crop branch, OIC and the DICL losses.

    Args:
        criterion: the re-id losses and the hybrid memory.
        crop_size: ``(height, width)`` of the crop branch; None switches the branch off.
        oic: ``{"prob", "grid", "cells"}`` for occlusion masking, or None.
        precision: ``bf16``: the training forward pass (backbone, RPN and RoI heads, crop
            branch) runs under bfloat16 autocast and the losses in float32; ``fp32``:
            as it always did (``runtime.precision``, through ``cfg.SOLVER.AMP.ENABLED``).
        **kwargs: ``GeneralizedRCNN`` arguments (backbone, proposal_generator,
            roi_heads (``DICLROIHeads``), pixel_mean, pixel_std, input_format).
    """

    @configurable
    def __init__(
        self,
        *,
        criterion: ReidCriterion,
        crop_size: tuple[int, int] | None,
        oic: dict | None,
        precision: str,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.criterion = criterion
        self.crop_size = tuple(crop_size) if crop_size is not None else None
        self.oic = oic
        self.precision = precision
        if precision == "bf16":
            self.proposal_generator.rpn_head.register_forward_hook(_float32_outputs)
        (self.feature_name,) = self.backbone.output_shape().keys()

    @classmethod
    def from_config(cls, cfg) -> dict:
        ret = super().from_config(cfg)
        d, L = cfg.MODEL.DICL, cfg.MODEL.DICL.LOSS
        memory = HybridMemory(
            d.MEMORY_SIZE,
            d.EMBEDDING_DIM,
            temperature=L.MEMORY_TEMPERATURE,
            momentum=L.MEMORY_MOMENTUM,
            hard_negative_mass=L.MEMORY_HARD_NEGATIVE_MASS,
        )
        switches = LossSwitches(
            memory=L.MEMORY_WEIGHT if L.MEMORY_ENABLED else None,
            sic_many_to_one=L.SIC_M2O_WEIGHT if L.SIC_M2O_ENABLED else None,
            sic_dense=L.SIC_DENSE_WEIGHT if L.SIC_DENSE_ENABLED else None,
            triplet=L.TRIPLET_WEIGHT if L.TRIPLET_ENABLED else None,
            triplet_margin=L.TRIPLET_MARGIN,
            triplet_background_weight=L.TRIPLET_BG_WEIGHT,
        )
        oic = None
        if d.OIC.ENABLED:
            oic = {"prob": d.OIC.PROB, "grid": tuple(d.OIC.GRID), "cells": d.OIC.CELLS}
        ret.update(
            criterion=ReidCriterion(memory, switches),
            crop_size=tuple(d.CROP_SIZE) if d.CROP_ENABLED else None,
            oic=oic,
            # detectron2's AMP switch; DICL's AMP is bfloat16 without a GradScaler.
            precision="bf16" if cfg.SOLVER.AMP.ENABLED else "fp32",
        )
        return ret

    @property
    def memory(self) -> HybridMemory:
        return self.criterion.memory

    def encode_crops(self, images: torch.Tensor, boxes: list[torch.Tensor]) -> torch.Tensor:
        """Crop ``boxes`` from the normalised ``images`` and embed them (crop branch)."""
        crops = crop_boxes(images, boxes, self.crop_size)
        if crops.shape[0] == 0:
            return crops.new_zeros(0, self.roi_heads.box_head.embedding.out_features)
        return self.roi_heads.embed_crops(self.backbone(crops)[self.feature_name])

    def forward(self, batched_inputs: list[dict]):
        """Training: a dict of losses. Eval: ``[{"instances": Instances}]`` per image.

        Training inputs carry ``instances`` with ``gt_boxes``, ``gt_classes`` and
        ``gt_memory_index`` (the box's memory slot); see ``pipeline.models.dicl.data``.
        """
        if not self.training:
            return self.inference(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        targets = [x["instances"].to(self.device) for x in batched_inputs]
        start = 0
        for t in targets:  # index of each box among the batch's boxes
            t.gt_batch_index = torch.arange(start, start + len(t), device=self.device)
            start += len(t)
        gt_boxes = [t.gt_boxes.tensor for t in targets]

        scene = images.tensor
        if self.oic is not None:
            scene = mask_boxes(scene, gt_boxes, images.image_sizes, **self.oic)
        # bf16: the networks in autocast, the losses leave it as float32 (RPN: the head's
        # hook; RoI heads: cast before detectron2's losses; re-id: float32 embeddings and
        # the criterion below, outside the region). fp32: the region does nothing.
        with autocast_region(self.device.type, self.precision):
            features = self.backbone(scene)
            proposals, rpn_losses = self.proposal_generator(images, features, targets)
            sampled, det_losses, emb = self.roi_heads.forward_train(features, proposals, targets)
            crop_emb = self.encode_crops(images.tensor, gt_boxes) if self.crop_size else None
        background = self.roi_heads.num_classes
        is_positive = torch.cat([p.gt_classes != background for p in sampled])
        gt_index = torch.cat(
            [
                p.gt_batch_index
                if p.has("gt_batch_index")
                else torch.zeros(len(p), dtype=torch.long, device=self.device)
                for p in sampled
            ]
        )
        gt_memory = torch.cat([t.gt_memory_index for t in targets])
        reid_losses = self.criterion(emb, is_positive, gt_index, crop_emb, gt_memory)
        return {**rpn_losses, **det_losses, **reid_losses}

    def inference(self, batched_inputs: list[dict], do_postprocess: bool = True):
        """Detections with ``pred_boxes``, ``scores`` and L2-normalised ``embeddings``."""
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        proposals, _ = self.proposal_generator(images, features, None)
        results = self.roi_heads.inference(features, proposals)
        if self.crop_size is not None:
            crop_emb = self.encode_crops(images.tensor, [r.proposal_boxes.tensor for r in results])
            for r, c in zip(results, crop_emb.split([len(r) for r in results]), strict=True):
                r.embeddings = (r.embeddings + c) / 2
        for r in results:
            r.embeddings = F.normalize(r.embeddings, dim=1)
            r.remove("proposal_boxes")  # postprocessing rescales pred_boxes only
        if not do_postprocess:
            return results
        return GeneralizedRCNN._postprocess(results, batched_inputs, images.image_sizes)

    @torch.no_grad()
    def embed_boxes(self, batched_inputs: list[dict]) -> list[torch.Tensor]:
        """Embeddings of given boxes (queries; memory initialisation), one tensor per image.

        Each input holds ``image`` and ``boxes`` (n, 4) in that image's pixel frame.
        The embedding is the L2-normalised mean of scene and crop embeddings.
        """
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        boxes = [x["boxes"].to(self.device, torch.float32).reshape(-1, 4) for x in batched_inputs]
        emb = self.roi_heads.embed_boxes(features, [Boxes(b) for b in boxes])
        if self.crop_size is not None:
            emb = (emb + self.encode_crops(images.tensor, boxes)) / 2
        return list(F.normalize(emb, dim=1).split([len(b) for b in boxes]))


def empty_targets(height: int, width: int) -> Instances:
    """Ground truth of an image without people (tests, background-only images)."""
    inst = Instances((height, width))
    inst.gt_boxes = Boxes(torch.zeros(0, 4))
    inst.gt_classes = torch.zeros(0, dtype=torch.long)
    inst.gt_memory_index = torch.zeros(0, dtype=torch.long)
    return inst
