"""DCLNet: dense contrastive learning for visible-infrared re-id (Sun et al., ACM MM 2022).

Modules: ``backbone`` (two-stream ResNet), ``pooling`` (GeM, stripes), ``parsing``
(part-aware parser), ``part_masks`` (semantic rectification), ``network`` (the
model), ``objective`` (every loss with its switch), ``trainer`` (one run),
``training`` / ``evaluation`` (the library side of training and evaluation), ``settings``
(the ``dclnet`` params section), ``entry``: the track's contract, ``build_model``, ``train_model`` and ``evaluate_model``, the same three functions every track exposes.
"""

from pipeline.models.dclnet.entry import build_model, evaluate_model, train_model
from pipeline.models.dclnet.network import DCLNet, build_dclnet
from pipeline.models.dclnet.settings import DclnetSettings, load_settings

__all__ = [
    "DCLNet",
    "DclnetSettings",
    "build_dclnet",
    "build_model",
    "evaluate_model",
    "load_settings",
    "train_model",
]
