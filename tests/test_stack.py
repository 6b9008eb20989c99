"""The dependency stack: detectron2 without `_C` trains a Faster R-CNN step on CPU; DVC's
YAML parser is the C one."""

from __future__ import annotations

import importlib.util
import sysconfig
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def _installer():
    """scripts/install_detectron2.py as a module (scripts/ is not a package)."""
    path = REPO / "scripts" / "install_detectron2.py"
    spec = importlib.util.spec_from_file_location("install_detectron2", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_detectron2_is_the_package_only():
    import detectron2
    import torchvision.ops  # noqa: F401

    # The wheel's stray top-level `tools` package must not be installed.
    spec = importlib.util.find_spec("tools")
    assert spec is None or "site-packages" not in (spec.origin or "")
    installer = _installer()
    package = Path(detectron2.__file__).resolve().parent
    marker = package / installer.MARKER
    if marker.exists():
        # The pinned wheel's package, unpacked into this interpreter's site-packages; its
        # cp310 `_C` cannot load here, so torchvision's ops stand in.
        assert marker.read_text() == f"{installer.WHEEL_SPEC} sha256 {installer.WHEEL_SHA256}\n"
        assert package.parent == Path(sysconfig.get_paths()["purelib"]).resolve()
        assert detectron2.__version__ == installer.WHEEL_SPEC.split("==")[1]
        assert importlib.util.find_spec("detectron2._C") is None
    else:
        # Any other detectron2 is one the installer kept: a user's build, compiled.
        assert importlib.util.find_spec("detectron2._C") is not None, (
            f"{package}: neither the pinned wheel (no {installer.MARKER}) nor a compiled build"
        )


def test_dvc_parses_yaml_with_the_c_parser():
    # DVC reads params.yaml once per stage on every `dvc repro` (typ="safe"); pure Python
    # parsing was 2 of a no-op repro's 7 s on a 2-core machine.
    from ruamel.yaml import YAML

    assert YAML(typ="safe").Parser.__module__.startswith("ruamel.yaml.clib"), (
        "ruamel.yaml.clib missing: install.sh installs it from requirements.lock"
    )


def test_faster_rcnn_train_step_on_cpu():
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model
    from detectron2.structures import Boxes, Instances
    from detectron2.utils.events import EventStorage

    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
    cfg.MODEL.BACKBONE.NAME = "build_resnet_fpn_backbone"
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.RESNETS.NORM = "BN"
    cfg.MODEL.FPN.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[32], [64], [128], [256], [512]]
    cfg.MODEL.RPN.IN_FEATURES = ["p2", "p3", "p4", "p5", "p6"]
    cfg.MODEL.ROI_HEADS.IN_FEATURES = ["p2", "p3", "p4", "p5"]
    cfg.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 1
    cfg.MODEL.ROI_BOX_HEAD.NAME = "FastRCNNConvFCHead"
    cfg.MODEL.ROI_BOX_HEAD.NUM_FC = 2
    cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = 7
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    instances = Instances((128, 160))
    instances.gt_boxes = Boxes(
        torch.tensor([[10.0, 10.0, 50.0, 110.0], [80.0, 20.0, 120.0, 120.0]])
    )
    instances.gt_classes = torch.zeros(2, dtype=torch.long)
    batch = [{"image": torch.randint(0, 255, (3, 128, 160)).float(), "instances": instances}]
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    with EventStorage(0):  # detectron2 models log training statistics to it
        losses = model(batch)
    assert set(losses) == {"loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        (out,) = model([{"image": batch[0]["image"], "height": 128, "width": 160}])
    assert out["instances"].pred_boxes.tensor.shape[1] == 4
