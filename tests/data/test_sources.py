"""The ``datasets.<name>`` params schema, and the entries of the seven real datasets."""

from __future__ import annotations

import copy
import re

import pytest

from pipeline.data.sources import (
    LAYOUTS,
    ArchiveSource,
    SyntheticSource,
    dataset_source,
    parse_source,
)
from pipeline.params import ParamsError, load_params
from tests.real_config import real_params

# The real entries as conf/ composes them (facts: docs/datasets.md, "Sources").
_PARAMS = real_params()
_REAL = {n: e for n, e in _PARAMS["datasets"].items() if e["source"] == "archive"}
# A complete entry for the error cases below to change (every required key present).
PRW = {**_REAL["prw"], "archive": "a.zip"}


def _real_defaults() -> dict:
    return copy.deepcopy(_REAL)


def test_real_entries_validate_and_cover_every_layout():
    defaults = _real_defaults()
    parsed = {name: parse_source(entry, f"datasets.{name}") for name, entry in defaults.items()}
    assert all(isinstance(p, ArchiveSource) for p in parsed.values())
    assert sorted(p.layout for p in parsed.values()) == sorted(LAYOUTS)
    assert parsed["market1501"].md5 == "65005ab7d12ec1c44de4eeafe813e68a"
    assert {n for n, p in parsed.items() if p.access == "public"} == {"market1501", "prw"}
    assert parsed["dukemtmc"].access == "withdrawn"


def test_repo_params_entries_validate(repo_root):
    """Every entry of the repository's params.yaml validates, and is conf/'s."""
    datasets = load_params(repo_root / "params.yaml").get("datasets") or {}
    assert datasets == _PARAMS["datasets"]
    for name, entry in datasets.items():
        parse_source(entry, f"datasets.{name}")


def test_synthetic_entry():
    entry = {"source": "synthetic", "layout": "sysu_mm01", "render": {"seed": 3, "ids": 10}}
    parsed = parse_source(entry, "datasets.s")
    assert isinstance(parsed, SyntheticSource)
    assert parsed.render == {"seed": 3, "ids": 10}
    assert parsed.verify_images is False


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"source": "ftp", "layout": "prw"}, "datasets.x.source: value 'ftp' not allowed"),
        ({"source": "synthetic", "layout": "viper"}, "datasets.x.layout"),
        ({"source": "synthetic", "layout": "prw", "seed": 1}, "datasets.x.seed: unknown key"),
        ({**PRW, "url": None}, "needs a url"),
        ({**PRW, "url": None, "access": "form"}, "needs `form`"),
        ({**PRW, "access": "withdrawn"}, "takes no url"),
        ({**PRW, "archive": "../a.zip"}, "datasets.x.archive"),
        ({**PRW, "sha256": "abc"}, "datasets.x.sha256"),
        ({k: v for k, v in PRW.items() if k != "sha256"}, "datasets.x.sha256: required key"),
        ("just a string", "expected a mapping"),
    ],
)
def test_bad_entries_name_the_key(entry, message):
    with pytest.raises(ParamsError, match=re.escape(message)):
        parse_source(entry, "datasets.x")


def test_unknown_dataset_lists_the_known_ones():
    params = {"datasets": _real_defaults()}
    with pytest.raises(ParamsError) as err:
        dataset_source(params, "market")
    assert "unknown dataset 'market'" in str(err.value)
    assert "cuhk_sysu, dukemtmc, market1501, msmt17, prw, regdb, sysu_mm01" in str(err.value)
    assert dataset_source(params, "regdb").archive == "RegDB"
