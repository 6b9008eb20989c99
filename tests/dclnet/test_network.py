"""DCLNet forward shapes, seeded initialisation and pretrained-weight loading."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import resnet18

from pipeline.models.dclnet.backbone import TwoStreamResNet, load_pretrained
from pipeline.models.dclnet.network import build_dclnet


def tiny(**kw):
    return build_dclnet(num_classes=5, seed=0, depth=18, width=8, **kw)


def test_training_forward_shapes():
    model = tiny()
    out = model(torch.randn(4, 3, 96, 48), torch.randn(4, 3, 96, 48))
    c = 8 * 8  # layer4 channels of a width-8 ResNet-18
    assert out.pooled.shape == (8, c)
    assert out.logits.shape == (8, 5) and out.part_logits.shape == (8, 5)
    assert out.visible_low.shape == (4, 8, 24, 12) and out.infrared_low.shape == (4, 8, 24, 12)
    assert out.high.shape == (8, c, 6, 3)  # last stride 1: 1/16 of the input
    assert out.pixel_logits.shape == (8, 8, 24, 12)
    assert not out.high.requires_grad


def test_resnet50_level_channels_and_real_resolution():
    backbone = TwoStreamResNet(depth=50, width=16)
    assert backbone.level_channels == (16, 64, 128, 256, 512)
    maps = backbone(torch.randn(1, 3, 288, 144), "infrared")
    assert [tuple(m.shape[-2:]) for m in maps] == [(72, 36), (72, 36), (36, 18), (18, 9), (18, 9)]


def test_embed_uses_the_modality_stream():
    model = tiny().eval()
    x = torch.randn(2, 3, 96, 48)
    vis, ir = model.embed(x, "visible"), model.embed(x, "infrared")
    assert vis.shape == (2, 64)
    assert not torch.allclose(vis, ir)  # the two stems are separate weights
    with pytest.raises(ValueError, match="modality"):
        model.embed(x, "thermal")


def test_streams_are_separate_and_shared_stages_single():
    model = tiny()
    names = {n for n, _ in model.named_parameters()}
    assert "backbone.visible.conv1.weight" in names and "backbone.infrared.conv1.weight" in names
    assert "backbone.shared.layer4.0.conv1.weight" in names
    assert not any(n.startswith("backbone.visible.layer2") for n in names)
    assert model.classifier.bias is None and model.part_classifier.bias is None
    assert not model.bottleneck.bias.requires_grad


def test_same_seed_same_weights_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, c = tiny(), tiny(), build_dclnet(num_classes=5, seed=1, depth=18, width=8)
    assert torch.equal(torch.get_rng_state(), before)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["backbone.visible.conv1.weight"], sc["backbone.visible.conv1.weight"])


def test_torchvision_weights_load_into_both_streams(tmp_path):
    ref = resnet18()
    path = tmp_path / "r18.pt"
    torch.save(ref.state_dict(), path)
    backbone = TwoStreamResNet(depth=18, width=64)
    load_pretrained(backbone, str(path), 18)
    assert torch.equal(backbone.visible.conv1.weight, ref.conv1.weight)
    assert torch.equal(backbone.infrared.layer1[1].bn2.running_var, ref.layer1[1].bn2.running_var)
    assert torch.equal(
        backbone.shared.layer4[0].downsample[0].weight, ref.layer4[0].downsample[0].weight
    )
    with pytest.raises(ValueError, match="model.width"):
        load_pretrained(TwoStreamResNet(depth=18, width=32), str(path), 18)
    with pytest.raises(FileNotFoundError):
        load_pretrained(backbone, str(tmp_path / "missing.pt"), 18)


def test_mismatched_batches_raise():
    with pytest.raises(ValueError, match="batches differ"):
        tiny()(torch.randn(2, 3, 96, 48), torch.randn(3, 3, 96, 48))
