"""A temporary copy of the repository with tiny data and schedules, for end-to-end runs.

The copy holds the working tree's tracked and untracked-but-not-ignored files
(what a fresh clone plus the change under test would hold), its own git history
and its own MLflow store. `shrink_params` keeps every mechanism of every stage but
renders tiny synthetic worlds and trains for one or two epochs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from pipeline.compose import compose_text
from pipeline.params import load_params

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

TINY_RENDER = {
    "synthetic_market1501": {
        "num_train_ids": 16,
        "num_test_ids": 8,
        "num_val_ids": 2,  # pids 25 and 26, after the 16 + 8 others
        "num_distractors": 6,
        "num_junk": 5,
        "min_images_per_camera": 2,
        "max_images_per_camera": 2,
    },
    "synthetic_sysu_mm01": {
        "num_train_ids": 8,
        "num_val_ids": 2,
        "num_test_ids": 8,
        "min_images_per_camera": 3,
        "max_images_per_camera": 4,
    },
    "synthetic_cuhk_sysu": {
        "num_train_scenes": 16,
        "num_test_scenes": 12,
        "num_train_ids": 8,
        "num_test_ids": 6,
        "gallery_sizes": [10],
        "width": 160,  # a quarter of the pixels: the detector's cost is per pixel
        "height": 120,
    },
}


def shrink_params(params: dict) -> dict:
    """Tiny worlds and one-to-two-epoch schedules; every loss and mechanism stays on."""
    for name, sizes in TINY_RENDER.items():
        params["datasets"][name]["render"].update(sizes)
    # The track sections as composed (the synthetic dataset option of each applied).
    scl = params["scl"]
    scl["train"].update({"epochs": 2, "warmup_epochs": 1})
    # The option names the full world's 40 val ids (161-200); the tiny world renders two.
    scl["validation"].update({"pids": [25, 26], "every": 0})
    dcl = params["dclnet"]
    dcl["train"].update({"epochs": 2, "iters_per_epoch": 1, "warmup_epochs": 1, "milestones": [1]})
    dcl["eval"].update({"trials": 2})
    # 8 train ids: fewer per batch than the option's 16 (the sampler needs that many).
    dcl["sampler"].update({"ids_per_batch": 4, "images_per_id": 2})
    # The option names the full world's val ids; hold out 2 drawn ones instead.
    dcl["validation"].update({"ids": 2, "pids": [], "every": 0})
    dicl = params["dicl"]
    # memory_size: the shrunk world's own box count (the option names the full world's 1036).
    dicl["train"].update({"epochs": 1, "scales": [[160, 120]], "memory_size": 48})
    # The full world's 20 held-out ids would empty training.
    dicl["validation"].update({"ids": 3, "every_epochs": 1})
    # An untrained detector keeps its 100 best boxes per image and the crop branch encodes
    # each: most of the evaluation's time in a world of 2-6 people per scene.
    dicl["model"]["roi"]["detections_per_image"] = 20
    # The tiny world has TestG10 only.
    dicl["test"].update({"gallery_size": 10, "scale": [160, 120]})
    return params


def dump_yaml(data: dict, path: Path) -> None:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(data, fh)


def run(cmd: list[str], cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc


def write_conf(repo: Path, params: dict) -> None:
    """Make ``params`` the copy's conf/ (one config, no groups) and its composed params.yaml.

    `dvc exp run` composes params.yaml from conf/ (Hydra), so the shrunken values go
    there; params.yaml gets the same bytes, so `dvc repro` reads them too.
    """
    shutil.rmtree(repo / "conf")
    (repo / "conf").mkdir()
    dump_yaml(params, repo / "conf" / "config.yaml")
    (repo / "params.yaml").write_text(compose_text(conf_dir=repo / "conf"), encoding="utf-8")


def copy_worktree(dest: Path) -> None:
    listed = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        src = REPO_ROOT / rel
        if not src.is_file():
            continue  # deleted in the working tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def make_tiny_repo(repo: Path, edit_params=None) -> tuple[Path, dict]:
    """Fill ``repo`` with a committed copy of the working tree with shrunken params.

    Args:
        repo: an empty folder.
        edit_params: optional ``f(params) -> params`` applied after `shrink_params`
            (tests/reliability lengthens schedules so a kill lands mid-training).

    Returns:
        ``(repo, env)``: env is the environment to run `dvc`/stages in (venv on PATH,
        no inherited MLFLOW_/DVC_/GIT_ variables).
    """
    copy_worktree(repo)
    (repo / "dvc.lock").unlink(missing_ok=True)
    params = shrink_params(load_params(repo / "params.yaml"))
    if edit_params is not None:
        params = edit_params(params)
    write_conf(repo, params)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_", "GIT_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    run(["git", "init", "-q"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "tiny copy"], repo, env)
    return repo, env


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory) -> tuple[Path, dict]:
    """A repo copy with shrunken params, committed, ready for `dvc repro`."""
    return make_tiny_repo(tmp_path_factory.mktemp("repo"))
