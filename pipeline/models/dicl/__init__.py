"""DICL: weakly supervised one-step person search on detectron2 (docs/methods.md, "DICL").

The track's contract is ``build_model``, ``train_model`` and ``evaluate_model`` (``entry.py``), the same
three functions every track exposes. Importing the package registers the backbone, RPN, RoI
heads and meta-architecture in detectron2's registries (docs/style.md, "Registries only
where params pick by name").
"""

from pipeline.models.dicl import backbone, meta_arch, roi_heads, rpn  # noqa: F401  (registration)
from pipeline.models.dicl.entry import build_model, evaluate_model, train_model

__all__ = ["build_model", "evaluate_model", "train_model"]
