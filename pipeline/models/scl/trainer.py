"""One SCL training epoch, with the state a resumed run needs (an ``EpochTask``).

The step, as the official ``create_supervised_trainer`` runs it: embed a batch
(global + 8 stripes), select positives and negatives against the distance banks,
the selective contrastive loss on the mixture bank for the global feature and
for the concatenated stripes, ``total = lambda_p L_local + (1 - lambda_p) L_global``,
an SGD step, then the memory updates. In the first ``warmup_epochs`` epochs the
sample itself is the only positive and negatives are random. Cluster mode
(the project's addition) runs a pseudo-label round before each later epoch,
takes positives from the sample's cluster, trains on the clustered images only
and adds a centroid contrast term (weight ``loss.cluster_weight``) per branch.

Under DDP every rank selects for its own batch slice against identical banks;
the updates of all ranks are gathered and applied in rank order, so the banks
stay identical everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from pipeline.losses.cluster_contrast import cluster_contrast_loss
from pipeline.losses.selective_contrastive import positive_weights, selective_contrastive_loss
from pipeline.models.scl.data import ShuffledBatchSampler, loader
from pipeline.models.scl.memory import ClusterMemory, InstanceMemory
from pipeline.models.scl.rounds import extract_embeddings, pseudo_labels, round_quality
from pipeline.models.scl.selection import (
    Selection,
    select_in_clusters,
    select_knn,
    select_random,
    selection_distance,
)
from pipeline.models.scl.settings import SCLSettings
from pipeline.runtime import Runtime


def _gather(tensor: torch.Tensor, world_size: int) -> torch.Tensor:
    """Concatenate equal-shaped tensors of all ranks along dim 0, in rank order."""
    if world_size == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


class SCLTrainer:
    """The resumable training state and epoch logic of the SCL track.

    Args:
        net: the :class:`~pipeline.models.scl.network.SCLNet` to train.
        settings: resolved ``scl`` settings.
        train_set: training images with the training transform (items carry their index).
        extract_set: the same images with the test transform (memory init, rounds).
        runtime: device and DDP rank from ``pipeline.runtime.setup``.
        seed: base seed of batch order and random negatives.
        report_ids: true identities of the training images, used only for the
            reported label quality and neighbour precision; never for training.
        validate: scores the network on held-out identities (``val_*`` keys of the
            epoch row) after every ``settings.validation.every`` epochs and after the
            last; None: no validation. Draws no randomness: training is unchanged by it.
    """

    def __init__(
        self,
        *,
        net: nn.Module,
        settings: SCLSettings,
        train_set,
        extract_set,
        runtime: Runtime,
        seed: int,
        report_ids: np.ndarray | None = None,
        validate: Callable[[nn.Module], dict[str, float]] | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.device = runtime.device
        self.seed = seed
        self.train_set = train_set
        self.extract_set = extract_set
        self.report_ids = None if report_ids is None else np.asarray(report_ids)
        self.validate = validate
        self.net = net.to(self.device)
        self.model: nn.Module = self.net
        if runtime.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.net, device_ids=ids)
        train = settings.train
        # runtime.batch_rule / lr_scaling (one process: the configured batch and lr).
        self.batch = runtime.batch_plan(settings.data.batch_size, "scl.data.batch_size")
        self.optimizer = torch.optim.SGD(
            self.net.parameters(),
            lr=self.batch.lr(train.lr),
            momentum=train.momentum,
            nesterov=train.nesterov and train.momentum > 0,
            weight_decay=train.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=list(train.lr_steps), gamma=train.lr_gamma
        )
        m = settings.model
        self.memory = InstanceMemory(
            size=len(train_set),
            global_dim=m.global_dim,
            num_stripes=m.num_stripes,
            local_dim=m.local_dim,
            cameras=torch.as_tensor(train_set.cameras),
            momentum=settings.memory.momentum,
            device=self.device,
        )
        self.clusters = ClusterMemory(
            m.global_dim, m.num_stripes * m.local_dim, settings.memory.cluster_momentum, self.device
        )
        self.labels: torch.Tensor | None = None  # current round's pseudo labels (N,)
        self.rounds: list[torch.Tensor] = []  # every round's labels, for the outputs
        self.round_rows: list[dict[str, float]] = []
        self.generator = torch.Generator().manual_seed(seed * 7919 + 17)
        self.initialised = False

    # -- rounds and memory -------------------------------------------------
    def _extract(self, desc: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Embed every training image with the test transform (same result on every rank)."""
        if self.runtime.distributed:
            # BatchNorm running stats drift per rank after the last step: take rank 0's.
            for buf in self.net.buffers():
                dist.broadcast(buf, src=0)
        self.net.eval()
        data = loader(
            self.extract_set,
            batch_size=self.settings.data.test_batch_size,
            num_workers=self.settings.data.num_workers,
            seed=self.seed,
        )
        g, loc, _ = extract_embeddings(self.net, data, self.device, desc=desc)
        self.net.train()
        return g, loc

    @torch.no_grad()
    def _init_memory(self) -> None:
        """Fill the distance banks before the first step, as the official ``init_vector``:
        the network in training mode (BatchNorm on batch statistics, so the bank
        matches the features the steps compare against), over a seeded shuffled
        order in batches of the training size."""
        order = np.random.default_rng(self.seed).permutation(len(self.extract_set))
        size = self.settings.data.batch_size
        batches = [order[i : i + size] for i in range(0, len(order), size)]
        if len(batches) > 1 and len(batches[-1]) == 1:  # BatchNorm needs two samples
            batches[-2] = np.concatenate(batches[-2:])
            batches.pop()
        self.net.train()
        data = loader(
            self.extract_set,
            batch_sampler=[b.tolist() for b in batches],
            num_workers=self.settings.data.num_workers,
            seed=self.seed,
        )
        for images, _pids, _cams, idx, _mod in tqdm(
            data, desc="memory init", leave=False, disable=not self.runtime.is_main
        ):
            g, loc = self.net(images.to(self.device))
            self.memory.global_bank[idx.to(self.device)] = g
            self.memory.local_bank[idx.to(self.device)] = loc

    def _cluster_round(self, epoch: int) -> dict[str, float]:
        g, loc = self._extract(f"round {len(self.rounds)}")
        c = self.settings.clustering
        labels = torch.from_numpy(
            pseudo_labels(
                g,
                loc,
                lambda_g=self.settings.selection.lambda_g,
                method=c.method,
                knn=c.knn,
                k1=c.k1,
                k2=c.k2,
                eps=c.eps,
                min_samples=c.min_samples,
            )
        )
        if self.runtime.distributed:  # identical already; make it certain
            dist.broadcast(labels, src=0)
        self.labels = labels.to(self.device)
        self.clusters.reset(labels, g, loc.flatten(1))
        row = {"round": float(len(self.rounds)), "epoch": float(epoch)}
        row.update(round_quality(labels.numpy(), self.report_ids))
        self.rounds.append(labels.clone())
        self.round_rows.append(row)
        return row

    # -- one step ----------------------------------------------------------
    def _select(self, g, loc, cams, idx, warm: bool) -> Selection:
        s = self.settings.selection
        if warm:
            return select_random(
                idx,
                self.memory.size,
                num_negatives=s.num_positives + s.num_negatives,
                generator=self.generator,
            )
        distance = selection_distance(
            g,
            loc,
            cams,
            self.memory.global_bank,
            self.memory.local_bank,
            self.memory.cameras,
            lambda_g=s.lambda_g,
            camera_penalty=s.camera_penalty,
        )
        if self.labels is None:
            return select_knn(
                distance, idx, num_positives=s.num_positives, num_negatives=s.num_negatives
            )
        return select_in_clusters(
            distance,
            idx,
            self.labels,
            num_positives=s.num_positives,
            num_negatives=s.num_negatives,
        )

    def _update_memories(self, idx, g, loc, sel: Selection, cluster_ids) -> None:
        world = self.runtime.world_size
        idx_all = _gather(idx, world)
        g_all = _gather(g.detach(), world)
        loc_all = _gather(loc.detach(), world)
        pos_all = _gather(sel.positives.contiguous(), world)
        valid_all = _gather(sel.positive_valid.to(torch.uint8), world).bool()
        self.memory.update_mixture(pos_all, valid_all, g_all, loc_all.flatten(1))
        self.memory.update_distance_banks(idx_all, g_all, loc_all)
        if cluster_ids is not None:
            self.clusters.update(_gather(cluster_ids, world), g_all, loc_all.flatten(1))

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """Run one epoch (0-based); return its mean losses and round statistics."""
        st = self.settings
        if not self.initialised:
            self._init_memory()
            self.initialised = True
        warm = epoch < st.train.warmup_epochs
        row: dict[str, float] = {}
        self.labels = None
        indices = np.arange(len(self.train_set))
        if st.mode == "cluster" and not warm:
            stats = self._cluster_round(epoch)
            row.update({f"pl_{k}": v for k, v in stats.items() if k not in ("round", "epoch")})
            kept = (self.labels >= 0).cpu().numpy()
            if kept.sum() >= self.batch.total:
                indices = indices[kept]
            else:  # nothing clustered yet: this epoch stays instance-level (warm-up rule)
                self.labels = None
                warm = True
        sampler = ShuffledBatchSampler(
            indices,
            self.batch.per_process,
            seed=self.seed,
            rank=self.runtime.rank,
            world_size=self.runtime.world_size,
        )
        sampler.set_epoch(epoch)
        data = loader(
            self.train_set,
            batch_sampler=sampler,
            num_workers=st.data.num_workers,
            seed=self.seed * 1009 + epoch,
        )
        sums: dict[str, float] = {}
        steps = 0
        self.net.train()
        bar = tqdm(
            data,
            desc=f"epoch {epoch}",
            leave=False,
            dynamic_ncols=True,
            disable=not self.runtime.is_main,
        )
        for images, _pids, cams, idx, _mod in bar:
            out = self._step(images, cams, idx, warm)
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
            bar.set_postfix(loss=f"{out['loss']:.3f}")
        self.scheduler.step()
        row.update({k: v / max(steps, 1) for k, v in sums.items()})
        row["lr"] = float(self.optimizer.param_groups[0]["lr"])
        row["images"] = float(steps * self.batch.total)
        if self._validation_due(epoch):
            row.update(self.validate(self.net))
        return row

    def _validation_due(self, epoch: int) -> bool:
        if self.validate is None or not self.runtime.is_main:
            return False
        every, last = self.settings.validation.every, self.settings.train.epochs
        return epoch + 1 == last or (every > 0 and (epoch + 1) % every == 0)

    def _step(self, images, cams, idx, warm: bool) -> dict[str, float]:
        st = self.settings
        idx = idx.to(self.device)
        cams = cams.to(self.device)
        with self.runtime.autocast():  # bf16: the network's forward; fp32: nothing
            g, loc = self.model(images.to(self.device))
        sel = self._select(g, loc, cams, idx, warm)
        weights = positive_weights(
            sel.positive_valid,
            self_weight=st.loss.self_weight,
            neighbour_scale=st.loss.neighbour_scale,
        )
        lcat = loc.flatten(1)
        bank = self.memory.mixture_bank
        t = st.loss.temperature
        loss_g, logits_g = selective_contrastive_loss(
            g, bank, sel.candidates, sel.valid, weights, temperature=t
        )
        loss_l, logits_l = selective_contrastive_loss(
            lcat, bank, sel.candidates, sel.valid, weights, temperature=t
        )
        out = {"loss_global": loss_g.item(), "loss_local": loss_l.item()}
        cluster_ids = None
        if self.labels is not None and self.clusters.num_clusters > 0:
            cluster_ids = self.labels[idx]
            tc = st.loss.cluster_temperature
            lc_g = cluster_contrast_loss(
                g, self.clusters.global_centroids, cluster_ids, temperature=tc
            )
            lc_l = cluster_contrast_loss(
                lcat, self.clusters.local_centroids, cluster_ids, temperature=tc
            )
            out["loss_cluster"] = (lc_g.item() + lc_l.item()) / 2
            loss_g = loss_g + st.loss.cluster_weight * lc_g
            loss_l = loss_l + st.loss.cluster_weight * lc_l
        loss = st.loss.local_weight * loss_l + (1.0 - st.loss.local_weight) * loss_g
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self._update_memories(idx, g, loc, sel, cluster_ids)
        out["loss"] = loss.item()
        # The official "accuracy": the sample's own slot scores highest.
        out["acc_global"] = float((logits_g.argmax(1) == 0).float().mean())
        out["acc_local"] = float((logits_l.argmax(1) == 0).float().mean())
        if self.report_ids is not None and sel.num_positive > 1:
            out["positive_precision"] = self._positive_precision(idx, sel)
        return out

    def _positive_precision(self, idx: torch.Tensor, sel: Selection) -> float:
        """Share of selected neighbour positives that truly share the identity (report only)."""
        ids = self.report_ids
        own = ids[idx.cpu().numpy()][:, None]
        neigh = ids[sel.positives[:, 1:].cpu().numpy()]
        valid = sel.positive_valid[:, 1:].cpu().numpy()
        return float((neigh == own)[valid].mean()) if valid.any() else 0.0

    # -- resume ------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "memory": self.memory.state_dict(),
            "clusters": self.clusters.state_dict(),
            "rounds": [r.cpu() for r in self.rounds],
            "round_rows": [dict(r) for r in self.round_rows],
            "generator": self.generator.get_state(),
            "initialised": self.initialised,
        }

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.memory.load_state_dict(state["memory"])
        self.clusters.load_state_dict(state["clusters"])
        self.rounds = [r.clone() for r in state["rounds"]]
        self.round_rows = [dict(r) for r in state["round_rows"]]
        self.generator.set_state(state["generator"])
        self.initialised = bool(state["initialised"])
