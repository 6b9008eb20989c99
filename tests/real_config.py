"""The real configuration, shrunk: what tests build settings from (issue 22).

The settings models have no defaults (conf/ is the one home of every value,
tests/test_defaults.py), so a test starts from the composed conf/ tree, as
``python -m pipeline.compose`` writes params.yaml, and overrides the few keys it
needs; a hand-written partial section would not validate, and would test a
configuration nobody runs.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.compose import compose_params
from pipeline.params import RuntimeSettings, TrackingSettings, validate

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
# Each track's paper option: its section is conf/<track>/base.yaml as it is.
PAPER_OPTION = {"dicl": "cuhk_sysu", "scl": "market1501", "dclnet": "sysu_mm01"}


@functools.cache
def _composed(overrides: tuple[str, ...]) -> dict[str, Any]:
    return compose_params(overrides, conf_dir=CONF)


def real_params(*overrides: str) -> dict[str, Any]:
    """A fresh copy of params.yaml as conf/ composes it with the Hydra ``overrides``."""
    return copy.deepcopy(_composed(tuple(overrides)))


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def track_section(
    track: str, option: str | None = None, changes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``track`` section of the ``<track>/dataset=<option>`` composition (the paper's
    option by default) with ``changes`` merged in, ready for ``<Model>.model_validate``
    (``recipe``, which only ``load_track_settings`` reads, is dropped)."""
    option = option or PAPER_OPTION[track]
    section = real_params(f"{track}/dataset={option}")[track]
    section.pop("recipe", None)
    return merged(section, changes or {})


def track_params(
    track: str, option: str | None = None, changes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Whole params of the ``<track>/dataset=<option>`` composition, the section changed."""
    option = option or PAPER_OPTION[track]
    params = real_params(f"{track}/dataset={option}")
    if changes and "dataset" in changes:
        params[track].pop("recipe", None)  # a test's own dataset name, not the option's
    params[track] = merged(params[track], changes or {})
    return params


def runtime_settings(**changes: Any) -> RuntimeSettings:
    """conf/'s ``runtime`` section with ``changes`` (e.g. ``threads=1, device="cpu"``)."""
    return validate(RuntimeSettings, merged(_composed(())["runtime"], changes), "runtime")


def tracking_settings(**changes: Any) -> TrackingSettings:
    """conf/'s ``tracking`` section with ``changes`` (e.g. ``uri=...``)."""
    return validate(TrackingSettings, merged(_composed(())["tracking"], changes), "tracking")


def render_params(layout: str, changes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``render`` sizes of conf/'s synthetic dataset in ``layout`` with ``changes``."""
    datasets = _composed(())["datasets"]
    (render,) = [
        e["render"]
        for e in datasets.values()
        if e["source"] == "synthetic" and e["layout"] == layout
    ]
    return merged(render, changes or {})
