"""The ``datasets.<name>`` params schema, and the defaults of the seven real datasets."""

from __future__ import annotations

import io
import re

import pytest

from pipeline.data.sources import (
    LAYOUTS,
    ArchiveSource,
    SyntheticSource,
    dataset_source,
    parse_source,
)
from pipeline.params import ParamsError, load_params, yaml_loader

# The snippet for params.yaml (the lead pastes it under `datasets:`); the facts are in
# docs/datasets.md, "Sources".
REAL_DATASETS_YAML = """
market1501:
  source: archive
  layout: market1501
  url: http://188.138.127.15:81/Datasets/Market-1501-v15.09.15.zip   # torchreid / fast-reid
  archive: Market-1501-v15.09.15.zip
  sha256: null
  md5: 65005ab7d12ec1c44de4eeafe813e68a
  access: public
dukemtmc:
  source: archive
  layout: dukemtmc
  url: null
  archive: DukeMTMC-reID.zip
  sha256: null
  access: withdrawn
msmt17:
  source: archive
  layout: msmt17
  url: null
  archive: MSMT17_V1          # the .tar.gz, or the extracted folder
  sha256: null
  access: form
  form: "MSMT17 release agreement, signed and e-mailed to the authors (http://www.pkuvmc.com/dataset.html)"
cuhk_sysu:
  source: archive
  layout: cuhk_sysu
  url: null
  archive: cuhk_sysu.tar.gz
  sha256: null
  access: form
  form: "CUHK-SYSU request by e-mail to the authors, non-commercial use (https://github.com/ShuangLI59/person_search)"
prw:
  source: archive
  layout: prw
  url: https://drive.google.com/uc?export=download&id=0B6tjyrV1YrHeYnlhNnhEYTh5MUU
  archive: PRW-v16.04.20.zip  # 2.67 GB; Google Drive may answer with a page: then place it by hand
  sha256: null
  access: public
sysu_mm01:
  source: archive
  layout: sysu_mm01
  url: null
  archive: SYSU-MM01.zip
  sha256: null
  access: form
  form: "SYSU-MM01 dataset agreement, signed and e-mailed (https://github.com/wuancong/SYSU-MM01)"
regdb:
  source: archive
  layout: regdb
  url: null
  archive: RegDB              # the zip, or the extracted folder
  sha256: null
  access: form
  form: "RegDB (DBPerson-Recog-DB1) copyright form of Dongguk University (http://dm.dongguk.edu/link.html)"
"""


def _real_defaults() -> dict:
    return yaml_loader().load(io.StringIO(REAL_DATASETS_YAML))


def test_real_defaults_validate_and_cover_every_layout():
    defaults = _real_defaults()
    parsed = {name: parse_source(entry, f"datasets.{name}") for name, entry in defaults.items()}
    assert all(isinstance(p, ArchiveSource) for p in parsed.values())
    assert sorted(p.layout for p in parsed.values()) == sorted(LAYOUTS)
    assert parsed["market1501"].md5 == "65005ab7d12ec1c44de4eeafe813e68a"
    assert {n for n, p in parsed.items() if p.access == "public"} == {"market1501", "prw"}
    assert parsed["dukemtmc"].access == "withdrawn"


def test_repo_params_entries_validate_and_match_the_snippet(repo_root):
    """Every entry of the repository's params.yaml validates; real ones equal the snippet."""
    datasets = load_params(repo_root / "params.yaml").get("datasets") or {}
    defaults = _real_defaults()
    for name, entry in datasets.items():
        parsed = parse_source(entry, f"datasets.{name}")
        if name in defaults:
            assert parsed == parse_source(defaults[name], name)


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
        (
            {"source": "archive", "layout": "prw", "archive": "a.zip", "access": "public"},
            "needs a url",
        ),
        (
            {"source": "archive", "layout": "prw", "archive": "a.zip", "access": "form"},
            "needs `form`",
        ),
        (
            {
                "source": "archive",
                "layout": "prw",
                "archive": "a.zip",
                "access": "withdrawn",
                "url": "http://x/a.zip",
            },
            "takes no url",
        ),
        (
            {"source": "archive", "layout": "prw", "archive": "../a.zip", "access": "withdrawn"},
            "datasets.x.archive",
        ),
        (
            {
                "source": "archive",
                "layout": "prw",
                "archive": "a.zip",
                "access": "withdrawn",
                "sha256": "abc",
            },
            "datasets.x.sha256",
        ),
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
