"""The tracks' contract (docs/design.md, "Tracks").

Every track package (``pipeline.models.dicl``, ``.scl``, ``.dclnet``) exposes, from its
``entry.py``, ``build_model``, ``train_model`` and ``evaluate_model`` with the same
signatures (tests/test_track_contract.py); the stage scripts call nothing else of a
track. Only ``train_model`` imports the track's training modules, inside the function:
``build_model`` and ``evaluate_model`` never need them (tests/test_imports.py).
``train_model`` and ``evaluate_model`` expect ``pipeline.runtime.setup`` to have run.
"""

from __future__ import annotations

from collections.abc import Callable

# ``train_model``'s ``on_epoch_end``: ``(epoch, metrics)`` after each epoch, on rank 0.
EpochCallback = Callable[[int, dict[str, float]], None]
