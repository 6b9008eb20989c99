"""Pretrained backbone weights for DICL: from a local file or a URL.

The paper starts from ImageNet weights (``open-mmlab://detectron2/resnet50_caffe``,
i.e. detectron2's MSRA ``R-50.pkl``). Accepted sources:

* a local path or an ``http(s)://`` URL (fetched, cached and checked against
  ``sha256`` when given by ``pipeline.weights``, as every track's weights are);
* a ``detectron2://`` URL: detectron2's model zoo, the same file under
  :data:`DETECTRON2_ZOO` (as detectron2's PathManager maps it), fetched likewise.

Formats: detectron2 / Caffe2 pickles (``.pkl``) go through detectron2's
``DetectionCheckpointer`` (Caffe2 name conversion), but are unpickled by
:func:`pipeline.checkpoint.load_weights_pickle`, which builds only arrays, dtypes
and plain containers: a pickle from a URL never runs code (pin its sha256 all
the same). Anything else is read with
``torch.load(weights_only=True)``; torchvision ResNet names (``layer1.0.conv1``,
``bn1``, ``downsample.0``) are renamed to detectron2's (``res2.0.conv1``,
``conv1.norm``, ``shortcut``) and every tensor is matched to the model by
detectron2's suffix heuristics (``align_and_update_state_dicts``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.checkpoint.c2_model_loading import align_and_update_state_dicts

from pipeline.checkpoint import load_weights, load_weights_pickle
from pipeline.weights import fetch_weights

log = logging.getLogger(__name__)

# Where ``detectron2://<name>`` lives (detectron2.utils.file_io.Detectron2Handler).
DETECTRON2_ZOO = "https://dl.fbaipublicfiles.com/detectron2/"

_TORCHVISION_RULES = [
    (re.compile(r"^layer(\d)\."), lambda m: f"res{int(m.group(1)) + 1}."),
    (re.compile(r"\.downsample\.0\."), lambda m: ".shortcut."),
    (re.compile(r"\.downsample\.1\."), lambda m: ".shortcut.norm."),
    (re.compile(r"\.bn(\d)\."), lambda m: f".conv{m.group(1)}.norm."),
    (re.compile(r"^conv1\."), lambda m: "stem.conv1."),
    (re.compile(r"^bn1\."), lambda m: "stem.conv1.norm."),
]


def torchvision_to_detectron2(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a torchvision ResNet state dict to detectron2's ResNet names (``fc`` dropped)."""
    out = {}
    for name, value in state.items():
        if name.startswith("fc."):
            continue
        for pattern, repl in _TORCHVISION_RULES:
            name = pattern.sub(repl, name)
        out[name] = value
    return out


class SafeDetectionCheckpointer(DetectionCheckpointer):
    """detectron2's checkpointer with ``.pkl`` files read by the restricted unpickler.

    The post-processing is detectron2's own (``DetectionCheckpointer._load_file``):
    model-zoo files (``model`` + ``__author__``) as they are; Caffe2/Detectron1
    files (optionally under ``blobs``, ``*_momentum`` dropped) with name matching.
    """

    def _load_file(self, filename: str) -> dict:
        if not filename.endswith(".pkl"):
            return super()._load_file(filename)
        data = load_weights_pickle(filename)
        if not isinstance(data, dict):
            raise ValueError(f"{filename}: expected a dict of arrays, got {type(data).__name__}")
        if "model" in data and "__author__" in data:
            return data
        if "blobs" in data:
            data = data["blobs"]
        data = {k: v for k, v in data.items() if not k.endswith("_momentum")}
        return {"model": data, "__author__": "Caffe2", "matching_heuristics": True}


def local_weights_file(source: str, sha256: str | None = None) -> Path:
    """A local, verified copy of ``source`` (path, http(s) URL or detectron2:// URL).

    Raises:
        FileNotFoundError: a local path that does not exist.
        ValueError: a file whose sha256 does not match the pinned one, or a failed download.
    """
    if source.startswith("detectron2://"):
        source = DETECTRON2_ZOO + source[len("detectron2://") :]
    return fetch_weights(
        source, sha256=sha256 or None, setting="model.backbone.weights", progressbar=False
    )


def load_backbone_weights(
    model: torch.nn.Module, source: str, *, sha256: str | None = None
) -> list[str]:
    """Load pretrained weights into ``model`` (a DICL model) by name matching.

    Args:
        model: the model; its backbone's ResNet lives at ``backbone.bottom_up``.
        source: local path or URL (see the module docstring).
        sha256: expected digest of the file (checked when given).

    Returns:
        Names of model parameters that received no weight (logged too).
    """
    path = local_weights_file(source, sha256)
    if path.suffix == ".pkl":
        SafeDetectionCheckpointer(model).load(str(path))
        return []
    state = torchvision_to_detectron2(load_weights(path))
    model_state = model.state_dict()
    aligned = align_and_update_state_dicts(model_state, state, c2_conversion=False)
    matched = {k: v for k, v in aligned.items() if k in model_state}
    if not matched:
        raise ValueError(f"{source}: no tensor matches a parameter of the DICL model")
    result = model.load_state_dict(matched, strict=False)
    missing = [k for k in result.missing_keys if ".bottom_up." in k]
    if missing:
        log.warning(
            "%s: %d backbone tensors not in the file, e.g. %s", source, len(missing), missing[0]
        )
    return missing
