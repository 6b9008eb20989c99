"""One contract for the three tracks: ``pipeline.models.<track>`` exposes ``build_model``,
``train_model`` and ``evaluate_model`` (``entry.py``) with the same signatures, and the six
track stages are the same thin shape over them (read from the source: nothing heavy loads)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TRACKS = ("dicl", "scl", "dclnet")
CONTRACT = ("build_model", "train_model", "evaluate_model")


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _shape(node: ast.FunctionDef) -> tuple:
    a = node.args
    return (
        [p.arg for p in a.posonlyargs + a.args],
        [p.arg for p in a.kwonlyargs],
        [d is None for d in a.kw_defaults],
        ast.unparse(node.returns) if node.returns else None,
    )


@pytest.mark.parametrize("name", CONTRACT)
def test_every_track_has_the_same_entry_points(name):
    shapes = {t: _shape(_functions(REPO / f"pipeline/models/{t}/entry.py")[name]) for t in TRACKS}
    assert len({repr(s) for s in shapes.values()}) == 1, shapes


@pytest.mark.parametrize("track", TRACKS)
def test_the_package_re_exports_the_contract(track):
    tree = ast.parse((REPO / f"pipeline/models/{track}/__init__.py").read_text(encoding="utf-8"))
    names = {
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == f"pipeline.models.{track}.entry"
        for alias in node.names
    }
    assert names == set(CONTRACT)


@pytest.mark.parametrize("kind", ["train", "eval"])
def test_the_six_stages_have_one_shape(kind):
    """Each stage hands its track's package to stages/_track.py, and nothing else of a track."""
    helper = "train" if kind == "train" else "evaluate"
    for track in TRACKS:
        source = (REPO / f"stages/{kind}_{track}.py").read_text(encoding="utf-8")
        assert f"from pipeline.models import {track}\n" in source, track
        assert f"    {helper}({track}, argv, __doc__)\n" in source, track
        assert "StageRun" not in source and "_NoRun" not in source, track
