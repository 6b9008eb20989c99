"""DICL's RoI heads: 14x6 RoI pooling on the stride-16 map, DICLBoxHead, Fast R-CNN outputs.

The pooling is the official deformable RoI pooling (mmcv ``DeformRoIPoolPack``,
``deform_roi_pool.py``; every RoI the head sees, detection and re-id alike, as the
official single ``bbox_roi_extractor``) or, switched by ``model.roi.pooler``, plain
RoIAlign (detectron2 ``ROIAlignV2``).

Proposal assignment as the official ``gt_assigner``: IoU >= 0.6 (CUHK-SYSU; 0.7 on
PRW) is a person, < 0.1 background, in between ignored; 128 RoIs per image, at
most half positive, ground-truth boxes appended to the proposals
(detectron2's ``ROIHeads.label_and_sample_proposals`` with IoU labels
``[0, -1, 1]``). The same sample feeds the detection losses (cross-entropy and
L1 box regression, weight 10) and the re-id losses. At test time a detection
keeps the embedding of the proposal it was regressed from, as in the official
code; the proposal box is kept too, for the crop branch.
"""

from __future__ import annotations

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import ROI_HEADS_REGISTRY
from detectron2.modeling.poolers import ROIPooler
from detectron2.modeling.roi_heads import ROIHeads
from detectron2.modeling.roi_heads.fast_rcnn import FastRCNNOutputLayers
from detectron2.structures import Boxes, Instances

from pipeline.models.dicl.box_head import DICLBoxHead
from pipeline.models.dicl.deform_roi_pool import DeformRoIPoolPack


@ROI_HEADS_REGISTRY.register()
class DICLROIHeads(ROIHeads):
    """RoI heads with a re-id embedding per RoI.

    Args:
        in_feature: name of the (single) feature map the RoIs are pooled from.
        box_pooler: RoI pooling to the head's (height, width) (deformable or RoIAlign).
        box_head: :class:`DICLBoxHead`.
        box_predictor: detectron2's ``FastRCNNOutputLayers`` (scores, deltas, losses, NMS).
        **kwargs: ``ROIHeads`` arguments (sampling, matcher).
    """

    @configurable
    def __init__(
        self,
        *,
        in_feature: str,
        box_pooler: ROIPooler,
        box_head: DICLBoxHead,
        box_predictor: FastRCNNOutputLayers,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.in_feature = in_feature
        self.box_pooler = box_pooler
        self.box_head = box_head
        self.box_predictor = box_predictor

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec]) -> dict:
        ret = super().from_config(cfg)
        (in_feature,) = cfg.MODEL.ROI_HEADS.IN_FEATURES
        shape = input_shape[in_feature]
        height, width = cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION
        box_head = DICLBoxHead(
            ShapeSpec(channels=shape.channels, height=height, width=width),
            conv_dim=cfg.MODEL.ROI_BOX_HEAD.CONV_DIM,
            num_convs=cfg.MODEL.ROI_BOX_HEAD.NUM_CONV,
            norm=cfg.MODEL.ROI_BOX_HEAD.NORM,
            embedding_dim=cfg.MODEL.DICL.EMBEDDING_DIM,
            deformable=cfg.MODEL.DICL.HEAD_DEFORMABLE,
        )
        if cfg.MODEL.DICL.ROI_POOLER == "deform":
            box_pooler = DeformRoIPoolPack(
                (height, width),
                in_channels=shape.channels,
                spatial_scale=1.0 / shape.stride,
                fc_channels=cfg.MODEL.DICL.DEFORM_POOL_FC_CHANNELS,
                gamma=cfg.MODEL.DICL.DEFORM_POOL_GAMMA,
            )
        else:
            box_pooler = ROIPooler(
                output_size=(height, width),
                scales=(1.0 / shape.stride,),
                sampling_ratio=cfg.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO,
                pooler_type=cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE,
            )
        ret.update(
            in_feature=in_feature,
            box_pooler=box_pooler,
            box_head=box_head,
            box_predictor=FastRCNNOutputLayers(cfg, box_head.output_shape),
        )
        return ret

    def box_outputs(
        self, features: dict[str, torch.Tensor], boxes: list[Boxes]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Class logits (R, 2), box deltas (R, 4) and embeddings (R, E) of ``boxes``."""
        pooled = self.box_pooler([features[self.in_feature]], boxes)
        cls_feat, box_feat, emb = self.box_head(pooled)
        return self.box_predictor.cls_score(cls_feat), self.box_predictor.bbox_pred(box_feat), emb

    def embed_boxes(self, features: dict[str, torch.Tensor], boxes: list[Boxes]) -> torch.Tensor:
        """Scene-branch embeddings of given boxes (queries, memory initialisation)."""
        pooled = self.box_pooler([features[self.in_feature]], boxes)
        return self.box_head.embed(pooled)

    def embed_crops(self, crop_maps: torch.Tensor) -> torch.Tensor:
        """Crop-branch embeddings of encoded crops (R, C, h, w)."""
        return self.box_head.embed(crop_maps)

    def forward_train(
        self,
        features: dict[str, torch.Tensor],
        proposals: list[Instances],
        targets: list[Instances],
    ) -> tuple[list[Instances], dict[str, torch.Tensor], torch.Tensor]:
        """Sample RoIs, compute detection losses and the RoIs' embeddings.

        Returns:
            ``(sampled proposals, {"loss_cls", "loss_box_reg"}, embeddings (R, E))``;
            each sampled ``Instances`` carries ``gt_classes`` (1 = background) and the
            targets' other ``gt_*`` fields for positives.
        """
        sampled = self.label_and_sample_proposals(proposals, targets)
        scores, deltas, emb = self.box_outputs(features, [p.proposal_boxes for p in sampled])
        # Cross-entropy and box regression in float32 (no-op casts in fp32 runs).
        losses = self.box_predictor.losses((scores.float(), deltas.float()), sampled)
        return sampled, losses, emb

    def inference(
        self, features: dict[str, torch.Tensor], proposals: list[Instances]
    ) -> list[Instances]:
        """Detections with ``scores``, ``pred_boxes``, ``proposal_boxes``, ``embeddings``."""
        boxes = [p.proposal_boxes for p in proposals]
        scores, deltas, emb = self.box_outputs(features, boxes)
        results, kept = self.box_predictor.inference((scores, deltas), proposals)
        per_image = emb.split([len(p) for p in proposals])
        for result, keep, image_boxes, image_emb in zip(
            results, kept, boxes, per_image, strict=True
        ):
            result.proposal_boxes = image_boxes[keep]
            result.embeddings = image_emb[keep]
        return results

    def forward(self, images, features, proposals, targets=None):
        """detectron2's ROIHeads contract: detections at test, detection losses in training."""
        if self.training:
            _, losses, _ = self.forward_train(features, proposals, targets)
            return proposals, losses
        return self.inference(features, proposals), {}
