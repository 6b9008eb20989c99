"""One DCLNet training run as an ``EpochTask`` (resumable, DDP-aware).

Optimiser and schedule as the official script: Adam, the backbone (and parser)
at 0.1 x lr, BNNecks and ID classifiers at lr; weight decay 5e-4; linear
warm-up ``lr * (epoch + 1) / warmup_epochs``, then lr multiplied by ``gamma`` at
each milestone epoch (x0.1 at 15, x0.01 at 27). Batches come from the paired
visible/infrared identity sampler, a pure function of (seed, epoch).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from pipeline.data.samplers import PairedModalityBatchSampler
from pipeline.models.dclnet.network import DCLNet, TrainOutputs
from pipeline.models.dclnet.objective import LOSS_NAMES, DclnetObjective
from pipeline.models.dclnet.settings import DclnetSettings
from pipeline.runtime import Runtime, make_generator, seed_worker


def learning_rate(epoch: int, base_lr: float, warmup: int, milestones: list[int], gamma: float):
    """The head learning rate of ``epoch`` (0-based): warm-up, then step decay."""
    if epoch < warmup:
        return base_lr * (epoch + 1) / warmup
    return base_lr * gamma ** sum(1 for m in milestones if epoch >= m)


def build_optimizer(model: DCLNet, lr: float, backbone_mult: float, weight_decay: float):
    """Adam with two groups: [backbone + parser at lr x mult, heads at lr]."""
    head_ids = {id(p) for p in model.head_parameters()}
    base = [p for p in model.parameters() if id(p) not in head_ids and p.requires_grad]
    heads = [p for p in model.head_parameters() if p.requires_grad]
    return torch.optim.Adam(
        [{"params": base, "lr": lr * backbone_mult}, {"params": heads, "lr": lr}],
        lr=lr,
        weight_decay=weight_decay,
    )


class DclnetTrainer:
    """What :class:`pipeline.engine.EpochLoop` runs for DCLNet.

    Args:
        model: the network (unwrapped; DDP wrapping happens here when distributed).
        dataset: training items of both modalities; ``labels``/``modalities`` index it.
        labels: contiguous identity label (0..C-1) per item.
        modalities: 0 visible / 1 infrared per item.
        settings: the resolved ``dclnet`` settings.
        runtime: device and DDP rank from ``pipeline.runtime.setup``.
        seed: seeds the batch order and the data-loading workers.
        desc: progress-bar label.
        validate: scores the network on held-out identities (``val_`` keys added to
            the epoch row) after every ``settings.validation.every`` epochs and after
            the last; None: no validation. Leaves the global RNG untouched.
    """

    def __init__(
        self,
        model: DCLNet,
        dataset,
        labels,
        modalities,
        settings: DclnetSettings,
        runtime: Runtime,
        seed: int,
        desc: str = "dclnet",
        validate: Callable[[nn.Module], dict[str, float]] | None = None,
    ) -> None:
        self.settings = settings
        self.validate = validate
        self.runtime = runtime
        self.seed = seed
        self.desc = desc
        self.model = model.to(runtime.device)
        self.objective = DclnetObjective.from_settings(settings)
        if not self.objective.enabled():
            raise ValueError("dclnet.loss: every loss is disabled; enable at least one")
        t = settings.train
        # runtime.batch_rule / lr_scaling: identities per process and step, and the lr.
        self.batch = runtime.batch_plan(
            settings.sampler.ids_per_batch, "dclnet.sampler.ids_per_batch"
        )
        self.base_lr = self.batch.lr(t.lr)
        self.optimizer = build_optimizer(model, self.base_lr, t.backbone_lr_mult, t.weight_decay)
        # The sampler's list holds the epoch's batches of all processes: a given
        # iters_per_epoch counts steps of the configured batch, so as many images.
        iters = t.iters_per_epoch
        if iters is not None:
            iters = iters * self.batch.configured // self.batch.per_process
        self.sampler = PairedModalityBatchSampler(
            labels,
            modalities,
            self.batch.per_process,
            settings.sampler.images_per_id,
            seed=seed,
            batches_per_epoch=iters,
            rank=runtime.rank,
            num_replicas=runtime.world_size,
        )
        self.dataset = dataset
        self.network: nn.Module = self.model
        if runtime.distributed:
            # Parameters of a switched-off loss get no gradient; DDP must be told.
            unused = len(self.objective.enabled()) < len(LOSS_NAMES)
            self.network = DistributedDataParallel(
                self.model,
                device_ids=[runtime.device.index] if runtime.device.type == "cuda" else None,
                find_unused_parameters=unused,
            )

    def _loader(self, epoch: int) -> DataLoader:
        # Worker seeds depend on (seed, epoch) only, so a resumed epoch loads the same images.
        return DataLoader(
            self.dataset,
            batch_sampler=self.sampler,
            num_workers=self.settings.train.workers,
            worker_init_fn=seed_worker,
            generator=make_generator(self.seed * 100_003 + epoch),
            pin_memory=self.runtime.device.type == "cuda",
        )

    def _set_lr(self, epoch: int) -> float:
        t = self.settings.train
        lr = learning_rate(epoch, self.base_lr, t.warmup_epochs, t.milestones, t.gamma)
        self.optimizer.param_groups[0]["lr"] = lr * t.backbone_lr_mult
        self.optimizer.param_groups[1]["lr"] = lr
        return lr

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass of the sampler's batches; returns the epoch means of the logged values."""
        lr = self._set_lr(epoch)
        self.sampler.set_epoch(epoch)
        self.network.train()
        sums: dict[str, float] = defaultdict(float)
        steps = 0
        device = self.runtime.device
        bar = tqdm(
            self._loader(epoch),
            desc=f"{self.desc} epoch {epoch + 1}/{self.settings.train.epochs}",
            leave=False,
            dynamic_ncols=True,
            disable=not self.runtime.is_main,
        )
        for batch in bar:
            b = batch.image.shape[0] // 2
            if batch.modality[:b].any() or not batch.modality[b:].all():
                raise ValueError("a training batch must list its visible images, then infrared")
            images = batch.image.to(device, non_blocking=True)
            labels = batch.pid.to(device)
            with self.runtime.autocast():  # bf16: the network's forward; fp32: nothing
                out = self.network(images[:b], images[b:])
            # The objective (cross-entropy, triplet, parser losses, dense InfoNCE) in float32.
            out = TrainOutputs._make(t.float() for t in out)
            total, logged = self.objective(
                out, labels, images, self.model.part_classifier.weight.detach()
            )
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            self.optimizer.step()
            for key, value in logged.items():
                sums[key] += value
            steps += 1
            bar.set_postfix(loss=f"{logged['loss']:.3f}", acc=f"{logged['id_accuracy']:.2f}")
        if steps == 0:
            raise ValueError("the sampler produced no batch: too few identities or images")
        row = {key: value / steps for key, value in sorted(sums.items())}
        row["lr"] = lr
        if self._validation_due(epoch):
            row.update(self.validate(self.model))
        return row

    def _validation_due(self, epoch: int) -> bool:
        if self.validate is None:
            return False
        every, last = self.settings.validation.every, self.settings.train.epochs
        return epoch + 1 == last or (every > 0 and (epoch + 1) % every == 0)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
