"""conf/ and params.yaml: Hydra composition as `dvc exp run` does it (issue: every -S takes effect).

params.yaml is what `dvc exp run` writes from conf/ (.dvc/config: hydra.enabled): each
track's base file, then its selected `<track>/dataset` option, then every `-S`. These
tests hold params.yaml to that composition, validate every dataset option of every
track, and check that a `-S` on a key the selected option also sets wins.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from pipeline.compose import CONF_DIR, CONFIG_NAME, compose_params, compose_text, main
from pipeline.models.dclnet.settings import load_settings as dclnet_settings
from pipeline.models.dicl.settings import load_settings as dicl_settings
from pipeline.models.scl.settings import load_settings as scl_settings
from pipeline.params import ParamsError, load_params

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / CONF_DIR
LOADERS = {"dicl": dicl_settings, "scl": scl_settings, "dclnet": dclnet_settings}
# Each track's default option (conf/config.yaml's defaults list).
DEFAULT_OPTIONS = {
    "dicl": "synthetic_cuhk_sysu",
    "scl": "synthetic_market1501",
    "dclnet": "synthetic_sysu_mm01",
}
OPTIONS = [(t, p.stem) for t in LOADERS for p in sorted((CONF / t / "dataset").glob("*.yaml"))]


def compose(*overrides: str) -> dict:
    return compose_params(overrides, conf_dir=CONF)


def resolved(params: dict) -> dict:
    """Every track's ``(settings, layout)`` as JSON-able dicts (what the stages read)."""
    out = {}
    for track, loader in LOADERS.items():
        settings, layout = loader(params)
        out[track] = {"settings": settings.model_dump(mode="json"), "layout": layout}
    return out


def readme_commands() -> list[list[str]]:
    """The `-S` arguments of each `dvc exp run` example in README.md (placeholders skipped)."""
    commands = []
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        for command in re.findall(r"dvc exp run\b[^`#]*", line):
            # The seed sweep's `-S seed=<N>` runs as seed 1; `-S ...` stands for any.
            overrides = [o.replace("<N>", "1") for o in re.findall(r"-S\s+'?([^\s'`]+)'?", command)]
            if overrides and not any("<" in o or "..." in o for o in overrides):
                if overrides not in commands:
                    commands.append(overrides)
    return commands


def test_dvc_composes_params_yaml_from_conf():
    config = configparser.ConfigParser()
    config.read(REPO / ".dvc" / "config")
    assert config.getboolean("hydra", "enabled")
    assert config.get("hydra", "config_dir", fallback="conf") == str(CONF_DIR)
    assert config.get("hydra", "config_name", fallback="config") == CONFIG_NAME


def test_params_yaml_is_the_composition_of_conf(tmp_path):
    from dvc.utils.hydra import compose_and_dump

    committed = (REPO / "params.yaml").read_text(encoding="utf-8")
    # What `dvc exp run` with no -S writes: the same bytes, so it leaves no diff.
    compose_and_dump(tmp_path / "params.yaml", str(CONF), None, CONFIG_NAME, str(tmp_path), [])
    by_dvc = (tmp_path / "params.yaml").read_text(encoding="utf-8")
    assert committed == by_dvc, "params.yaml is stale: run `python -m pipeline.compose`"
    assert compose_text(conf_dir=CONF) == by_dvc


def test_params_yaml_holds_final_sections_without_profiles():
    params = load_params(REPO / "params.yaml")
    for track, option in DEFAULT_OPTIONS.items():
        assert "profiles" not in params[track]
        assert params[track]["dataset"] == option


