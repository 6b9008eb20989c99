"""DICL's RPN: detectron2's RPN with the official separate train and test minimum box size.

The official config drops proposals with a side under 8 pixels in training
(``train_cfg.rpn_proposal.min_bbox_size=8``) and under 16 at test
(``test_cfg.rpn.min_bbox_size=16``; configs/_base_/models/
faster_rcnn_r50_caffe_c4_reid_norm_unsu_nor5.py:79 and :103 of jiabeiwangTJU/DICL);
detectron2's RPN has one ``MIN_SIZE`` for both.
"""

from __future__ import annotations

from detectron2.config import configurable
from detectron2.modeling import PROPOSAL_GENERATOR_REGISTRY
from detectron2.modeling.proposal_generator import RPN


@PROPOSAL_GENERATOR_REGISTRY.register()
class DICLRPN(RPN):
    """RPN whose minimum proposal side is ``min_box_size`` in training, ``min_box_size_test``
    in eval mode."""

    @configurable
    def __init__(self, *, min_box_size_test: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.min_box_size_train = self.min_box_size
        self.min_box_size_test = float(min_box_size_test)

    @classmethod
    def from_config(cls, cfg, input_shape) -> dict:
        ret = super().from_config(cfg, input_shape)
        ret["min_box_size_test"] = cfg.MODEL.DICL.RPN_MIN_SIZE_TEST
        return ret

    def forward(self, images, features, gt_instances=None):
        # RPN.predict_proposals reads self.min_box_size; pick the mode's value first.
        self.min_box_size = self.min_box_size_train if self.training else self.min_box_size_test
        return super().forward(images, features, gt_instances)
