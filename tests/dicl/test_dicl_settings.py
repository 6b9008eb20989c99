"""The ``dicl`` params section: validation, dataset options, the CfgNode builder."""

from __future__ import annotations

import pytest

from pipeline.models.dicl.config import build_cfg
from pipeline.models.dicl.settings import DiclSettings, load_settings
from pipeline.params import ParamsError
from tests.real_config import track_params, track_section


def _params(option: str = "cuhk_sysu", **changes) -> dict:
    """The real params with ``dicl/dataset=<option>``, ``changes`` merged in."""
    return track_params("dicl", option, changes)


def _settings(**changes) -> DiclSettings:
    """The paper's section (conf/dicl as it is) with ``changes`` merged in."""
    return DiclSettings.model_validate(track_section("dicl", changes=changes))


def test_paper_defaults():
    s = _settings()
    assert s.model.roi.pooler_resolution == (14, 6)
    assert s.model.crop.size == (224, 96)
    assert (s.loss.memory.temperature, s.loss.memory.momentum) == (0.05, 0.2)
    assert s.loss.memory.hard_negative_mass == 0.6
    assert s.loss.sic_dense.weight == 0.1
    assert (s.loss.triplet.margin, s.loss.triplet.background_weight) == (0.3, 0.25)
    assert s.pseudo_labels.eps == (0.68, 0.70, 0.72)
    assert (s.train.epochs, s.train.lr, s.train.lr_steps) == (26, 0.001, [16, 22])


def test_the_section_is_taken_as_it_is():
    settings, layout = load_settings(
        _params("synthetic_cuhk_sysu", train={"epochs": 3, "lr": 0.001})
    )
    assert (settings.train.epochs, settings.train.lr, layout) == (3, 0.001, "cuhk_sysu")


def test_unsupported_layout_names_the_dataset():
    with pytest.raises(ParamsError, match="synthetic_market1501.*market1501"):
        load_settings(_params(dataset="synthetic_market1501"))


def test_unknown_dataset_is_an_error():
    with pytest.raises(ParamsError, match="unknown dataset"):
        load_settings(_params(dataset="nowhere"))


def test_unknown_key_is_named():
    with pytest.raises(ParamsError, match=r"dicl\.train\.epochz"):
        load_settings(_params("synthetic_cuhk_sysu", train={"epochz": 3}))


def test_sic_needs_the_crop_branch():
    with pytest.raises(ParamsError, match="crop"):
        load_settings(_params("synthetic_cuhk_sysu", model={"crop": {"enabled": False}}))
    sic_off = {"sic_many_to_one": {"enabled": False}, "sic_dense": {"enabled": False}}
    crop_off = {"crop": {"enabled": False}}
    settings, _ = load_settings(_params("synthetic_cuhk_sysu", model=crop_off, loss=sic_off))
    assert not settings.model.crop.enabled


def test_bad_iou_order_is_rejected():
    with pytest.raises(ParamsError, match="neg_iou"):
        load_settings(
            _params("synthetic_cuhk_sysu", model={"roi": {"neg_iou": 0.7, "pos_iou": 0.5}})
        )


def test_cfg_maps_paper_settings():
    cfg = build_cfg(_settings(), iters_per_epoch=100, memory_size=55272)
    assert cfg.MODEL.ROI_HEADS.IOU_THRESHOLDS == [0.1, 0.6]
    assert cfg.MODEL.ROI_HEADS.IOU_LABELS == [0, -1, 1]
    assert cfg.MODEL.ANCHOR_GENERATOR.SIZES == [[32, 64, 128, 256, 512]]
    assert cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS == [[1.0, 2.0, 3.0]]
    assert (cfg.MODEL.RPN.POST_NMS_TOPK_TRAIN, cfg.MODEL.RPN.POST_NMS_TOPK_TEST) == (2000, 300)
    assert cfg.MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_WEIGHT == 10.0
    assert cfg.MODEL.RESNETS.RES2_OUT_CHANNELS == 256
    assert cfg.SOLVER.MAX_ITER == 2600
    assert cfg.SOLVER.STEPS == (1600, 2200)
    assert cfg.SOLVER.WARMUP_ITERS == 2242
    assert cfg.SOLVER.DICL_CLIP_GLOBAL_NORM == 10.0
    assert cfg.MODEL.DICL.MEMORY_SIZE == 55272
    assert cfg.INPUT.DICL_TEST_SCALE == (1500, 900)


