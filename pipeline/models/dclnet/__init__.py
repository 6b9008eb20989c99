"""DCLNet: dense contrastive learning for visible-infrared re-id (Sun et al., ACM MM 2022).

Modules: ``backbone`` (two-stream ResNet), ``pooling`` (GeM, stripes), ``parsing``
(part-aware parser), ``part_masks`` (semantic rectification), ``network`` (the
model), ``objective`` (every loss with its switch), ``trainer`` (one run),
``training`` / ``evaluation`` (the stages' library side), ``settings``
(the ``dclnet`` params section).
"""

from pipeline.models.dclnet.network import DCLNet, build_dclnet
from pipeline.models.dclnet.settings import DclnetSettings, load_settings

__all__ = ["DCLNet", "DclnetSettings", "build_dclnet", "load_settings"]
