"""The SCL network: shapes, norms, last stride, seeded init, ImageNet weights loading."""

from __future__ import annotations

import hashlib
import http.server
import threading
from functools import partial

import pytest
import torch
import torchvision

from pipeline.models.scl.backbone import build_resnet_trunk, resolve_pretrained
from pipeline.models.scl.network import build_scl_net, mixed_embedding


def _net(**kw):
    args = dict(
        backbone="resnet18",
        last_stride=1,
        global_dim=64,
        num_stripes=4,
        local_dim=16,
        input_size=(64, 32),
        seed=0,
    )
    args.update(kw)
    return build_scl_net(**args)


def test_forward_shapes_and_unit_norms():
    net = _net().eval()
    with torch.no_grad():
        g, loc = net(torch.randn(3, 3, 64, 32))
    assert g.shape == (3, 64) and loc.shape == (3, 4, 16)
    assert torch.allclose(g.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(loc.norm(dim=2), torch.ones(3, 4), atol=1e-5)


def test_train_mode_forward_and_backward():
    net = _net().train()
    g, loc = net(torch.randn(2, 3, 64, 32))
    (g.sum() + loc.sum()).backward()
    assert net.global_fc.weight.grad is not None and net.local_fc[3].weight.grad is not None


def test_last_stride_one_doubles_the_map():
    trunk1, c = build_resnet_trunk("resnet18", last_stride=1)
    trunk2, _ = build_resnet_trunk("resnet18", last_stride=2)
    x = torch.zeros(1, 3, 64, 32)
    with torch.no_grad():
        assert trunk1.eval()(x).shape == (1, c, 4, 2)
        assert trunk2.eval()(x).shape == (1, c, 2, 1)


def test_resnet50_bottleneck_last_stride():
    trunk, c = build_resnet_trunk("resnet50", last_stride=1)
    assert c == 2048
    assert trunk[7][0].conv2.stride == (1, 1) and trunk[7][0].downsample[0].stride == (1, 1)


def test_too_few_rows_for_stripes_is_a_clear_error():
    with pytest.raises(ValueError, match="stripes need at least"):
        _net(num_stripes=8, local_dim=8)


def test_same_seed_same_init_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, c = _net(seed=4), _net(seed=4), _net(seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert not torch.equal(a.global_fc.weight, c.global_fc.weight)


def test_mixed_embedding_is_unit_and_gives_the_mixed_distance():
    gen = torch.Generator().manual_seed(1)
    g = torch.nn.functional.normalize(torch.randn(2, 8, generator=gen), dim=1)
    loc = torch.nn.functional.normalize(torch.randn(2, 4, 2, generator=gen), dim=2)
    m = mixed_embedding(g, loc, 0.3)
    assert torch.allclose(m.norm(dim=1), torch.ones(2), atol=1e-6)
    expected = 0.3 * (g[0] - g[1]).pow(2).sum() + 0.7 * (loc[0] - loc[1]).pow(2).sum(1).mean()
    assert torch.allclose((m[0] - m[1]).pow(2).sum(), expected, atol=1e-6)


@pytest.fixture()
def imagenet_file(tmp_path):
    """A locally made torchvision-format ResNet-18 state dict (with its fc)."""
    torch.manual_seed(7)
    state = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path / "resnet18-local.pth"
    torch.save(state, path)
    return path, state


def test_pretrained_weights_are_loaded(imagenet_file):
    path, state = imagenet_file
    net = _net(weights_path=str(path))
    assert torch.equal(net.trunk[0].weight, state["conv1.weight"])
    assert torch.equal(net.trunk[7][1].bn2.running_var, state["layer4.1.bn2.running_var"])


def test_pretrained_wrong_architecture_names_the_file(tmp_path):
    path = tmp_path / "r34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="r34.pth"):
        build_resnet_trunk("resnet18", weights_path=path)


def test_resolve_pretrained_local_checks(imagenet_file, tmp_path):
    path, _ = imagenet_file
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert resolve_pretrained(str(path), sha256=digest, cache_dir=tmp_path) == path
    with pytest.raises(ValueError, match="sha256"):
        resolve_pretrained(str(path), sha256="0" * 64, cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="model.pretrained"):
        resolve_pretrained(str(tmp_path / "missing.pth"), sha256=None, cache_dir=tmp_path)


def test_resolve_pretrained_downloads_url_into_cache(imagenet_file, tmp_path):
    path, _ = imagenet_file
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(path.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{path.name}"
        got = resolve_pretrained(url, sha256=digest, cache_dir=tmp_path / "cache")
        assert got.parent == tmp_path / "cache" and got.read_bytes() == path.read_bytes()
        with pytest.raises(ValueError):
            resolve_pretrained(url, sha256="1" * 64, cache_dir=tmp_path / "cache2")
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_thin_resnet_scales_every_stage():
    trunk, channels = build_resnet_trunk("resnet18", last_stride=1, width=0.25)
    assert channels == 128
    assert [trunk[i][0].conv1.out_channels for i in range(4, 8)] == [16, 32, 64, 128]
    with torch.no_grad():
        assert trunk.eval()(torch.zeros(1, 3, 128, 64)).shape == (1, 128, 8, 4)
    _, c50 = build_resnet_trunk("resnet50", width=0.5)
    assert c50 == 1024


def test_thin_resnet_refuses_imagenet_weights(imagenet_file):
    path, _ = imagenet_file
    with pytest.raises(ValueError, match="width 1.0"):
        build_resnet_trunk("resnet18", width=0.5, weights_path=path)
