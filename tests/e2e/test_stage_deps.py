"""dvc.yaml declares every project module a stage imports, so a code change reruns it.

A module missing from a stage's ``deps`` is a silent reproducibility hole: the
code changes, `dvc repro` says nothing to do, and the committed outputs no longer
come from the committed code. ``pipeline/tracking.py`` is left out on purpose
(MLflow logging never changes an output: docs/design.md, "MLflow") and package ``__init__``
files only gather imports.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from pipeline.tracking import dvc_vars, resolve_vars

REPO = Path(__file__).resolve().parents[2]
NOT_DEPS = {"pipeline/tracking.py"}  # side effect only

_LIST_MODULES = """
import sys, importlib
importlib.import_module(sys.argv[1])
root = sys.argv[2] + "/"
for module in list(sys.modules.values()):
    path = getattr(module, "__file__", None) or ""
    if path.startswith(root):
        print(path[len(root):])
"""


def _stages() -> dict[str, tuple[str, list[str]]]:
    dvc = YAML(typ="safe").load((REPO / "dvc.yaml").read_text())
    variables = dvc_vars(dvc)  # `${models.scl}`: dvc.yaml's own vars (params refs stay as they are)
    stages = {}
    for name, stage in dvc["stages"].items():
        stage = stage.get("do", stage)
        module = stage["cmd"].split("-m ", 1)[1].split()[0]
        deps = [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]
        deps = [resolve_vars(d, variables) or d for d in deps]
        stages[name] = (module, deps)
    return stages


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_every_imported_project_module_is_a_dep(stage):
    module, deps = _stages()[stage]
    listed = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, module, str(REPO)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    imported = {p for p in listed if p.startswith(("pipeline/", "stages/"))}
    missing = sorted(
        p for p in imported - NOT_DEPS if not p.endswith("__init__.py") and not _covered(p, deps)
    )
    assert not missing, f"dvc.yaml stage {stage} imports but does not depend on {missing}"
    for dep in deps:
        assert (REPO / dep).exists() or dep.startswith("data/"), f"{stage}: {dep} does not exist"


def test_bytecode_in_every_folder_dependency_is_invisible_to_dvc():
    """Code folders hash without bytecode (the patterns live in pipeline/.dvcignore)."""
    from dvc.repo import Repo

    folders = sorted(
        {
            d
            for _, deps in _stages().values()
            for d in deps
            if d.startswith(("pipeline/", "stages/")) and (REPO / d).is_dir()
        }
    )
    assert folders, "no code folder dependencies found in dvc.yaml"
    repo = Repo(str(REPO))
    try:
        ignore = repo.dvcignore
        for folder in folders:
            base = str(REPO / folder)
            assert ignore.is_ignored(repo.fs, f"{base}/__pycache__/m.cpython-311.pyc"), folder
            assert ignore.is_ignored(repo.fs, f"{base}/m.pyc"), folder
            assert not ignore.is_ignored(repo.fs, f"{base}/m.py"), folder
    finally:
        repo.close()


def test_download_reruns_when_an_archive_changes_and_every_clone_has_the_folder():
    """``data/archives`` is a dep of ``download@<dataset>``; DVC stops on a missing dep,
    so the folder is in git (its README) for clones that only render synthetic data."""
    _, deps = _stages()["download"]
    assert "data/archives" in deps
    tracked = subprocess.run(
        ["git", "ls-files", "data/archives"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked == ["data/archives/README.md"]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "data/archives/Market-1501-v15.09.15.zip"], cwd=REPO
    )
    assert ignored.returncode == 0  # archives themselves stay out of git
