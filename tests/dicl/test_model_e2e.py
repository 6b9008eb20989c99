"""Weightless end-to-end checks of the DICL model (detectron2's test_model_e2e style)."""

from __future__ import annotations

import pytest
import torch
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

import pipeline.models.dicl  # noqa: F401  (registration)
from pipeline.models.dicl.backbone import build_stride16_resnet
from pipeline.models.dicl.config import build_cfg
from pipeline.models.dicl.deform_conv import DeformConv2dPack
from pipeline.models.dicl.meta_arch import empty_targets

H, W = 96, 128
EXPECTED_LOSSES = {
    "loss_rpn_cls",
    "loss_rpn_loc",
    "loss_cls",
    "loss_box_reg",
    "loss_id",
    "loss_sim",
    "loss_kl",
    "loss_triplet",
}


def _model(settings, memory_size: int = 8):
    torch.manual_seed(0)
    model = build_model(build_cfg(settings, iters_per_epoch=1, memory_size=memory_size))
    model.memory.initialize(torch.randn(memory_size, 256))
    return model


def _input(boxes: list[list[float]], slots: list[int]) -> dict:
    inst = Instances((H, W))
    inst.gt_boxes = Boxes(torch.tensor(boxes).reshape(-1, 4))
    inst.gt_classes = torch.zeros(len(boxes), dtype=torch.long)
    inst.gt_memory_index = torch.tensor(slots, dtype=torch.long)
    return {"image": torch.randint(0, 256, (3, H, W), dtype=torch.uint8), "instances": inst}


def test_train_step_gives_every_loss_and_gradients(tiny_settings):
    model = _model(tiny_settings)
    batch = [
        _input([[10, 10, 40, 80], [50, 5, 80, 90]], [0, 1]),
        _input([[60, 20, 90, 90]], [2]),
    ]
    with EventStorage():
        losses = model(batch)
    assert set(losses) == EXPECTED_LOSSES
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    # the memory slots of the batch's boxes moved towards their embeddings
    assert model.memory.features[:3].norm(dim=1).allclose(torch.ones(3))


def test_train_step_with_an_image_without_people(tiny_settings):
    model = _model(tiny_settings)
    empty = {"image": torch.randint(0, 256, (3, H, W), dtype=torch.uint8)}
    empty["instances"] = empty_targets(H, W)
    with EventStorage():
        losses = model([empty, _input([[10, 10, 40, 80]], [3])])
        sum(losses.values()).backward()
        all_empty = model([dict(empty), dict(empty)])
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(torch.isfinite(v) for v in all_empty.values())


def test_switched_off_losses_are_absent(tiny_section):
    from pipeline.models.dicl.settings import DiclSettings
    from tests.real_config import merged

    off = {"enabled": False}
    changes = {"loss": {"sic_many_to_one": off, "sic_dense": off, "triplet": off}, "oic": off}
    model = _model(DiclSettings.model_validate(merged(tiny_section, changes)))
    with EventStorage():
        losses = model([_input([[10, 10, 40, 80]], [0])])
    assert set(losses) == EXPECTED_LOSSES - {"loss_sim", "loss_kl", "loss_triplet"}


def test_inference_outputs_normalised_embeddings_in_the_original_frame(tiny_settings):
    model = _model(tiny_settings).eval()
    with torch.no_grad():
        (out,) = model(
            [
                {
                    "image": torch.randint(0, 256, (3, H, W), dtype=torch.uint8),
                    "height": 2 * H,
                    "width": 2 * W,
                }
            ]
        )
    inst = out["instances"]
    assert inst.image_size == (2 * H, 2 * W)
    assert len(inst) > 0
    assert inst.embeddings.shape == (len(inst), 256)
    assert torch.allclose(inst.embeddings.norm(dim=1), torch.ones(len(inst)), atol=1e-5)
    assert (inst.pred_boxes.tensor[:, 2] <= 2 * W + 1e-3).all()


def test_embed_boxes_handles_empty_box_lists(tiny_settings):
    model = _model(tiny_settings).eval()
    image = torch.randint(0, 256, (3, H, W), dtype=torch.uint8)
    first, second = model.embed_boxes(
        [
            {"image": image, "boxes": torch.tensor([[10.0, 10.0, 40.0, 80.0]])},
            {"image": image, "boxes": torch.zeros(0, 4)},
        ]
    )
    assert first.shape == (1, 256) and second.shape == (0, 256)


@pytest.mark.parametrize("depth", [18, 50])
def test_backbone_keeps_c5_at_stride_16(depth):
    net = build_stride16_resnet(depth=depth, width=16, norm="BN", freeze_at=0, stride_in_1x1=True)
    out = net(torch.zeros(1, 3, 64, 96))
    assert out["res4"].shape[-2:] == (4, 6) and out["res5"].shape[-2:] == (4, 6)
    assert out["res5"].shape[1] == 2 * out["res4"].shape[1]


def test_deformable_conv_starts_as_a_plain_conv():
    torch.manual_seed(0)
    deform = DeformConv2dPack(4, 5, 3, padding=1)
    plain = torch.nn.Conv2d(4, 5, 3, padding=1)
    plain.weight.data.copy_(deform.weight.data)
    plain.bias.data.copy_(deform.bias.data)
    x = torch.randn(2, 4, 7, 6)
    assert torch.allclose(deform(x), plain(x), atol=1e-5)
    assert deform(torch.zeros(0, 4, 7, 6)).shape == (0, 5, 7, 6)


def test_rpn_drops_small_proposals_at_test_by_the_test_minimum(tiny_section):
    from pipeline.models.dicl.rpn import DICLRPN
    from pipeline.models.dicl.settings import DiclSettings

    def proposal_sides(min_test: float) -> torch.Tensor:
        tiny_section["model"]["rpn"].update(min_box_size=0, min_box_size_test=min_test)
        model = _model(DiclSettings.model_validate(tiny_section)).eval()
        assert isinstance(model.proposal_generator, DICLRPN)
        torch.manual_seed(1)
        images = model.preprocess_image(
            [{"image": torch.randint(0, 256, (3, H, W), dtype=torch.uint8)}]
        )
        with torch.no_grad():
            (props,), _ = model.proposal_generator(images, model.backbone(images.tensor))
        boxes = props.proposal_boxes.tensor
        return torch.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])

    assert (proposal_sides(0.0) < 16).any()  # border-clipped anchors give small boxes
    assert (proposal_sides(16.0) >= 16).all()
