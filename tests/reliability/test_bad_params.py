"""Invalid params stop a stage with one line naming key, value and what is allowed (issue 10).

Each case edits a copy of the real params.yaml, runs the stage's real entry point
(``stages._main.run``) in an empty folder and checks: exit code 2, a single
``<stage>: error:`` line holding every expected fragment, no traceback, and
nothing written (the folder holds only the params file afterwards).
"""

from __future__ import annotations

import importlib
import os

import pytest
import torch

from stages._main import run as run_stage
from tests.e2e.conftest import dump_yaml


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(params: dict) -> None:
        node = params
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value

    return edit


# id -> (stage, argv before --params, edit, fragments the error line must hold)
CASES = {
    "wrong_type": (
        "train_dclnet",
        [],
        _set("dclnet", "train", "epochs", "ten"),
        ["dclnet.train.epochs", "'ten'", "valid integer"],
    ),
    "boolean_as_integer": (
        "train_dclnet",
        [],
        _set("dclnet", "train", "epochs", True),
        ["dclnet.train.epochs", "True", "valid integer"],
    ),
    "string_as_float": (
        "train_scl",
        [],
        _set("scl", "train", "lr", "0.01"),
        ["scl.train.lr", "'0.01'", "valid number"],
    ),
    "boolean_as_float_in_a_tuple": (
        "train_dicl",
        [],
        _set("dicl", "pseudo_labels", "eps", [0.68, True, 0.72]),
        ["dicl.pseudo_labels.eps.1", "True", "valid number"],
    ),
    "unknown_key": (
        "train_scl",
        [],
        _set("scl", "train", "lrr", 0.1),
        ["scl.train.lrr", "unknown key", "0.1"],
    ),
    "negative_lr_scl": (
        "train_scl",
        [],
        _set("scl", "train", "lr", -0.1),
        ["scl.train.lr", "-0.1", "greater than 0"],
    ),
    "negative_lr_dicl": (
        "train_dicl",
        [],
        _set("dicl", "train", "lr", -1),
        ["dicl.train.lr", "-1", "greater than 0"],
    ),
    "unknown_dataset": (
        "train_dicl",
        [],
        _set("dicl", "dataset", "nope"),
        ["dicl.dataset", "'nope'", "known datasets", "cuhk_sysu"],
    ),
    "dataset_of_another_track": (
        "train_scl",
        [],
        _set("scl", "dataset", "prw"),
        ["scl.dataset", "'prw'", "supports", "market1501"],
    ),
    "runtime_threads": (
        "train_scl",
        [],
        _set("runtime", "threads", 0),
        ["runtime.threads", "0", "greater than or equal to 1"],
    ),
    "tracking_required_type": (
        "train_dclnet",
        [],
        _set("tracking", "required", "maybe"),
        ["tracking.required", "'maybe'", "valid boolean"],
    ),
    "unknown_top_level_key": (
        "train_scl",
        [],
        _set("sccl", {}),
        ["unknown top-level key", "sccl", "allowed", "scl"],
    ),
    "download_unknown_dataset": (
        "download",
        ["nope"],
        None,
        ["datasets.nope", "unknown dataset", "known datasets", "market1501"],
    ),
    "download_render_value": (
        "download",
        ["synthetic_market1501"],
        _set("datasets", "synthetic_market1501", "render", "num_train_ids", -3),
        ["datasets.synthetic_market1501.render.num_train_ids", "-3", "greater than or equal"],
    ),
    "eval_checks_too": (
        "eval_scl",
        [],
        _set("scl", "train", "lr", -0.1),
        ["scl.train.lr", "-0.1", "greater than 0"],
    ),
}


def run_with_params(stage, argv, edit, real_params, tmp_path, monkeypatch, capsys) -> str:
    if edit is not None:
        edit(real_params)
    dump_yaml(real_params, tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    module = importlib.import_module(f"stages.{stage}")
    with pytest.raises(SystemExit) as exit_info:
        run_stage(module.main, stage, [*argv, "--params", "params.yaml"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith(f"{stage}: error:")]
    assert len(lines) == 1, err
    assert sorted(os.listdir(tmp_path)) == ["params.yaml"]  # nothing written
    return lines[0]


@pytest.mark.parametrize("case", list(CASES))
def test_invalid_params_name_key_value_and_what_is_allowed(
    case, real_params, tmp_path, monkeypatch, capsys
):
    stage, argv, edit, fragments = CASES[case]
    line = run_with_params(stage, argv, edit, real_params, tmp_path, monkeypatch, capsys)
    for fragment in fragments:
        assert fragment in line, (fragment, line)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_cuda_device_is_a_params_error(real_params, tmp_path, monkeypatch, capsys):
    edit = _set("runtime", "device", "cuda")
    line = run_with_params("train_scl", [], edit, real_params, tmp_path, monkeypatch, capsys)
    assert "runtime.device: value 'cuda' not allowed: no CUDA device is available" in line


@pytest.mark.parametrize("stage,track", [("train_scl", "scl"), ("train_dclnet", "dclnet")])
def test_a_profiles_section_is_rejected(stage, track, real_params, tmp_path, monkeypatch, capsys):
    # An old params.yaml: profiles moved to conf/<track>/dataset/ (a -S wins over them now).
    edit = _set(track, "profiles", "synthetic_market1501", {})
    line = run_with_params(stage, [], edit, real_params, tmp_path, monkeypatch, capsys)
    assert f"{track}.profiles: dataset profiles moved to conf/{track}/dataset/" in line


def test_seed_of_the_wrong_type_names_the_key(real_params, tmp_path, monkeypatch, capsys):
    line = run_with_params(
        "train_scl", [], _set("seed", "abc"), real_params, tmp_path, monkeypatch, capsys
    )
    assert "seed" in line and "'abc'" in line
