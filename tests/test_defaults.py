"""Every parameter value has one home: conf/ (issue 22, "defaults in one place").

A value that conf/ states (composed into params.yaml) must not also be a default in
code: the copies drift, and tests that validate the code's copy test a configuration
nobody runs. So a settings field that conf/ provides is required; a field may keep a
default only where conf/ leaves it out on purpose (an optional key such as
``datasets.<name>.limits``), and then conf/ never states that same value. DICL's
detectron2 keys (``add_dicl_config``) are declared with a placeholder and filled from
the settings only.

The walk starts from what the stages validate: the three tracks' ``load_settings`` under
the default composition and every dataset option, ``runtime``, ``tracking`` and every
``datasets.<name>`` entry (with its ``render`` sizes), and follows every nested settings
model the conf/ mapping reaches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from pipeline.compose import compose_params
from pipeline.data.sources import dataset_source
from pipeline.data.synthetic.settings import SETTINGS as RENDER_SETTINGS
from pipeline.models.dclnet.settings import load_settings as load_dclnet
from pipeline.models.dicl.settings import load_settings as load_dicl
from pipeline.models.scl.settings import load_settings as load_scl
from pipeline.params import RuntimeSettings, Settings, TrackingSettings, section, validate

TRACKS: dict[str, Callable[[dict[str, Any]], tuple[Any, str]]] = {
    "dicl": load_dicl,
    "scl": load_scl,
    "dclnet": load_dclnet,
}
NO_DEFAULT = object()
CONF = Path(__file__).resolve().parents[1] / "conf"


def _compositions() -> Iterator[tuple[str, dict[str, Any]]]:
    """The default composition, then each track's dataset options."""
    yield "default", compose_params(conf_dir=CONF)
    for track in TRACKS:
        for option in sorted(p.stem for p in (CONF / track / "dataset").glob("*.yaml")):
            overrides = [f"{track}/dataset={option}"]
            yield overrides[0], compose_params(overrides, conf_dir=CONF)


@pytest.fixture(scope="module")
def compositions() -> list[tuple[str, dict[str, Any]]]:
    return list(_compositions())


def _default(model: type[BaseModel], name: str) -> Any:
    field = model.model_fields[name]
    if field.is_required():
        return NO_DEFAULT
    return field.get_default(call_default_factory=True)


class Uses:
    """Per (model, field): where conf/ states it, and where the model was validated."""

    def __init__(self) -> None:
        self.instances: dict[type[BaseModel], set[str]] = defaultdict(set)
        self.stated: dict[tuple[type[BaseModel], str], dict[str, Any]] = defaultdict(dict)

    def walk(self, settings: BaseModel, conf: dict[str, Any], where: str) -> None:
        """Record ``settings`` (validated from the mapping ``conf``) at key path ``where``."""
        model = type(settings)
        self.instances[model].add(where)
        for name in model.model_fields:
            if name not in conf:
                continue
            value = getattr(settings, name)
            self.stated[model, name][where] = value
            if isinstance(value, BaseModel) and isinstance(conf[name], dict):
                self.walk(value, conf[name], f"{where}.{name}")

    def duplicates(self) -> list[str]:
        """Each field with a default in code that conf/ states too, and why it counts."""
        found = []
        for model, places in sorted(self.instances.items(), key=lambda kv: kv[0].__qualname__):
            for name in model.model_fields:
                default = _default(model, name)
                if default is NO_DEFAULT:
                    continue
                stated = self.stated.get((model, name), {})
                label = f"{model.__module__}.{model.__qualname__}.{name}"
                same = sorted(w for w, v in stated.items() if v == default)
                if same:
                    found.append(f"{label}: default {default!r} is also stated at {same[0]}")
                elif stated and set(stated) >= places:
                    found.append(
                        f"{label}: conf/ always states it ({sorted(stated)[0]}, ...), so the "
                        f"default {default!r} in code is a second, unused copy"
                    )
        return found


