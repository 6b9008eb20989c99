"""Process-level runtime: seeds, determinism, threads, device, distributed launch.

Everything a stage must do before building a model so that its outputs are the
same bytes on every rerun (docs/design.md, "Reproducibility").
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from pipeline.params import ParamsError, RuntimeSettings


@dataclass(frozen=True)
class Runtime:
    """What a stage learns from :func:`setup`: where to run and which rank it is."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


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
    seed_everything(seed + rank)
    return Runtime(device=device, rank=rank, world_size=world_size, local_rank=local_rank)


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
