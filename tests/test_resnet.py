"""The shared ResNet builder (pipeline/models/resnet.py): torchvision's network, seeded alike."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from pipeline.models.resnet import (
    build_resnet,
    init_resnet,
    load_torchvision_state,
    stage_channels,
)


def _same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("depth", [18, 50])
def test_seeded_build_is_torchvisions_network_and_leaves_the_rng_alike(depth):
    torch.manual_seed(7)
    reference = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    after_reference = torch.get_rng_state()
    torch.manual_seed(7)
    ours = build_resnet(depth, imagenet_classifier=True)
    assert torch.equal(torch.get_rng_state(), after_reference)
    assert _same_state(ours, reference)


def test_last_stride_and_width():
    net = build_resnet(18, width=16, last_stride=1).eval()
    assert net.out_channels == 128 == stage_channels(18, 16)[-1]
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 128, 64)).shape == (1, 128, 8, 4)
    assert build_resnet(18, width=16).eval()(torch.zeros(1, 3, 128, 64)).shape[-2:] == (4, 2)
    assert not hasattr(net, "fc")


def test_parts_built_apart_then_initialised_once_equal_a_whole():
    """DCLNet's streams: stem + layer1 and layer2-4 built apart, one init over both."""
    torch.manual_seed(3)
    whole = build_resnet(18, width=8, last_stride=1, init=False)
    init_resnet(whole)
    torch.manual_seed(3)
    low = build_resnet(18, width=8, stages=(1,), init=False)
    high = build_resnet(18, width=8, last_stride=1, stem=False, stages=(2, 3, 4), init=False)
    init_resnet(nn.ModuleList([low, high]))
    joined = {**low.state_dict(), **high.state_dict()}
    assert list(joined) == list(whole.state_dict())
    assert all(torch.equal(joined[k], v) for k, v in whole.state_dict().items())
    assert high.layer2[0].conv1.in_channels == low.out_channels


def test_norm_layer_is_used_everywhere():
    net = build_resnet(18, width=8, norm=lambda c: nn.GroupNorm(2, c))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert isinstance(net.layer2[0].downsample[1], nn.GroupNorm)


@pytest.mark.parametrize("stages", [(1, 3), (0, 1), (5,)])
def test_stages_must_be_consecutive(stages):
    with pytest.raises(ValueError, match="consecutive"):
        build_resnet(18, stages=stages)


def test_unknown_depth():
    with pytest.raises(ValueError, match="depth 101 not supported"):
        build_resnet(101)


def test_torchvision_weights_load_and_misfits_are_named():
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None)
    state = reference.state_dict()
    net = build_resnet(18, last_stride=1, weights=state, weights_source="r18.pth")
    assert torch.equal(net.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)
    with pytest.raises(ValueError, match=r"^r34.pth: .*e\.g\. 'layer1.2"):
        build_resnet(
            18, weights=torchvision.models.resnet34().state_dict(), weights_source="r34.pth"
        )
    with pytest.raises(ValueError, match="check model.width"):
        load_torchvision_state([build_resnet(18, width=32)], state, "r18.pth", "check model.width")