def _uses(compositions: list[tuple[str, dict[str, Any]]]) -> Uses:
    uses = Uses()
    for label, params in compositions:
        for track, load in TRACKS.items():
            settings, _ = load(params)
            uses.walk(settings, params[track], f"[{label}] {track}")
        for name, model in (("runtime", RuntimeSettings), ("tracking", TrackingSettings)):
            uses.walk(section(params, name, model), params[name], f"[{label}] {name}")
        for name, entry in params["datasets"].items():
            where = f"[{label}] datasets.{name}"
            uses.walk(dataset_source(params, name), entry, where)
            if entry["source"] == "synthetic":
                render_model = RENDER_SETTINGS[entry["layout"]]
                render = validate(render_model, entry["render"], prefix=f"{where}.render")
                uses.walk(render, entry["render"], f"{where}.render")
    return uses


def test_no_value_is_both_in_conf_and_a_default_in_code(
    compositions: list[tuple[str, dict[str, Any]]],
) -> None:
    duplicates = _uses(compositions).duplicates()
    assert not duplicates, "stated in conf/ and as a default in code:\n  " + "\n  ".join(duplicates)


def test_the_walk_reaches_every_section(compositions: list[tuple[str, dict[str, Any]]]) -> None:
    """The check above is only as good as its walk: every settings model conf/ feeds is seen."""
    reached = set(_uses(compositions).instances)
    names = {m.__qualname__ for m in reached}
    for expected in ("DiclSettings", "SCLSettings", "DclnetSettings", "RuntimeSettings"):
        assert expected in names
    for expected in ("TrackingSettings", "SyntheticSource", "ArchiveSource"):
        assert expected in names
    assert set(RENDER_SETTINGS.values()) <= reached
    # Nested sections too (a few of each track).
    assert {"RpnSettings", "MemoryLossSettings", "ClusteringSettings", "SrmSettings"} <= names
    assert all(issubclass(m, Settings) for m in reached)


def test_the_check_finds_a_default_that_conf_states_too() -> None:
    """A model whose default conf/ also states, or always overrides, is reported."""

    class Twice(Settings):
        same: int = 3
        always: int = 4
        optional: int = 5
        required: int

    uses = Uses()
    uses.walk(Twice(same=3, always=1, required=0), {"same": 3, "always": 1, "required": 0}, "a")
    uses.walk(Twice(same=2, always=2, required=0), {"same": 2, "always": 2, "required": 0}, "b")
    found = uses.duplicates()
    assert len(found) == 2
    assert "Twice.same: default 3 is also stated at a" in found[0]
    assert "Twice.always: conf/ always states it" in found[1]


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):  # a detectron2 CfgNode is a dict
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_dicl_config_keys_take_their_values_from_the_settings_only(
    compositions: list[tuple[str, dict[str, Any]]],
) -> None:
    """``add_dicl_config`` restates no value: each key is a None placeholder until
    ``build_cfg`` sets it from the settings (or the data), and it sets every one."""
    pytest.importorskip("detectron2")
    from detectron2.config import get_cfg

    from pipeline.models.dicl.config import add_dicl_config, build_cfg

    base, declared = get_cfg(), get_cfg()
    add_dicl_config(declared)
    detectron2_keys = set(_leaves(base))
    dicl = {k: v for k, v in _leaves(declared).items() if k not in detectron2_keys}
    assert len(dicl) > 30, sorted(dicl)  # MODEL.DICL.*, INPUT/SOLVER/TEST.DICL_*, ...
    valued = {k: v for k, v in dicl.items() if v is not None}
    assert not valued, f"add_dicl_config states values the settings hold: {valued}"
    for label, params in compositions:
        settings, _ = load_dicl(params)
        built = _leaves(build_cfg(settings, iters_per_epoch=3, memory_size=5))
        assert [k for k in dicl if built[k] is None] == [], label
