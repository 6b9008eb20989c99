"""A failed, refused or killed stage leaves every earlier output in place (issue 25).

DVC deletes a stage's outputs before running its command unless they are
``persist: true``; the cache-less ones (metrics, plots, reports) could then never
come back. dvc.yaml marks every train, eval and report output persistent, and the
stages replace their outputs atomically only when they succeed, so a bad
parameter, a required tracking server that is down, or a kill mid-training
leaves the previous run's files byte for byte (SCL in a tiny copy stands for all).
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from pipeline.params import load_params
from tests.e2e.conftest import dump_yaml, make_tiny_repo
from tests.helpers.kill_resume import killed_repro
from tests.reliability.conftest import TinyRepo, lengthen_schedules, tree_md5
from tests.reliability.test_tracking_failures import closed_port

pytestmark = pytest.mark.slow

OUTPUTS = ("models/scl", "plots/scl/train", "plots/scl/eval", "metrics/scl.json")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> TinyRepo:
    """A tiny copy where `dvc repro eval_scl` has run once: the outputs to keep."""
    root, env = make_tiny_repo(tmp_path_factory.mktemp("keep"), lengthen_schedules)
    env = {**env, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    tiny = TinyRepo(root, env, tmp_path_factory.mktemp("keep-scratch"))
    tiny.env = tiny.stage_env()  # a private MLflow store for every DVC run below
    tiny.dvc("repro", "eval_scl")
    return tiny


def outputs_md5(tiny: TinyRepo) -> dict[str, str]:
    digests = {}
    for rel in OUTPUTS:
        path = tiny.root / rel
        assert path.exists(), f"{rel} missing"
        if path.is_dir():
            digests.update(tree_md5(path))
        else:
            digests[rel] = hashlib.md5(path.read_bytes()).hexdigest()
    return digests


@contextmanager
def edited_params(tiny: TinyRepo, edit) -> Iterator[None]:
    """params.yaml changed by ``edit(params)`` for the block, then restored byte for byte."""
    params_file = tiny.root / "params.yaml"
    original = params_file.read_bytes()
    params = load_params(params_file)
    edit(params)
    dump_yaml(params, params_file)
    try:
        yield
    finally:
        params_file.write_bytes(original)


def failing_repro(tiny: TinyRepo, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["dvc", "repro", *args], cwd=tiny.root, env=tiny.env, capture_output=True, text=True
    )
    assert proc.returncode != 0, proc.stdout[-2000:]
    proc.output = proc.stdout + proc.stderr
    return proc


def test_dvc_yaml_keeps_every_uncached_output():
    # Data outputs are cached (`dvc checkout` brings them back); the rest must persist.
    stages = yaml.safe_load((Path(__file__).resolve().parents[2] / "dvc.yaml").read_text())[
        "stages"
    ]
    for name, stage in stages.items():
        if name in ("download", "convert"):
            continue
        for out in stage["outs"] + stage.get("metrics", []) + stage.get("plots", []):
            if isinstance(out, dict):
                ((path, flags),) = out.items()
                assert flags.get("persist") is True, f"{name}: {path} is not persist: true"
            else:
                pytest.fail(f"{name}: {out} is not persist: true")


def test_a_bad_param_keeps_the_outputs(trained):
    before = outputs_md5(trained)

    def bad_epochs(params: dict) -> None:
        params["scl"]["train"]["epochs"] = "three"

    with edited_params(trained, bad_epochs):
        proc = failing_repro(trained, "eval_scl")
    assert "train.epochs" in proc.output, proc.output[-2000:]
    assert outputs_md5(trained) == before


def test_a_tracking_outage_with_tracking_required_keeps_the_outputs(trained):
    before = outputs_md5(trained)

    def tracking_down(params: dict) -> None:
        params["tracking"] = {"uri": f"http://127.0.0.1:{closed_port()}", "required": True}

    with edited_params(trained, tracking_down):
        # `tracking` is no stage parameter: force the stage, as a user retrying would.
        proc = failing_repro(trained, "-f", "-s", "train_scl")
    assert "tracking.required is true" in proc.output, proc.output[-2000:]
    assert outputs_md5(trained) == before


def test_a_killed_training_keeps_the_outputs(trained):
    before = outputs_md5(trained)
    # Ended in its second epoch, after the first one's checkpoint: mid-training.
    killed_repro(trained, "scl", 4, "-f", "-s")
    assert outputs_md5(trained) == before
    # The next `dvc repro` resumes the killed run from its checkpoint (test_kill_resume.py).
