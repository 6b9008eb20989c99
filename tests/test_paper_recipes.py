"""Each paper option of conf/ against its cited sources (issue 24, "Each paper's own recipe").

docs/recipes/<track>.yaml is the table: for every real-data option of
conf/<track>/dataset/ (not ``synthetic_*``), one entry per setting with the value the
paper or its official code uses and where (``source`` starts with an id of ``sources``);
``not_from_paper`` lists the settings no source gives, and why. The test composes each
option as ``python -m pipeline.compose '<track>/dataset=<option>'`` does and checks:

- every entry's value equals the composed one (same type; floats exactly; lists as lists);
- every leaf setting of the section (but ``dataset`` and ``recipe``) is covered by the
  option's entries or by ``not_from_paper``; a list, a list of lists included, is one leaf;
- no entry or ``not_from_paper`` key names a setting the section lacks; no unknown keys;
- every real option has a table, and every table names a real option.

An option's list may hold entries or lists of entries (YAML aliases share them).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pipeline.compose import compose_params
from pipeline.params import load_yaml

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
RECIPES = REPO / "docs" / "recipes"
TABLES = sorted(RECIPES.glob("*.yaml"))
TOP_KEYS = {"track", "sources", "options", "not_from_paper"}
ENTRY_KEYS = {"key", "value", "source", "note"}
REQUIRED_ENTRY_KEYS = {"key", "value", "source"}
# Set by each option for the pipeline itself, not a recipe value.
UNCHECKED = {"dataset", "recipe"}


def real_options(track: str) -> list[str]:
    """The options of conf/<track>/dataset that select real data."""
    folder = CONF / track / "dataset"
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("synthetic_"))


def leaves(section: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted key, value)`` of every setting; lists (of lists too) are single leaves."""
    for name, value in section.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            yield from leaves(value, key + ".")
        else:
            yield key, value


def entries_of(items: Any, where: str, errors: list[str]) -> list[Any]:
    """The option's entries, lists of entries (YAML aliases) flattened one level per list."""
    if not isinstance(items, list):
        errors.append(f"{where}: expected a list of entries, got {type(items).__name__}")
        return []
    out: list[Any] = []
    for item in items:
        if isinstance(item, list):
            out.extend(entries_of(item, where, errors))
        else:
            out.append(item)
    return out


def same_value(expected: Any, actual: Any) -> bool:
    """Equal and of one type (``True`` is not ``1``, ``1`` is not ``1.0``), lists item by item."""
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(same_value, expected, actual))
    return type(expected) is type(actual) and expected == actual


def check_table(
    table: Any, track: str, sections: Mapping[str, Mapping[str, Any]], options: list[str]
) -> list[str]:
    """Every way ``table`` disagrees with the composed ``sections`` (option -> track section)."""
    errors: list[str] = []
    if not isinstance(table, Mapping):
        return [f"{track}: the table is not a mapping"]
    if set(table) != TOP_KEYS:
        errors.append(f"{track}: top-level keys {sorted(table)}, expected {sorted(TOP_KEYS)}")
    if table.get("track") != track:
        errors.append(f"{track}: track is {table.get('track')!r}, expected {track!r}")
    sources = table.get("sources") or {}
    if not isinstance(sources, Mapping) or not sources:
        errors.append(f"{track}: sources must map short ids to references")
        sources = {}
    tabled = table.get("options") or {}
    if not isinstance(tabled, Mapping):
        return [*errors, f"{track}: options must map option names to entries"]
    for option in sorted(set(options) - set(tabled)):
        errors.append(f"{track}: real option conf/{track}/dataset/{option}.yaml has no table")
    for option in sorted(set(tabled) - set(options)):
        errors.append(f"{track}.options.{option}: no such real option in conf/{track}/dataset")
    not_from_paper = table.get("not_from_paper") or {}
    if not isinstance(not_from_paper, Mapping):
        errors.append(f"{track}: not_from_paper must map keys to reasons")
        not_from_paper = {}
    all_leaves: set[str] = set()
    for option in sorted(set(options) & set(tabled)):
        where = f"{track}.options.{option}"
        composed = {k: v for k, v in leaves(sections[option]) if k.split(".")[0] not in UNCHECKED}
        all_leaves |= set(composed)
        seen: set[str] = set()
        for entry in entries_of(tabled[option], where, errors):
            if not isinstance(entry, Mapping):
                errors.append(f"{where}: entry {entry!r} is not a mapping")
                continue
            key = entry.get("key")
            if set(entry) - ENTRY_KEYS or REQUIRED_ENTRY_KEYS - set(entry):
                errors.append(
                    f"{where}.{key}: entry keys {sorted(entry)}; required "
                    f"{sorted(REQUIRED_ENTRY_KEYS)}, allowed {sorted(ENTRY_KEYS)}"
                )
                continue
            if key in seen:
                errors.append(f"{where}.{key}: listed twice")
            seen.add(key)
            source = str(entry["source"])
            if not any(source.startswith(f"{sid}:") for sid in sources):
                errors.append(
                    f"{where}.{key}: source {source!r} starts with none of {sorted(sources)}"
                )
            if key not in composed:
                errors.append(f"{where}.{key}: no such setting in the composed {track} section")
            elif not same_value(entry["value"], composed[key]):
                errors.append(
                    f"{where}.{key}: the table says {entry['value']!r}, conf/ composes "
                    f"{composed[key]!r}"
                )
        for key in sorted(set(composed) - seen - set(not_from_paper)):
            errors.append(f"{where}: setting {key} has no entry and is not in not_from_paper")
    for key in sorted(set(not_from_paper) - all_leaves):
        errors.append(f"{track}.not_from_paper.{key}: no such setting in any real option")
    return errors


