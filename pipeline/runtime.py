"""Process-level runtime: seeds, determinism, threads, device, distributed launch,
training precision and the batch / learning-rate rule under DDP.

Everything a stage must do before building a model so that its outputs are the
same bytes on every rerun (docs/design.md, "Reproducibility"), and what every
track reads the same way when it trains on several processes or in bfloat16
(docs/design.md, "Precision and several processes").
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.distributed as dist

from pipeline.params import ParamsError, RuntimeSettings

log = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16"]
BatchRule = Literal["total", "per_process"]
LrScaling = Literal["none", "linear"]


@dataclass(frozen=True)
class BatchPlan:
    """One track's batch under DDP, and the learning-rate and warm-up factors it implies.

    ``configured`` is the batch the track's settings give (the paper's one-GPU batch);
    ``per_process`` what each of the ``world_size`` processes takes per step.
    """

    configured: int
    per_process: int
    world_size: int
    lr_scaling: LrScaling

    @property
    def total(self) -> int:
        """Images (or identities) in one optimiser step over all processes."""
        return self.per_process * self.world_size

    @property
    def lr_factor(self) -> float:
        """``linear``: lr x total / configured (Goyal et al. 2017); ``none``: 1."""
        if self.lr_scaling == "linear":
            return self.total / self.configured
        return 1.0

    def lr(self, base_lr: float) -> float:
        """``base_lr`` under the rule; exactly ``base_lr`` when the factor is 1."""
        factor = self.lr_factor
        return base_lr if factor == 1.0 else base_lr * factor

    def warmup_iters(self, iters: int) -> int:
        """A warm-up counted in iterations of the configured batch, as iterations of this
        plan's total batch: the same number of images, as detectron2's
        ``DefaultTrainer.auto_scale_workers`` rescales ``SOLVER.WARMUP_ITERS``. Warm-ups
        counted in epochs need nothing."""
        if self.total == self.configured:
            return iters
        return max(1, round(iters * self.configured / self.total)) if iters > 0 else 0


def batch_plan(
    configured: int,
    *,
    world_size: int,
    batch_rule: BatchRule,
    lr_scaling: LrScaling,
    key: str,
) -> BatchPlan:
    """Apply ``runtime.batch_rule`` to a track's configured batch (named ``key`` in errors).

    ``total``: the configured batch is one step's batch over all processes, each process
    takes ``configured / world_size`` (it must divide). ``per_process``: each process takes
    ``configured``; one step then holds ``world_size`` times as many.

    Raises:
        ParamsError: ``total`` and ``configured`` not a multiple of ``world_size``.
    """
    if configured < 1 or world_size < 1:
        raise ValueError(f"{key}: batch {configured} on {world_size} processes")
    if batch_rule == "per_process":
        per_process = configured
    elif configured % world_size:
        raise ParamsError(
            f"{key}: value {configured} not allowed with runtime.batch_rule 'total' on "
            f"{world_size} processes: the total batch must be a multiple of the process count "
            f"(give a multiple of {world_size}, or runtime.batch_rule: per_process)"
        )
    else:
        per_process = configured // world_size
    return BatchPlan(configured, per_process, world_size, lr_scaling)


@dataclass(frozen=True)
class Runtime:
    """What a stage learns from :func:`setup`: where to run, which rank it is, and the
    ``runtime`` rules the tracks apply (precision, batch and lr under DDP).

    A Runtime built by hand (tests, evaluation helpers) is one fp32 process.
    """

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    precision: Precision = "fp32"
    batch_rule: BatchRule = "total"
    lr_scaling: LrScaling = "none"

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        """The region of a training forward pass: bfloat16 autocast under ``bf16``;
        under ``fp32`` a context that does nothing, so fp32 runs keep their bytes."""
        return autocast_region(self.device.type, self.precision)

    def batch_plan(self, configured: int, key: str) -> BatchPlan:
        """:func:`batch_plan` with this process group's size and this runtime's rules."""
        return batch_plan(
            configured,
            world_size=self.world_size,
            batch_rule=self.batch_rule,
            lr_scaling=self.lr_scaling,
            key=key,
        )

    def resume_key(self) -> tuple:
        """What of the runtime a training checkpoint depends on beyond the world size:
        empty for the defaults (fp32, and the rules on one process), so their checkpoints
        keep the fingerprints they had."""
        key: tuple = ()
        if self.precision != "fp32":
            key += (f"precision={self.precision}",)
        if self.distributed:
            key += (f"batch_rule={self.batch_rule}", f"lr_scaling={self.lr_scaling}")
        return key


def autocast_region(device_type: str, precision: Precision) -> contextlib.AbstractContextManager:
    """``torch.autocast(device_type, torch.bfloat16)`` for ``bf16``; a no-op for ``fp32``.

    bfloat16 has float32's exponent range, so no loss scaling (GradScaler) is needed.
    """
    if precision == "bf16":
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if precision != "fp32":
        raise ValueError(f"precision {precision!r}: expected 'fp32' or 'bf16'")
    return contextlib.nullcontext()


def float32_region(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast switched off: what runs inside (losses over memory banks, their matrix
    products) computes in the dtype of its inputs, float32 once they are cast."""
    return torch.autocast(device_type, enabled=False)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def make_generator(seed: int) -> torch.Generator:
    """A torch generator for DataLoader shuffling/sampling, independent of global state."""
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive numpy/random seeds from torch's per-worker seed."""
    worker_seed = torch.initial_seed() % (2**32)
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def set_determinism(enabled: bool) -> None:
    """Deterministic kernels; cuBLAS needs its workspace variable set before first use."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ParamsError(
                "runtime.device: value 'cuda' not allowed: no CUDA device is available "
                "(use 'auto' or 'cpu')"
            )
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def init_distributed(backend: str, device: torch.device) -> tuple[int, int, int]:
    """Join the process group torchrun (or detectron2's launcher) set up, if any.

    Returns ``(rank, world_size, local_rank)``; ``(0, 1, 0)`` when not launched
    with ``WORLD_SIZE > 1``.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    if world_size <= 1:
        return 0, 1, 0
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return rank, world_size, local_rank


def setup(settings: RuntimeSettings, seed: int) -> Runtime:
    """Apply threads, determinism and seeds; pick the device; join DDP if launched.

    Each rank seeds with ``seed + rank`` so data augmentation differs across ranks
    while the whole job stays reproducible.
    """
    torch.set_num_threads(settings.threads)
    set_determinism(settings.deterministic)
    local_rank = _env_int("LOCAL_RANK", 0)
    device = resolve_device(settings.device, local_rank)
    rank, world_size, local_rank = init_distributed(settings.dist_backend, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        if settings.precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise ParamsError(
                "runtime.precision: value 'bf16' not allowed: this GPU has no bfloat16 "
                "support (needs compute capability 8.0 or newer); use fp32"
            )
    if settings.precision == "bf16" and device.type == "cpu" and _onednn_pinned_to_avx2():
        log.warning(
            "runtime.precision: bf16 on CPU with oneDNN pinned to AVX2 (pipeline/cpu_kernels.py) "
            "has no bfloat16 kernels: SCL's network stepped 13x slower than in fp32 here; "
            "set PIPELINE_CPU_ISA=native on a CPU with AVX512-BF16 or AMX, or use fp32"
        )
    seed_everything(seed + rank)
    return Runtime(
        device=device,
        rank=rank,
        world_size=world_size,
        local_rank=local_rank,
        precision=settings.precision,
        batch_rule=settings.batch_rule,
        lr_scaling=settings.lr_scaling,
    )


def _onednn_pinned_to_avx2() -> bool:
    return os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper() == "AVX2"


def rng_state() -> dict:
    """Every RNG state a resumed run needs to continue bit-identically.

    Only tensors, ints, floats and tuples: loadable with ``torch.load(weights_only=True)``.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
