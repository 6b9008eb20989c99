"""Build the DICL network from its detectron2 config (training and evaluation share it)."""

from __future__ import annotations

import torch
from detectron2.config import CfgNode
from detectron2.modeling import build_model

from pipeline.models.dicl.weights import load_backbone_weights


def build_dicl_model(cfg: CfgNode, *, pretrained: bool = True) -> torch.nn.Module:
    """The DICL model on ``cfg.MODEL.DEVICE``; backbone weights from ``cfg.MODEL.WEIGHTS``."""
    model = build_model(cfg)
    if pretrained and cfg.MODEL.WEIGHTS:
        load_backbone_weights(
            model, cfg.MODEL.WEIGHTS, sha256=cfg.MODEL.DICL.WEIGHTS_SHA256 or None
        )
    return model
