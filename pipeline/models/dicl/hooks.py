"""Training side effects of DICL as detectron2 hooks.

The step loop stays detectron2's ``SimpleTrainer.run_step`` (docs/style.md,
"Training side effects are hooks"); around it:

* :class:`MemoryInitHook` (before training, fresh runs only): every training box
  embedded at the test scale fills its memory slot (official ``ExtractFeatureHook``);
* :class:`EpochDataHook` (first step of each epoch): the epoch's batches;
* :class:`PseudoLabelHook` (first step of each epoch): cluster the memory slots
  into pseudo labels (official ``ClusterHook``);
* :class:`GlobalGradClipHook` (after backward): clip the gradient norm of all
  parameters together (mmdet ``grad_clip``);
* :class:`ValidationHook` (last step of every n-th and the last epoch): detection
  and search metrics on the held-out training scenes (``val_`` keys);
* :class:`EpochEndHook` (last step of each epoch): the epoch's history row (mean
  losses, learning rate, pseudo-label statistics, validation metrics), the resume
  checkpoint, and the caller's callback (MLflow);
* :class:`ProgressHook`: a tqdm bar with the loss and the ETA.

detectron2's ``hooks.LRScheduler`` steps the learning rate; it must be registered
before :class:`EpochEndHook` so the checkpoint holds the stepped scheduler.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import torch
from detectron2.engine import HookBase
from detectron2.utils import comm
from torch.utils.data import DataLoader
from tqdm import tqdm

from pipeline.models.dicl.data import PersonSearchMapper, TrainingSet, epoch_batches
from pipeline.models.dicl.inference import annotation_boxes_xyxy, embed_boxes
from pipeline.models.dicl.pseudo_labels import PseudoLabelConfig, assign_pseudo_labels
from pipeline.runtime import make_generator, rng_state, seed_worker, set_rng_state


def _collate(batch: list) -> list:
    return batch


class _MappedList(torch.utils.data.Dataset):
    def __init__(self, records: list[dict], mapper: PersonSearchMapper) -> None:
        self.records, self.mapper = records, mapper

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        return self.mapper(self.records[index])


def _is_epoch_start(trainer) -> bool:
    return trainer.iter % trainer.iters_per_epoch == 0


class MemoryInitHook(HookBase):
    """Fill the memory with the embeddings of all training boxes (fresh runs only)."""

    def __init__(
        self, training_set: TrainingSet, mapper: PersonSearchMapper, batch_images: int
    ) -> None:
        self.training_set = training_set
        self.mapper = mapper
        self.batch_images = batch_images

    def before_train(self) -> None:
        if self.trainer.resumed:
            return
        records = [{**d, "query_boxes": annotation_boxes_xyxy(d)} for d in self.training_set.dicts]
        model = self.trainer.bare_model
        per_image = embed_boxes(
            model, records, self.mapper, batch_images=self.batch_images, desc="memory init"
        )
        slots = torch.zeros(self.training_set.num_slots, model.memory.features.shape[1])
        for record, emb in zip(self.training_set.dicts, per_image, strict=True):
            index = [a["memory_index"] for a in record["annotations"]]
            slots[index] = torch.from_numpy(emb)
        model.memory.initialize(slots.to(model.memory.features.device))


class EpochDataHook(HookBase):
    """A fresh data loader at each epoch's first step, its order fixed by the epoch number."""

    def __init__(
        self,
        training_set: TrainingSet,
        mapper: PersonSearchMapper,
        *,
        seed: int,
        ims_per_batch: int,
        num_workers: int,
    ) -> None:
        self.records = training_set.dicts
        self.mapper = mapper
        self.seed = seed
        self.ims_per_batch = ims_per_batch
        self.num_workers = num_workers

    def _loader(self, epoch: int) -> DataLoader:
        rank, world = comm.get_rank(), comm.get_world_size()
        batches = epoch_batches(
            len(self.records),
            epoch,
            seed=self.seed,
            ims_per_batch=self.ims_per_batch,
            rank=rank,
            world_size=world,
        )
        return DataLoader(
            _MappedList(self.records, self.mapper),
            batch_sampler=batches,
            collate_fn=_collate,
            num_workers=self.num_workers,
            worker_init_fn=seed_worker,
            generator=make_generator(self.seed * 100_003 + epoch * 101 + rank),
        )

    def before_step(self) -> None:
        if _is_epoch_start(self.trainer):
            epoch = self.trainer.epoch
            self.trainer.reset_data_loader(lambda: self._loader(epoch))


