"""`dvc exp run -S` in a tiny git + DVC repository with the project's conf/ and .dvc/config.

One stage dumps what the stages read (every track's ``load_settings(params)`` and the
params) to a JSON file. Each README `-S` example, and the issue's case (a key the
selected dataset option also sets), runs through the real `dvc exp run`; the settings it
resolves must carry the user's values and equal the in-process composition.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.compose import compose_params
from tests.test_compose import CONF, REPO, readme_commands, resolved

pytestmark = pytest.mark.slow

DUMP = """\
import json
from pipeline.models.dclnet.settings import load_settings as dclnet
from pipeline.models.dicl.settings import load_settings as dicl
from pipeline.models.scl.settings import load_settings as scl
from pipeline.params import TrackingSettings, load_params, section
from pipeline.tracking import StageRun, logged_params

params = load_params("params.yaml")
out = {"params": params, "resolved": {}}
for track, loader in (("dicl", dicl), ("scl", scl), ("dclnet", dclnet)):
    settings, layout = loader(params)
    out["resolved"][track] = {"settings": settings.model_dump(mode="json"), "layout": layout}
with open("out.json", "w") as fh:
    json.dump(out, fh, sort_keys=True)
# What train_scl logs to MLflow (its store: $MLFLOW_TRACKING_URI, set by the test).
settings, _ = scl(params)
logged = logged_params("scl", settings, int(params["seed"]))
with StageRun(track="scl", stage="dump", params=logged,
              settings=section(params, "tracking", TrackingSettings)):
    pass
"""


def _run(cmd: list[str], cwd: Path, env: dict) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def exp_repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("hydra-repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "GIT_"))}
    env.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
        PYTHONPATH=str(REPO),
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    _run(["git", "init", "-q"], root, env)
    _run([sys.executable, "-m", "dvc", "init", "-q"], root, env)
    shutil.copy(REPO / ".dvc" / "config", root / ".dvc" / "config")
    shutil.copytree(CONF, root / "conf")
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    (root / "dump.py").write_text(DUMP)
    (root / "dvc.yaml").write_text(
        "stages:\n"
        "  dump:\n"
        f"    cmd: {sys.executable} dump.py\n"
        "    deps: [dump.py]\n"
        "    params: [seed, datasets, dicl, scl, dclnet]\n"
        "    outs: [out.json]\n"
    )
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-qm", "tiny"], root, env)

    def exp_run(*overrides: str) -> dict:
        args = [a for o in overrides for a in ("-S", o)]
        _run([sys.executable, "-m", "dvc", "exp", "run", *args], root, env)
        return json.loads((root / "out.json").read_text())

    exp_run.store = env["MLFLOW_TRACKING_URI"]

    return exp_run


def test_a_set_key_wins_over_the_selected_dataset_option(exp_repo):
    # synthetic_market1501 (the default option) sets scl.train.lr to 0.002.
    out = exp_repo("scl.train.lr=1e-6")
    scl = out["resolved"]["scl"]["settings"]
    assert scl["train"]["lr"] == 1e-6
    assert (scl["dataset"], scl["model"]["backbone"]) == ("synthetic_market1501", "resnet18")
    # ... and the MLflow run carries it as a param.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=exp_repo.store)
    experiment = client.get_experiment_by_name("scl")
    (run,) = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1
    )
    assert run.data.params["scl.train.lr"] == "1e-06"
    assert run.data.params["scl.dataset"] == "synthetic_market1501"


def test_a_group_selection_brings_the_datasets_settings(exp_repo):
    out = exp_repo("scl/dataset=market1501")
    scl = out["resolved"]["scl"]
    assert scl["layout"] == "market1501"
    assert (scl["settings"]["dataset"], scl["settings"]["model"]["backbone"]) == (
        "market1501",
        "resnet50",
    )
    assert scl["settings"]["train"]["lr"] == 0.001  # the paper's, not the earlier run's 1e-6
    assert out["resolved"] == resolved(compose_params(["scl/dataset=market1501"], conf_dir=CONF))


def test_every_readme_example_runs(exp_repo):
    commands = readme_commands()
    assert len(commands) >= 5
    for overrides in commands:
        out = exp_repo(*overrides)
        expected = compose_params(overrides, conf_dir=CONF)
        assert out["params"] == expected, overrides
        assert out["resolved"] == resolved(expected), overrides
