"""runtime.precision in the SCL track: one bf16 training step on CPU, and fp32 untouched."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
import torch

import pipeline.models.scl.trainer as trainer_module
from pipeline.models.scl import data as scl_data
from pipeline.models.scl.network import build_net_for
from pipeline.models.scl.trainer import SCLTrainer
from pipeline.runtime import Runtime
from tests.scl.tiny_data import HEIGHT, WIDTH, tiny_settings


def _trainer(index_csv, precision: str) -> SCLTrainer:
    settings = tiny_settings()
    root = index_csv.parent
    train_set = scl_data.train_dataset(
        index_csv, root, height=HEIGHT, width=WIDTH, flip=0.0, pad=0, erasing=0.0, held_out=()
    )
    extract_set = scl_data.test_dataset(
        index_csv, root, "train", height=HEIGHT, width=WIDTH, held_out=()
    )
    return SCLTrainer(
        net=build_net_for(settings, None, seed=0),
        settings=settings,
        train_set=train_set,
        extract_set=extract_set,
        runtime=Runtime(device=torch.device("cpu"), precision=precision),
        seed=0,
    )


def _step(trainer: SCLTrainer, monkeypatch) -> tuple[dict[str, float], dict[str, list]]:
    """One training step after the memory init; the dtypes the step saw."""
    seen: dict[str, list] = {"conv": [], "loss_inputs": [], "losses": []}
    hook = trainer.net.trunk[0].register_forward_hook(
        lambda m, i, o: seen["conv"].append(o.dtype) if m.training else None
    )
    original = trainer_module.selective_contrastive_loss

    def recording(feats, bank, *args, **kwargs):
        loss, logits = original(feats, bank, *args, **kwargs)
        seen["loss_inputs"].append((feats.dtype, bank.dtype))
        seen["losses"].append(loss.dtype)
        return loss, logits

    monkeypatch.setattr(trainer_module, "selective_contrastive_loss", recording)
    with torch.no_grad():
        trainer._init_memory()
    seen["conv"].clear()  # the memory init runs in fp32; the step is what is checked
    images, _pids, cams, idx, _mod = next(
        iter(torch.utils.data.DataLoader(trainer.train_set, batch_size=8))
    )
    out = trainer._step(images, cams, idx, warm=False)
    hook.remove()
    return out, seen


@pytest.mark.parametrize("precision", ["bf16"])
def test_bf16_step_runs_the_network_in_bfloat16_and_the_losses_in_float32(
    tiny_dataset, monkeypatch, precision
):
    torch.manual_seed(0)
    trainer = _trainer(tiny_dataset, precision)
    before = trainer.net.global_fc.weight.detach().clone()
    out, seen = _step(trainer, monkeypatch)
    assert seen["conv"] == [torch.bfloat16]  # the trunk's first conv ran in bf16
    assert seen["loss_inputs"] == [(torch.float32, torch.float32)] * 2  # global, local
    assert seen["losses"] == [torch.float32] * 2
    assert all(torch.isfinite(torch.tensor(v)) for v in out.values())
    assert not torch.equal(trainer.net.global_fc.weight, before)  # the step trained
    # Weights, optimizer state and memory banks stay float32.
    assert {p.dtype for p in trainer.net.parameters()} == {torch.float32}
    memory = trainer.memory
    assert {memory.global_bank.dtype, memory.local_bank.dtype, memory.mixture_bank.dtype} == {
        torch.float32
    }


def test_fp32_step_is_the_step_without_the_autocast_region(tiny_dataset, monkeypatch):
    """fp32 (the default) gives the bytes of a step whose region is a bare nullcontext."""
    results = []
    for patched in (False, True):
        torch.manual_seed(0)
        trainer = _trainer(tiny_dataset, "fp32")
        if patched:  # what the step was before runtime.precision existed

            class Plain(Runtime):
                def autocast(self):
                    return contextlib.nullcontext()

            trainer.runtime = Plain(**dataclasses.asdict(trainer.runtime))
        out, seen = _step(trainer, monkeypatch)
        assert seen["conv"] == [torch.float32]
        results.append((out, [p.detach().clone() for p in trainer.net.parameters()]))
        monkeypatch.undo()
    (out_a, params_a), (out_b, params_b) = results
    assert out_a == out_b
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b, strict=True))