class PseudoLabelHook(HookBase):
    """Cluster the memory into pseudo labels at each epoch's first step.

    The main process clusters; the labels are broadcast so every copy of the
    memory carries the same ones.
    """

    def __init__(self, training_set: TrainingSet, config: PseudoLabelConfig) -> None:
        self.training_set = training_set
        self.config = config

    def before_step(self) -> None:
        if not _is_epoch_start(self.trainer):
            return
        memory = self.trainer.bare_model.memory
        result = None
        if comm.is_main_process():
            result = assign_pseudo_labels(
                memory.features.cpu().numpy(),
                self.training_set.slot_image,
                self.config,
                indep_threshold=self.trainer.pseudo_state.get("indep_threshold"),
                held_back_ids=self.training_set.held_back_ids,
                instance_level=self.trainer.epoch < self.config.instance_epochs,
                knn_device=memory.features.device,
            )
        if comm.get_world_size() > 1:
            result = comm.all_gather(result)[0]
        memory.set_labels(torch.from_numpy(result.labels))
        self.trainer.pseudo_state["indep_threshold"] = result.indep_threshold
        self.trainer.pseudo_state["stats"] = result.stats


class GlobalGradClipHook(HookBase):
    """Clip the L2 norm of all gradients together (mmdet ``grad_clip=dict(max_norm=...)``)."""

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm

    def after_backward(self) -> None:
        params = [p for p in self.trainer.model.parameters() if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, self.max_norm)


class ValidationHook(HookBase):
    """Score the held-out training scenes after every ``every``-th and the last epoch.

    The metrics go to ``trainer.epoch_metrics`` (picked up by :class:`EpochEndHook`).
    Every RNG state is restored afterwards, so validating never changes training.

    Args:
        evaluate: ``evaluate(model) -> {"val_...": value}`` (collective in DDP runs).
        every: epochs between validations.
    """

    def __init__(self, evaluate: Callable[[torch.nn.Module], dict], every: int) -> None:
        self.evaluate = evaluate
        self.every = every

    def after_step(self) -> None:
        trainer = self.trainer
        if (trainer.iter + 1) % trainer.iters_per_epoch:
            return
        epoch = trainer.epoch
        last = trainer.iter + 1 >= trainer.max_iter
        if (epoch + 1) % self.every and not last:
            return
        state = rng_state()
        trainer.epoch_metrics.update(self.evaluate(trainer.bare_model))
        set_rng_state(state)


class EpochEndHook(HookBase):
    """Per-epoch history row, resume checkpoint and callback.

    Args:
        save: ``save(state)`` writes the resume checkpoint (main process).
        on_epoch_end: ``on_epoch_end(epoch, row)`` after each epoch (main process).
    """

    def __init__(
        self,
        save: Callable[[dict], None],
        on_epoch_end: Callable[[int, dict], None] | None = None,
    ) -> None:
        self.save = save
        self.on_epoch_end = on_epoch_end
        self._sums: dict[str, float] = defaultdict(float)
        self._steps = 0
        self._lr = float("nan")

    def after_step(self) -> None:
        trainer = self.trainer
        if comm.is_main_process():
            latest = trainer.storage.latest()
            for name, (value, it) in latest.items():
                if it == trainer.iter and (name.startswith("loss") or name == "total_loss"):
                    self._sums[name] += float(value)
            self._steps += 1
            if "lr" in latest:  # put by hooks.LRScheduler: the rate this step used
                self._lr = float(latest["lr"][0])
        if (trainer.iter + 1) % trainer.iters_per_epoch:
            return
        epoch = trainer.epoch
        row: dict[str, float] = {}
        if comm.is_main_process():
            row = {k: v / max(self._steps, 1) for k, v in sorted(self._sums.items())}
            row["lr"] = self._lr
            for key, value in trainer.pseudo_state.get("stats", {}).items():
                row[f"pseudo_{key}"] = value
            row.update(trainer.epoch_metrics)
            trainer.history.append({"epoch": epoch, **row})
        self._sums.clear()
        self._steps = 0
        trainer.epoch_metrics.clear()
        state = trainer.checkpoint_state()  # collective: every process takes part
        if comm.is_main_process():
            self.save(state)
            if self.on_epoch_end is not None:
                self.on_epoch_end(epoch, {"epoch": epoch, **row})
        comm.synchronize()


class ProgressHook(HookBase):
    """tqdm progress over all iterations, with the loss and the epoch (main process)."""

    bar: tqdm | None = None

    def before_train(self) -> None:
        self.bar = tqdm(
            total=self.trainer.max_iter,
            initial=self.trainer.start_iter,
            desc="train dicl",
            dynamic_ncols=True,
            disable=not comm.is_main_process(),
        )

    def after_step(self) -> None:
        latest = self.trainer.storage.latest()
        if "total_loss" in latest:
            loss = latest["total_loss"][0]
            self.bar.set_postfix(epoch=self.trainer.epoch, loss=f"{loss:.3f}", refresh=False)
        self.bar.update(1)

    def after_train(self) -> None:
        if self.bar is not None:  # None when an earlier hook failed before training
            self.bar.close()
