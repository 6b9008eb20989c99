"""Seeded random streams of the synthetic world.

Every image, identity list and camera draws from its own generator, keyed by the
render seed and a path of names and numbers (``stream(seed, "market1501", "image",
pid, cam, k)``). An image's pixels therefore depend only on its own key, never on
how many images were drawn before it, and the same seed gives the same bytes on
every machine: PCG64 through ``SeedSequence`` is specified bit-exactly by numpy,
and names are turned into integers with CRC-32, not Python's salted ``hash``.
"""

from __future__ import annotations

import zlib

import numpy as np

Key = int | str


def _key_int(key: Key) -> int:
    if isinstance(key, str):
        return zlib.crc32(key.encode("utf-8"))
    if isinstance(key, (bool, np.bool_)):
        raise TypeError(f"stream key {key!r} must be an int or a str, not a bool")
    value = int(key)
    # SeedSequence takes non-negative integers only; fold negatives (pid -1) onto
    # a disjoint range so that -1 and 1 stay different streams.
    return value if value >= 0 else (1 << 40) - value


def stream(seed: int, *keys: Key) -> np.random.Generator:
    """A generator for one named part of the world.

    Args:
        seed: the render seed from params.
        keys: names and numbers that say what is drawn (dataset, kind, indices).

    Returns:
        A fresh ``numpy.random.Generator`` (PCG64), the same for the same arguments.
    """
    entropy = [_key_int(seed), *(_key_int(k) for k in keys)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def categorical(rng: np.random.Generator, weights: np.ndarray | tuple[float, ...]) -> int:
    """Index drawn with probability proportional to ``weights``.

    One uniform draw and a search: the same law as ``rng.choice(n, p=...)``, an
    order of magnitude cheaper per call (the renderer draws millions).
    """
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(index, len(cumulative) - 1)
