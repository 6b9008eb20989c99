"""runtime.precision in the DCLNet track: one bf16 training step on CPU, and fp32 untouched."""

from __future__ import annotations

import contextlib
import dataclasses

import torch

from pipeline.models.dclnet.data import load_train_set
from pipeline.models.dclnet.network import build_dclnet
from pipeline.models.dclnet.settings import DclnetSettings
from pipeline.models.dclnet.trainer import DclnetTrainer
from pipeline.runtime import Runtime
from tests.dclnet.dclnet_tiny import TINY_SETTINGS
from tests.real_config import merged

# One step per epoch; every loss on (the paper's objective).
ONE_STEP = DclnetSettings.model_validate(merged(TINY_SETTINGS, {"train": {"iters_per_epoch": 1}}))


class _PlainRuntime(Runtime):
    """The step as it was before runtime.precision: no region at all."""

    def autocast(self):
        return contextlib.nullcontext()


def _step(root, runtime: Runtime) -> tuple[DclnetTrainer, dict, dict[str, list]]:
    train_set = load_train_set(root / "processed" / "index.csv", ONE_STEP.input, root)
    model = build_dclnet(num_classes=train_set.num_classes, seed=0, depth=18, width=8)
    trainer = DclnetTrainer(
        model,
        train_set.dataset,
        train_set.labels,
        train_set.modalities,
        ONE_STEP,
        runtime,
        seed=0,
    )
    seen: dict[str, list] = {"conv": [], "outputs": [], "total": []}
    model.backbone.visible.conv1.register_forward_hook(lambda m, i, o: seen["conv"].append(o.dtype))
    objective = trainer.objective

    class Recording:
        def __call__(self, out, *args):
            seen["outputs"].append({t.dtype for t in out})
            total, logged = objective(out, *args)
            seen["total"].append(total.dtype)
            return total, logged

    trainer.objective = Recording()
    torch.manual_seed(0)
    row = trainer.train_epoch(0)
    return trainer, row, seen


def test_bf16_step_runs_the_network_in_bfloat16_and_the_objective_in_float32(tiny_vi):
    trainer, row, seen = _step(tiny_vi, Runtime(device=torch.device("cpu"), precision="bf16"))
    assert seen["conv"] == [torch.bfloat16]
    # Every output the objective gets (logits, pooled, maps, parser logits) is float32 ...
    assert seen["outputs"] == [{torch.float32}]
    assert seen["total"] == [torch.float32]  # ... and so is the total loss
    losses = {k: v for k, v in row.items() if k.startswith("loss")}
    assert {"loss_id", "loss_dense", "loss_pixel", "loss_center_triplet"} <= set(losses)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}


def test_fp32_step_is_the_step_without_the_autocast_region(tiny_vi):
    fp32 = Runtime(device=torch.device("cpu"), precision="fp32")
    results = []
    for runtime in (fp32, _PlainRuntime(**dataclasses.asdict(fp32))):
        trainer, row, seen = _step(tiny_vi, runtime)
        assert seen["conv"] == [torch.float32]
        results.append((row, trainer.model.state_dict()))
    (row_a, state_a), (row_b, state_b) = results
    assert row_a == row_b
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
