"""The ``dclnet`` params section: dataset options, validation messages, ablation switches."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.compose import compose_text
from pipeline.models.dclnet.settings import load_settings
from pipeline.params import ParamsError, load_yaml
from tests.dclnet.dclnet_tiny import tiny_params
from tests.real_config import merged, track_params

# The project's own conf/: the section users run is the one validated here.
CONF = Path(__file__).resolve().parents[2] / "conf"


def project_params(option: str = "synthetic_sysu_mm01", **override) -> dict:
    """The composed params with ``dclnet/dataset=<option>`` selected, ``override`` merged."""
    return track_params("dclnet", option, override)


def test_every_dataset_option_validates():
    for dataset in ("synthetic_sysu_mm01", "synthetic_regdb", "sysu_mm01", "regdb"):
        settings, layout = load_settings(project_params(option=dataset))
        assert settings.dataset == dataset
        assert layout == ("regdb" if dataset.endswith("regdb") else "sysu_mm01")
    paper, _ = load_settings(project_params(option="sysu_mm01"))
    assert (paper.model.depth, paper.input.height, paper.input.width) == (50, 288, 144)
    assert paper.loss.center_triplet.margin == 0.7 and paper.loss.dense.temperature == 0.05
    assert paper.train.milestones == [15, 27] and paper.train.lr == 0.0035


def test_synthetic_options_shrink_sizes_but_keep_every_loss():
    for dataset in ("synthetic_sysu_mm01", "synthetic_regdb"):
        settings, _ = load_settings(project_params(option=dataset))
        assert settings.model.depth == 18 and settings.model.pretrained is None
        assert all(getattr(settings.loss, n).enabled for n in type(settings.loss).model_fields)
    # The RegDB-layout world trains two of the ten splits (one model each).
    assert settings.splits == [1, 2]


def test_ablation_switch_is_one_key():
    params = project_params()
    params["dclnet"] = merged(params["dclnet"], {"loss": {"dense": {"enabled": False}}})
    settings, _ = load_settings(params)
    assert not settings.loss.dense.enabled and settings.loss.pixel.enabled


def test_wrong_layout_unknown_dataset_and_bad_keys_are_named():
    with pytest.raises(ParamsError, match="market1501.*layout"):
        load_settings(project_params(dataset="market1501"))
    with pytest.raises(ParamsError, match="unknown dataset 'nope'"):
        load_settings(project_params(dataset="nope"))
    with pytest.raises(ParamsError, match=r"dclnet.loss.dense.temprature: unknown key"):
        load_settings(project_params(loss={"dense": {"temprature": 0.1}}))
    with pytest.raises(ParamsError, match=r"dclnet.train.lr"):
        load_settings(project_params(train={"lr": -1}))
    with pytest.raises(ParamsError, match="splits"):
        load_settings(project_params(splits=[0, 3]))


def test_input_too_small_for_the_stripes():
    with pytest.raises(ParamsError, match="stripes"):
        load_settings(project_params(input={"height": 64, "width": 32}))


def test_yaml12_numbers_from_dvc_exp_run(tmp_path):
    # `dvc exp run -S dclnet.train.lr=1e-6` writes params.yaml as this composition does.
    text = compose_text(["dclnet/dataset=sysu_mm01", "dclnet.train.lr=1e-6"], conf_dir=CONF)
    assert "lr: 1.0e-06" in text
    path = tmp_path / "params.yaml"
    path.write_text(text)
    settings, _ = load_settings(load_yaml(path))
    assert settings.train.lr == pytest.approx(1e-6)


def test_tiny_params_fixture_is_valid():
    settings, layout = load_settings(tiny_params())
    assert layout == "sysu_mm01" and settings.model.width == 8
