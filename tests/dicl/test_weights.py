"""Pretrained backbone weights from a local file (torchvision names) and the sha256 pin."""

from __future__ import annotations

import hashlib

import pytest
import torch
import torchvision
from detectron2.modeling import build_model

import pipeline.models.dicl  # noqa: F401  (registration)
from pipeline.models.dicl.config import build_cfg
from pipeline.models.dicl.settings import DiclSettings
from pipeline.models.dicl.weights import load_backbone_weights, torchvision_to_detectron2


def test_torchvision_names_become_detectron2_names():
    renamed = torchvision_to_detectron2(
        {
            "conv1.weight": 1,
            "bn1.running_mean": 2,
            "layer1.0.conv2.weight": 3,
            "layer3.1.bn2.bias": 4,
            "layer2.0.downsample.0.weight": 5,
            "layer4.0.downsample.1.weight": 6,
            "fc.weight": 7,
        }
    )
    assert renamed == {
        "stem.conv1.weight": 1,
        "stem.conv1.norm.running_mean": 2,
        "res2.0.conv2.weight": 3,
        "res4.1.conv2.norm.bias": 4,
        "res3.0.shortcut.weight": 5,
        "res5.0.shortcut.norm.weight": 6,
    }


def _r18_model(tiny_section):
    tiny_section["model"]["backbone"].update(width=64, norm="BN")
    cfg = build_cfg(DiclSettings.model_validate(tiny_section), iters_per_epoch=1, memory_size=2)
    return build_model(cfg)


def test_local_torchvision_file_loads_into_the_backbone(tmp_path, tiny_section):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(reference.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    model = _r18_model(tiny_section)
    missing = load_backbone_weights(model, str(path), sha256=digest)
    assert missing == []
    bottom_up = model.backbone.bottom_up
    assert torch.equal(bottom_up.stem.conv1.weight, reference.conv1.weight)
    assert torch.equal(bottom_up.res3[0].shortcut.weight, reference.layer2[0].downsample[0].weight)
    assert torch.equal(
        bottom_up.res5[1].conv2.norm.running_var, reference.layer4[1].bn2.running_var
    )


def test_wrong_digest_and_missing_file_are_errors(tmp_path, tiny_section):
    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    model = _r18_model(tiny_section)
    with pytest.raises(ValueError, match="sha256"):
        load_backbone_weights(model, str(path), sha256="0" * 64)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_backbone_weights(model, str(tmp_path / "absent.pth"))


def test_unrelated_file_is_an_error(tmp_path, tiny_section):
    path = tmp_path / "other.pth"
    torch.save({"something.else": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="no tensor matches"):
        load_backbone_weights(_r18_model(tiny_section), str(path))