def test_compose_cli_writes_and_checks(tmp_path, capsys):
    out = tmp_path / "params.yaml"
    assert main(["--conf", str(CONF), "--output", str(out), "--check"]) == 1
    assert main(["--conf", str(CONF), "--output", str(out), "scl/dataset=market1501"]) == 0
    assert load_params(out)["scl"]["dataset"] == "market1501"
    assert main(["--conf", str(CONF), "--output", str(out), "--check"]) == 1
    assert main(["--conf", str(CONF), "--output", str(out)]) == 0
    assert main(["--conf", str(CONF), "--output", str(out), "--check"]) == 0
    assert main(["--conf", str(CONF), "--output", str(out), "scl/dataset=nope"]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.parametrize("track,option", OPTIONS, ids=[f"{t}/{o}" for t, o in OPTIONS])
def test_every_dataset_option_composes_and_validates(track, option):
    params = compose(f"{track}/dataset={option}")
    settings, _ = LOADERS[track](params)
    # Each option is named after the dataset it selects, or <dataset>_<variant> (another
    # paper's recipe on it, e.g. scl/market1501_cluster_contrast).
    assert option == settings.dataset or option.startswith(f"{settings.dataset}_")
    # The other tracks keep their defaults.
    for other, default in DEFAULT_OPTIONS.items():
        if other != track:
            assert params[other]["dataset"] == default


def test_every_dataset_a_track_supports_has_an_option():
    params = load_params(REPO / "params.yaml")
    layouts = {t: set() for t in LOADERS}
    selected = {t: set() for t in LOADERS}
    for track, option in OPTIONS:
        settings, layout = LOADERS[track](compose(f"{track}/dataset={option}"))
        layouts[track].add(layout)
        selected[track].add(settings.dataset)
    for track in LOADERS:
        supported = {n for n, d in params["datasets"].items() if d["layout"] in layouts[track]}
        assert supported == selected[track], track
        # The option named after each dataset exists (variants come on top of it).
        assert supported <= {o for t, o in OPTIONS if t == track}, track


def test_real_dataset_options_run_the_papers_settings():
    scl = {o: scl_settings(compose(f"scl/dataset={o}"))[0] for o in ("market1501", "msmt17")}
    assert all(s.model.backbone == "resnet50" and s.train.epochs == 40 for s in scl.values())
    assert scl["market1501"].model.pretrained is not None
    dicl = {o: dicl_settings(compose(f"dicl/dataset={o}"))[0] for o in ("cuhk_sysu", "prw")}
    assert dicl["cuhk_sysu"].model.backbone.depth == 50
    assert dicl["prw"].model.roi.pos_iou == 0.7 and dicl["prw"].pseudo_labels.min_samples == 4
    assert dicl["prw"].train.scales[-1] == (2000, 1200)
    assert dicl["prw"].loss == dicl["cuhk_sysu"].loss  # the method is unchanged
    dcl = dclnet_settings(compose("dclnet/dataset=regdb"))
    assert dcl[1] == "regdb" and dcl[0].splits == list(range(1, 11)) and dcl[0].model.depth == 50


def test_a_user_value_wins_over_the_selected_option():
    # The default option sets scl.train.lr (0.002); the user's -S is applied after it.
    assert scl_settings(compose())[0].train.lr == 0.002
    assert scl_settings(compose("scl.train.lr=1e-6"))[0].train.lr == 1e-6
    both = scl_settings(compose("scl/dataset=market1501", "scl.train.epochs=10"))[0]
    assert (both.dataset, both.train.epochs, both.model.backbone) == ("market1501", 10, "resnet50")
    # Order on the command line does not matter: values always follow the composition.
    assert compose("scl.train.epochs=10", "scl/dataset=market1501") == compose(
        "scl/dataset=market1501", "scl.train.epochs=10"
    )


def test_a_bad_value_is_named_by_the_users_key():
    with pytest.raises(ParamsError) as info:
        scl_settings(compose("scl.train.lr=-1"))
    assert "scl.train.lr: value -1" in str(info.value)
    assert "profile" not in str(info.value)


def test_an_unknown_key_or_option_is_refused_when_composing():
    with pytest.raises(ParamsError, match="scl.train.lrr"):
        compose("scl.train.lrr=1")  # not in the composed config: Hydra refuses it
    with pytest.raises(ParamsError, match="market1051"):
        compose("scl/dataset=market1051")


def test_a_leftover_profiles_section_says_where_profiles_went():
    params = compose()
    params["scl"]["profiles"] = {"synthetic_market1501": {}}
    with pytest.raises(ParamsError, match=r"scl.profiles: .*conf/scl/dataset"):
        scl_settings(params)


def test_readme_examples_compose_and_carry_their_values():
    commands = readme_commands()
    overrides = [o for c in commands for o in c]
    # The examples the issue names, in their new form.
    assert "scl.train.lr=1e-6" in overrides and "scl/dataset=market1501" in overrides
    assert "seed=1" in overrides  # the seed sweep's
    assert all("profiles" not in o for o in overrides)
    # `<track>.dataset=<name>` would rename the dataset and keep the default option's sizes.
    assert not [o for o in overrides if re.match(r"\w+\.dataset=", o)]
    for command in commands:
        params = compose(*command)
        resolved(params)  # every track validates
        for override in command:
            key, value = override.split("=", 1)
            if "/" in key:
                track, _ = key.split("/")
                assert params[track]["dataset"] == value
            else:
                node = params
                for part in key.split("."):
                    node = node[part]
                assert str(node) == value or node == float(value), override


@pytest.mark.parametrize("track", sorted(LOADERS))
def test_renaming_the_dataset_without_its_option_is_refused(track):
    # `-S scl.dataset=market1501` (a dot, not a slash) would train Market-1501 with the
    # synthetic option's sizes and schedule: refused, naming the form that selects both.
    other = next(o for t, o in OPTIONS if t == track and o != DEFAULT_OPTIONS[track])
    params = compose(f"{track}.dataset={other}")
    with pytest.raises(ParamsError, match=f"-S {track}/dataset={other}") as err:
        LOADERS[track](params)
    assert f"conf/{track}/dataset/{DEFAULT_OPTIONS[track]}.yaml" in str(err.value)
