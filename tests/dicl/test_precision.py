"""runtime.precision in the DICL track: one bf16 training step on CPU, and fp32 untouched."""

from __future__ import annotations

import contextlib

import torch
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from torch import nn

import pipeline.models.dicl  # noqa: F401  (registration)
import pipeline.models.dicl.meta_arch as meta_arch
from pipeline.models.dicl.config import apply_runtime, build_cfg
from pipeline.runtime import Runtime

H, W = 96, 128


def _model(settings, precision: str):
    plan = Runtime(device=torch.device("cpu")).batch_plan(2, "dicl.train.ims_per_batch")
    cfg = apply_runtime(build_cfg(settings, iters_per_epoch=1, memory_size=8), plan, precision)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.memory.initialize(torch.randn(8, 256))
    return model


def _batch() -> list[dict]:
    gen = torch.Generator().manual_seed(1)
    batch = []
    for boxes, slots in (([[10, 10, 40, 80], [50, 5, 80, 90]], [0, 1]), ([[60, 20, 90, 90]], [2])):
        inst = Instances((H, W))
        inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        inst.gt_classes = torch.zeros(len(boxes), dtype=torch.long)
        inst.gt_memory_index = torch.tensor(slots)
        image = torch.randint(0, 256, (3, H, W), dtype=torch.uint8, generator=gen)
        batch.append({"image": image, "instances": inst})
    return batch


def _step(model) -> tuple[dict[str, torch.Tensor], dict[str, list]]:
    seen: dict[str, list] = {"conv": [], "criterion": []}
    first_conv = next(m for m in model.backbone.modules() if isinstance(m, nn.Conv2d))
    first_conv.register_forward_hook(lambda m, i, o: seen["conv"].append(o.dtype))

    def criterion_inputs(module, args):
        emb, _positive, _index, crop_emb, _memory = args
        seen["criterion"].append((emb.dtype, crop_emb.dtype, torch.is_autocast_enabled("cpu")))

    model.criterion.register_forward_pre_hook(criterion_inputs)
    torch.manual_seed(0)
    with EventStorage():
        losses = model(_batch())
    sum(losses.values()).backward()
    return losses, seen


def test_bf16_step_runs_the_networks_in_bfloat16_and_every_loss_in_float32(tiny_settings):
    model = _model(tiny_settings, "bf16")
    losses, seen = _step(model)
    # the scene and the crops went through the backbone in bf16
    assert seen["conv"] and set(seen["conv"]) == {torch.bfloat16}
    # the re-id losses got float32 embeddings, outside the autocast region
    assert seen["criterion"] == [(torch.float32, torch.float32, False)]
    assert {k: v.dtype for k, v in losses.items()} == dict.fromkeys(losses, torch.float32)
    assert {"loss_rpn_cls", "loss_cls", "loss_id", "loss_kl", "loss_triplet"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    assert model.memory.features.dtype == torch.float32
    assert all(p.grad.dtype == torch.float32 for p in model.parameters() if p.grad is not None)


def test_fp32_config_and_step_are_those_without_the_runtime_rules(tiny_settings, monkeypatch):
    plan = Runtime(device=torch.device("cpu")).batch_plan(2, "dicl.train.ims_per_batch")
    cfg = build_cfg(tiny_settings, iters_per_epoch=3, memory_size=8)
    assert apply_runtime(cfg, plan, "fp32").dump() == cfg.dump()
    model = _model(tiny_settings, "fp32")
    assert not model.proposal_generator.rpn_head._forward_hooks  # no cast hook in fp32
    losses, seen = _step(model)
    assert set(seen["conv"]) == {torch.float32}
    # The same step with the region replaced by a bare nullcontext: the same bytes.
    monkeypatch.setattr(meta_arch, "autocast_region", lambda *a: contextlib.nullcontext())
    plain, _ = _step(_model(tiny_settings, "fp32"))
    assert all(torch.equal(losses[k], plain[k]) for k in losses)