def _load(path: Path) -> tuple[Any, str, dict[str, dict[str, Any]], list[str]]:
    table = load_yaml(path)
    track = path.stem
    options = real_options(track)
    sections = {
        option: compose_params([f"{track}/dataset={option}"], conf_dir=CONF)[track]
        for option in options
    }
    return table, track, sections, options


@pytest.fixture(scope="module", params=TABLES, ids=[p.stem for p in TABLES])
def recipe(request) -> tuple[Any, str, dict[str, dict[str, Any]], list[str]]:
    return _load(request.param)


def test_there_is_a_table_for_the_tracks_of_this_branch():
    # Parametrised over the tables that exist; SCL's is always among them.
    assert "scl" in [p.stem for p in TABLES]
    for path in TABLES:
        assert (CONF / path.stem / "dataset").is_dir(), f"{path}: no conf/{path.stem}/dataset"


def test_every_real_option_matches_its_cited_sources(recipe):
    table, track, sections, options = recipe
    assert options, f"conf/{track}/dataset has no real-data option"
    errors = check_table(table, track, sections, options)
    assert not errors, "\n".join(errors)


def _first_entry(table: dict, option: str) -> dict:
    errors: list[str] = []
    return entries_of(table["options"][option], option, errors)[0]


def test_a_wrong_value_fails(recipe):
    table, track, sections, options = recipe
    option = options[0]
    wrong = copy.deepcopy(table)
    entry = _first_entry(wrong, option)
    value = entry["value"]
    entry["value"] = (
        not value
        if isinstance(value, bool)
        else [*value, 0]
        if isinstance(value, list)
        else value + 1
        if isinstance(value, int | float)
        else f"{value}-not"
    )
    errors = check_table(wrong, track, sections, options)
    assert any(f".{entry['key']}: the table says" in e for e in errors), errors


def test_a_float_that_differs_in_the_last_digit_or_in_type_fails():
    sections = {"opt": {"dataset": "d", "a": 0.3, "b": 1.0, "c": [[1, 2], [3]]}}
    table = {
        "track": "t",
        "sources": {"code": "x"},
        "options": {
            "opt": [
                {"key": "a", "value": 0.1 + 0.2, "source": "code: f:1"},  # 0.30000000000000004
                {"key": "b", "value": 1, "source": "code: f:2"},
                {"key": "c", "value": [[1, 2], [3]], "source": "code: f:3"},
            ]
        },
        "not_from_paper": {},
    }
    errors = check_table(table, "t", sections, ["opt"])
    assert any("opt.a: the table says" in e for e in errors), errors
    assert any("opt.b: the table says" in e for e in errors), errors
    assert not any("opt.c" in e for e in errors), errors  # a list of lists is one leaf


def test_uncovered_unknown_and_unsourced_entries_fail(recipe):
    table, track, sections, options = recipe
    option = options[0]
    broken = copy.deepcopy(table)
    entry = _first_entry(broken, option)
    dropped = entry["key"]
    # Remove that setting from every list of the option (aliases share list objects).
    entries = entries_of(broken["options"][option], option, [])
    for item in entries:
        if item.get("key") == dropped:
            item["key"] = "no_such.setting"
            item["source"] = "nowhere: -"
    broken["not_from_paper"].pop(dropped, None)
    broken["extra"] = 1
    errors = check_table(broken, track, sections, options)
    assert any(f"setting {dropped} has no entry" in e for e in errors), errors
    assert any("no_such.setting: no such setting" in e for e in errors), errors
    assert any("starts with none of" in e for e in errors), errors
    assert any("top-level keys" in e for e in errors), errors


def test_a_real_option_without_a_table_fails(recipe):
    table, track, sections, options = recipe
    missing = copy.deepcopy(table)
    option = options[-1]
    del missing["options"][option]
    errors = check_table(missing, track, sections, options)
    assert any(f"{option}.yaml has no table" in e for e in errors), errors


def test_an_unknown_entry_field_fails(recipe):
    table, track, sections, options = recipe
    odd = copy.deepcopy(table)
    option = options[0]
    odd["options"][option] = [{**_first_entry(odd, option), "comment": "?"}]
    errors = check_table(odd, track, sections, options)
    assert any("entry keys" in e for e in errors), errors
