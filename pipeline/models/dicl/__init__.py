"""DICL: weakly supervised one-step person search on detectron2 (METHODS.md section 1).

Importing the package registers the backbone, RoI heads and meta-architecture in
detectron2's registries (STYLE.md example 6).
"""

from pipeline.models.dicl import backbone, meta_arch, roi_heads  # noqa: F401  (registration)
