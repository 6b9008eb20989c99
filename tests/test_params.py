"""params.yaml loading: YAML 1.2 numbers, validation messages, track sections."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field

from pipeline.data.sources import load_track_settings
from pipeline.params import (
    TOP_LEVEL_KEYS,
    ParamsError,
    RuntimeSettings,
    Settings,
    flatten,
    load_params,
    load_yaml,
    section,
    validate,
)


class Train(Settings):
    lr: float = Field(gt=0)
    epochs: int = Field(ge=1)
    optimizer: Literal["sgd", "adam"] = "sgd"


class Track(Settings):
    dataset: str
    train: Train


def write(tmp_path, text: str):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("literal", ["1e-06", "1e-3", "1E-3", "1.0e+2", ".5", "-2.5e-4"])
def test_yaml12_exponent_floats_are_floats(tmp_path, literal):
    data = load_yaml(write(tmp_path, f"lr: {literal}\n"))
    assert isinstance(data["lr"], float)
    assert data["lr"] == float(literal)


def test_yaml12_no_yaml11_booleans(tmp_path):
    # YAML 1.1 turns `on`/`yes` into booleans; 1.2 keeps them strings.
    data = load_yaml(write(tmp_path, "a: yes\nb: on\nc: true\n"))
    assert data == {"a": "yes", "b": "on", "c": True}


def test_dvc_written_float_validates(tmp_path):
    data = load_yaml(write(tmp_path, "dataset: x\ntrain: {lr: 1e-06, epochs: 2}\n"))
    track = validate(Track, data, prefix="scl")
    assert track.train.lr == pytest.approx(1e-6)


def test_safe_loader_refuses_python_objects(tmp_path):
    path = write(tmp_path, "a: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_yaml(path)


def test_unknown_key_is_named(tmp_path):
    data = {"dataset": "x", "train": {"lr": 0.1, "epochs": 2, "lrr": 3}}
    with pytest.raises(ParamsError) as err:
        validate(Track, data, prefix="scl")
    assert "scl.train.lrr: unknown key" in str(err.value)


def test_wrong_type_names_key_value_and_rule():
    with pytest.raises(ParamsError) as err:
        validate(Track, {"dataset": "x", "train": {"lr": "fast", "epochs": 2}}, prefix="scl")
    message = str(err.value)
    assert "scl.train.lr" in message and "'fast'" in message and "number" in message


def test_out_of_range_names_the_bound():
    with pytest.raises(ParamsError) as err:
        validate(Track, {"dataset": "x", "train": {"lr": -0.1, "epochs": 0}}, prefix="scl")
    message = str(err.value)
    assert "scl.train.lr: value -0.1 not allowed" in message and "greater than 0" in message
    assert "scl.train.epochs: value 0 not allowed" in message


def test_literal_lists_allowed_values():
    with pytest.raises(ParamsError) as err:
        validate(
            Track, {"dataset": "x", "train": {"lr": 1, "epochs": 1, "optimizer": "rmsprop"}}, "scl"
        )
    assert "'sgd' or 'adam'" in str(err.value)


def test_missing_key_is_named():
    with pytest.raises(ParamsError, match=r"scl\.train: required key is missing"):
        validate(Track, {"dataset": "x"}, prefix="scl")


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(ParamsError, match="unknown top-level key.*'sccl'"):
        load_params(write(tmp_path, "seed: 0\nsccl: {}\n"))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ParamsError, match="params.yaml: file not found"):
        load_params(tmp_path / "params.yaml")


def test_flatten_is_sorted_and_dotted():
    assert flatten({"b": {"y": 1, "x": [1, 2]}, "a": 0.5}) == {"a": 0.5, "b.x": [1, 2], "b.y": 1}


def test_repository_params_load_and_common_sections_validate(repo_root):
    params = load_params(repo_root / "params.yaml")
    assert set(params) <= set(TOP_LEVEL_KEYS)
    runtime = section(params, "runtime", RuntimeSettings)
    assert runtime.threads >= 1


class _TrackSettings(Settings):
    dataset: str
    lr: float = Field(0.1, gt=0)


_TRACK_DATASETS = {
    "world": {"source": "synthetic", "layout": "market1501", "render": {"seed": 0}},
    "scenes": {"source": "synthetic", "layout": "cuhk_sysu", "render": {"seed": 0}},
}


def _track(**section):
    return {"datasets": _TRACK_DATASETS, "track": {"dataset": "world", **section}}


def test_track_settings_take_the_section_as_it_is_and_return_the_layout():
    # params.yaml holds the composed section (conf/ + -S): its values are final.
    settings, layout = load_track_settings(_track(lr=0.5), "track", _TrackSettings, ("market1501",))
    assert (settings.lr, layout) == (0.5, "market1501")


def test_track_settings_name_the_users_key():
    with pytest.raises(ParamsError, match=r"invalid params:\n  track.lr: value -1 not allowed"):
        load_track_settings(_track(lr=-1), "track", _TrackSettings, ("market1501",))


def test_track_settings_name_the_key_for_unknown_datasets_and_layouts():
    with pytest.raises(ParamsError, match=r"track.dataset: unknown dataset 'nope'; known .*scenes"):
        load_track_settings(_track(dataset="nope"), "track", _TrackSettings, ("market1501",))
    with pytest.raises(ParamsError, match=r"'scenes' has layout 'cuhk_sysu'.*supports market1501"):
        load_track_settings(_track(dataset="scenes"), "track", _TrackSettings, ("market1501",))


def test_track_settings_refuse_profiles_and_say_where_they_went():
    params = _track(profiles={"world": {"lr": 0.5}})
    with pytest.raises(ParamsError, match=r"track.profiles: .*conf/track/dataset/<dataset>.yaml"):
        load_track_settings(params, "track", _TrackSettings, ("market1501",))


@pytest.mark.parametrize("seed", ["abc", -1, True, 1.5])
def test_seed_must_be_a_non_negative_integer(tmp_path, seed):
    path = tmp_path / "params.yaml"
    path.write_text(f"seed: {str(seed).lower() if seed is True else seed}\n")
    with pytest.raises(ParamsError, match=r"seed: value .* not allowed: expected an integer >= 0"):
        load_params(path)


@pytest.mark.parametrize(
    "train,key,value,kind",
    [
        ({"lr": 0.1, "epochs": True}, "epochs", "True", "valid integer"),
        ({"lr": 0.1, "epochs": "2"}, "epochs", "'2'", "valid integer"),
        ({"lr": 0.1, "epochs": 2.0}, "epochs", "2.0", "valid integer"),
        ({"lr": "0.01", "epochs": 2}, "lr", "'0.01'", "valid number"),
        ({"lr": True, "epochs": 2}, "lr", "True", "valid number"),
    ],
)
def test_numbers_refuse_booleans_and_strings(train, key, value, kind):
    with pytest.raises(ParamsError) as err:
        validate(Track, {"dataset": "x", "train": train}, prefix="scl")
    assert f"scl.train.{key}: value {value} not allowed" in str(err.value)
    assert kind in str(err.value)


def test_an_integer_is_a_float():
    track = validate(Track, {"dataset": "x", "train": {"lr": 1, "epochs": 2}}, prefix="scl")
    assert track.train.lr == 1.0 and isinstance(track.train.lr, float)


def test_every_settings_section_of_the_repository_params_validates(repo_root):
    # Strict types must not refuse what params.yaml writes (lists for tuples, ints for floats).
    from pipeline.data.sources import SyntheticSource, dataset_source
    from pipeline.data.synthetic.settings import SETTINGS
    from pipeline.models.dclnet.settings import load_settings as dclnet_settings
    from pipeline.models.dicl.settings import load_settings as dicl_settings
    from pipeline.models.scl.settings import load_settings as scl_settings
    from pipeline.params import TrackingSettings

    params = load_params(repo_root / "params.yaml")
    section(params, "runtime", RuntimeSettings)
    section(params, "tracking", TrackingSettings)
    for name in params["datasets"]:
        source = dataset_source(params, name)
        if isinstance(source, SyntheticSource):
            validate(SETTINGS[source.layout], source.render, prefix=f"datasets.{name}.render")
    for load in (dicl_settings, scl_settings, dclnet_settings):
        load(params)  # every profile of the track, not only the selected one
