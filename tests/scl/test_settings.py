"""The ``scl`` params section: dataset options, validation messages, dataset layout rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.compose import compose_text
from pipeline.models.scl.settings import SCLSettings, load_settings
from pipeline.params import ParamsError, load_yaml
from tests.real_config import real_params, track_params

CONF = Path(__file__).resolve().parents[2] / "conf"


def _params(option: str = "market1501", **changes) -> dict:
    """The real params with ``scl/dataset=<option>`` selected, ``changes`` merged in."""
    return track_params("scl", option, changes)


def test_paper_defaults():
    s = load_settings(_params())[0]
    assert s.mode == "knn" and s.selection.enabled  # the paper's kNN selection
    assert (s.data.sampler, s.train.optimizer, s.train.iters_per_epoch) == ("random", "sgd", 0)
    assert (s.model.backbone, s.model.last_stride, s.model.global_dim) == ("resnet50", 1, 2048)
    assert (s.model.num_stripes, s.model.local_dim) == (8, 256)
    assert (s.selection.num_positives, s.selection.num_negatives) == (7, 500)
    assert (s.selection.lambda_g, s.selection.camera_penalty) == (0.5, 0.05)
    assert (s.loss.temperature, s.loss.self_weight, s.loss.neighbour_scale) == (0.1, 0.5, 1.75)
    assert s.loss.local_weight == 0.3  # lambda_p of the official training configs
    assert (s.train.lr, s.train.momentum, s.train.nesterov, s.train.weight_decay) == (
        0.001,
        0.9,
        True,
        5e-4,
    )
    assert (s.train.epochs, s.train.warmup_epochs, s.data.batch_size) == (40, 3, 8)
    assert (s.data.height, s.data.width) == (256, 128)
    assert (s.clustering.k1, s.clustering.k2, s.clustering.eps, s.clustering.min_samples) == (
        30,
        6,
        0.6,
        4,
    )


def test_the_section_is_taken_as_it_is():
    s = load_settings(_params("synthetic_market1501", train={"lr": 1e-6, "epochs": 5}))[0]
    assert (s.train.epochs, s.train.lr) == (5, 1e-6)


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(
        ParamsError, match=r"scl.dataset: unknown dataset 'nope'; known datasets: .*dukemtmc"
    ):
        load_settings(_params(dataset="nope"))


def test_unsupported_layout_is_refused():
    with pytest.raises(ParamsError, match="layout 'sysu_mm01'.*supports market1501"):
        load_settings(_params(dataset="sysu_mm01"))


def test_bad_keys_and_values_are_named():
    with pytest.raises(ParamsError, match=r"scl.train.lrr: unknown key"):
        load_settings(_params(train={"lrr": 1}))
    with pytest.raises(ParamsError, match=r"scl.mode: value 'kmeans'"):
        load_settings(_params(mode="kmeans"))
    with pytest.raises(ParamsError, match=r"global_dim \(100\) must equal"):
        load_settings(_params(model={"global_dim": 100}))
    with pytest.raises(ParamsError, match="warmup_epochs"):
        load_settings(_params(train={"epochs": 2}))


def test_yaml12_floats_from_dvc_exp_run(tmp_path):
    # `dvc exp run -S scl.train.lr=1e-6` writes 1e-06: YAML 1.2 reads a float.
    text = compose_text(["scl/dataset=market1501", "scl.train.lr=1e-6"], conf_dir=CONF)
    assert "lr: 1.0e-06" in text
    path = tmp_path / "p.yaml"
    path.write_text(text.replace("lr: 1.0e-06", "lr: 1e-06"))
    s = load_settings(load_yaml(path))[0]
    assert s.train.lr == 1e-6


def test_missing_section():
    with pytest.raises(ParamsError, match="scl: section missing"):
        load_settings({k: v for k, v in real_params().items() if k != "scl"})


@pytest.mark.parametrize("dataset", ["synthetic_market1501", "market1501", "dukemtmc", "msmt17"])
def test_every_dataset_option_validates(dataset):
    s = load_settings(_params(dataset))[0]
    assert isinstance(s, SCLSettings) and s.dataset == dataset
    if dataset != "synthetic_market1501":  # the real datasets run the paper's settings
        assert s.model.backbone == "resnet50" and s.train.epochs == 40
        assert s.model.pretrained is not None and s.mode == "knn"
    else:  # the embedded world runs the mission's DBSCAN rounds
        assert s.mode == "cluster" and s.loss.local_weight == 0.5


@pytest.mark.parametrize(
    ("option", "dataset", "iters"),
    [
        ("market1501_cluster_contrast", "market1501", 200),
        ("dukemtmc_cluster_contrast", "dukemtmc", 200),
        ("msmt17_cluster_contrast", "msmt17", 400),
    ],
)
def test_cluster_contrast_options_take_its_published_recipe(option, dataset, iters):
    s = load_settings(_params(option))[0]
    assert s.dataset == dataset and s.mode == "cluster"
    assert (s.data.batch_size, s.data.sampler, s.data.num_instances) == (256, "pk", 16)
    assert (s.train.optimizer, s.train.lr, s.train.weight_decay) == ("adam", 3.5e-4, 5e-4)
    assert (s.train.epochs, s.train.iters_per_epoch, s.train.warmup_epochs) == (50, iters, 0)
    assert (s.train.lr_steps, s.train.lr_gamma) == ([20, 40], 0.1)
    assert (s.memory.cluster_momentum, s.loss.cluster_temperature) == (0.1, 0.05)
    assert (s.data.pad, s.data.erasing, s.data.flip) == (10, 0.5, 0.5)
    assert (s.clustering.eps, s.clustering.k1, s.clustering.k2) == (0.6, 30, 6)


def test_a_variant_option_refuses_another_dataset():
    # What -S scl.dataset=msmt17 leaves after -S scl/dataset=market1501_cluster_contrast.
    params = real_params("scl/dataset=market1501_cluster_contrast")
    params["scl"]["dataset"] = "msmt17"
    with pytest.raises(ParamsError, match=r"market1501_cluster_contrast.yaml .*scl/dataset=msmt17"):
        load_settings(params)


def test_sampler_rules_are_named():
    with pytest.raises(ParamsError, match="needs mode 'cluster'"):
        load_settings(_params(data={"sampler": "pk", "batch_size": 16}))
    with pytest.raises(ParamsError, match=r"batch_size \(250\) must be a multiple"):
        load_settings(_params("market1501_cluster_contrast", data={"batch_size": 250}))
    with pytest.raises(ParamsError, match="iters_per_epoch .* needs data.sampler 'pk'"):
        load_settings(_params(train={"iters_per_epoch": 10}))


def test_thin_backbone_cannot_take_imagenet_weights():
    model = {"width": 0.5, "pretrained": "weights.pth"}
    with pytest.raises(ParamsError, match="need width 1.0"):
        load_settings(_params(model=model))
