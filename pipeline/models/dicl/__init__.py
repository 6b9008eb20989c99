"""DICL: weakly supervised one-step person search on detectron2 (docs/methods.md, "DICL").

Importing the package registers the backbone, RoI heads and meta-architecture in
detectron2's registries (docs/style.md, "Registries only where params pick by name").
"""

from pipeline.models.dicl import backbone, meta_arch, roi_heads  # noqa: F401  (registration)