def test_sync_bn_on_cpu_is_detectron2s_naive_one():
    # torch's SyncBatchNorm refuses CPU tensors; DDP on CPU (gloo) needs the naive one.
    s = _settings(model={"backbone": {"norm": "SyncBN"}, "head": {"norm": "SyncBN"}})
    cpu = build_cfg(s, iters_per_epoch=10, memory_size=3, device="cpu")
    assert (cpu.MODEL.RESNETS.NORM, cpu.MODEL.ROI_BOX_HEAD.NORM) == ("naiveSyncBN_N",) * 2
    cuda = build_cfg(s, iters_per_epoch=10, memory_size=3, device="cuda")
    assert (cuda.MODEL.RESNETS.NORM, cuda.MODEL.ROI_BOX_HEAD.NORM) == ("SyncBN",) * 2
    plain = build_cfg(_settings(), iters_per_epoch=10, memory_size=3)
    assert (plain.MODEL.RESNETS.NORM, plain.MODEL.ROI_BOX_HEAD.NORM) == ("FrozenBN", "BN")


def test_cfg_caps_warmup_and_drops_late_steps():
    s = _settings(train={"epochs": 2, "lr_steps": [1, 5], "warmup_iters": 999})
    cfg = build_cfg(s, iters_per_epoch=10, memory_size=3)
    assert cfg.SOLVER.STEPS == (10,)
    assert cfg.SOLVER.WARMUP_ITERS == 20


def test_offset_branches_get_their_learning_rate_factor(tiny_section):
    from detectron2.modeling import build_model

    import pipeline.models.dicl  # noqa: F401
    from pipeline.models.dicl.trainer import build_sgd

    tiny_section["model"]["deform_offset_lr_factor"] = 0.1
    cfg = build_cfg(DiclSettings.model_validate(tiny_section), iters_per_epoch=1, memory_size=2)
    model = build_model(cfg)
    optimizer = build_sgd(cfg, model)
    names = [n for n, _ in model.named_parameters()]
    # deformable convolutions' offsets and the deformable RoI pooling's offset branch
    assert any(".conv_offset." in n for n in names)
    assert any(".box_pooler.offset_fc." in n for n in names)
    offsets = {
        id(p) for n, p in model.named_parameters() if ".conv_offset." in n or ".offset_fc." in n
    }
    for group in optimizer.param_groups:
        is_offset = {id(p) in offsets for p in group["params"]}
        assert len(is_offset) == 1
        expected = cfg.SOLVER.BASE_LR * (0.1 if is_offset.pop() else 1.0)
        bias_group = group["lr"] == pytest.approx(expected)
        assert bias_group


def test_gn_needs_a_width_divisible_by_32():
    with pytest.raises(ValueError, match="divisible by 32"):
        _settings(model={"backbone": {"norm": "GN", "width": 16}})


def test_every_dataset_option_validates():
    seen = {}
    for name in ("synthetic_cuhk_sysu", "cuhk_sysu", "prw"):
        settings, layout = load_settings(_params(name))
        seen[name] = settings
    assert seen["synthetic_cuhk_sysu"].model.backbone.depth == 18
    assert seen["synthetic_cuhk_sysu"].loss == seen["cuhk_sysu"].loss  # the method is unchanged
    assert seen["cuhk_sysu"].model.backbone.depth == 50
    assert seen["prw"].model.roi.pos_iou == 0.7 and seen["prw"].pseudo_labels.min_samples == 4
    assert seen["prw"].train.scales[-1] == (2000, 1200)
