"""Seeds, determinism and the resume RNG round trip."""

from __future__ import annotations

import io
import random

import numpy as np
import torch

from pipeline import runtime
from tests.real_config import runtime_settings


def draw():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_setup_seeds_and_picks_cpu():
    rt = runtime.setup(runtime_settings(threads=1, device="auto"), seed=7)
    first = draw()
    runtime.setup(runtime_settings(threads=1, device="auto"), seed=7)
    assert draw() == first
    assert rt.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert rt.world_size == 1 and rt.is_main
    assert torch.are_deterministic_algorithms_enabled()


def test_rng_state_survives_weights_only_round_trip():
    runtime.seed_everything(11)
    draw()
    buf = io.BytesIO()
    torch.save(runtime.rng_state(), buf)
    expected = draw()
    buf.seek(0)
    runtime.set_rng_state(torch.load(buf, weights_only=True))
    assert draw() == expected


def test_generator_is_independent_of_global_state():
    a = torch.randperm(10, generator=runtime.make_generator(3))
    torch.manual_seed(999)
    b = torch.randperm(10, generator=runtime.make_generator(3))
    assert torch.equal(a, b)
