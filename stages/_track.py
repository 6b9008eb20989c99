"""The shape of the six track stages, ``train_<track>`` and ``eval_<track>``.

Each stage script imports its track's package (``pipeline.models.<track>``, whose contract
is ``train_model`` and ``evaluate_model``) and hands it to :func:`train` or :func:`evaluate`;
the track's params section has the track's name. A training script also imports the
training module ``train_model`` runs (only there, so evaluation never loads it): what a
stage script imports is what tests/e2e/test_stage_deps.py holds to its dvc.yaml deps. Every
path comes from a flag, the same flags in all six, which dvc.yaml passes (it names each path
once, in its ``vars``); the defaults are the same paths, for a stage run by hand::

    --params     params.yaml
    --data       data/processed/<the track's dataset>
    --model-dir  models/<track>
    --plots-dir  plots/<track>/train  (eval: plots/<track>/eval)
    --metrics    metrics/<track>.json  (eval only)

Paths are relative to the working directory, the repository root under DVC.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from pipeline.checkpoint import has_resume_state
from pipeline.params import RuntimeSettings, TrackingSettings, load_params, section
from pipeline.runtime import setup
from pipeline.tracking import StageRun, logged_params


def parse_args(
    stage: str, argv: Sequence[str] | None, description: str | None
) -> argparse.Namespace:
    """The flags of ``stage`` (``train_<track>`` or ``eval_<track>``)."""
    kind, track = stage.split("_", 1)
    parser = argparse.ArgumentParser(prog=f"python -m stages.{stage}", description=description)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--data", help="processed dataset folder (default: data/processed/<dataset>)"
    )
    parser.add_argument("--model-dir", default=f"models/{track}")
    parser.add_argument("--plots-dir", default=f"plots/{track}/{kind}")
    if kind == "eval":
        parser.add_argument("--metrics", default=f"metrics/{track}.json")
    return parser.parse_args(argv)


def track_name(package: ModuleType) -> str:
    """``dicl`` for ``pipeline.models.dicl``: the track, its params section, its stages' suffix."""
    return package.__name__.rsplit(".", 1)[-1]


def _load(package: ModuleType, args: argparse.Namespace, processes: int | None = None):
    params = load_params(args.params)
    settings, layout = importlib.import_module(f"{package.__name__}.settings").load_settings(params)
    seed = int(params.get("seed", 0))
    runtime_settings = section(params, "runtime", RuntimeSettings)
    if processes is not None:
        runtime_settings = runtime_settings.model_copy(update={"num_processes": processes})
    runtime = setup(runtime_settings, seed)
    data = Path(args.data or Path("data/processed") / settings.dataset)
    tracking = section(params, "tracking", TrackingSettings)
    return settings, layout, seed, runtime, data, tracking


def train(
    package: ModuleType, argv: Sequence[str] | None = None, description: str | None = None
) -> None:
    """Train the track and write ``--model-dir`` and ``--plots-dir``; one MLflow run (rank 0).

    Every process of a DDP run calls it; only rank 0 logs (the other ranks' StageRun is off).
    """
    track = track_name(package)
    stage = f"train_{track}"
    args = parse_args(stage, argv, description)
    settings, layout, seed, runtime, data, tracking = _load(package, args)
    with StageRun(
        track=track,
        stage=stage,
        params=logged_params(track, settings, seed),
        settings=tracking,
        datasets=[settings.dataset],
        outputs=[args.model_dir, args.plots_dir],
        resume=has_resume_state(args.model_dir),
        enabled=runtime.is_main,
    ) as mlrun:
        clock = {"start": time.monotonic()}

        def on_epoch_end(epoch: int, metrics: dict[str, Any]) -> None:
            now = time.monotonic()
            mlrun.log_metrics({**metrics, "epoch_seconds": now - clock["start"]}, step=epoch)
            clock["start"] = now

        final = package.train_model(
            settings,
            layout=layout,
            data_dir=data,
            model_dir=args.model_dir,
            plots_dir=args.plots_dir,
            runtime=runtime,
            seed=seed,
            root=Path.cwd(),
            on_epoch_end=on_epoch_end,
        )
        mlrun.log_metrics(final)
        mlrun.log_artifact(args.plots_dir, "plots/train")
        mlrun.log_artifact(Path(args.model_dir) / "config.json")


def evaluate(
    package: ModuleType, argv: Sequence[str] | None = None, description: str | None = None
) -> None:
    """Evaluate the trained model; write ``--metrics`` and ``--plots-dir``; one MLflow run.

    Evaluation runs in one process. A missing model stops the stage before its run starts.
    """
    track = track_name(package)
    stage = f"eval_{track}"
    args = parse_args(stage, argv, description)
    settings, layout, seed, runtime, data, tracking = _load(package, args, processes=1)
    config = Path(args.model_dir) / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{config}: not found; run the train_{track} stage first")
    with StageRun(
        track=track,
        stage=stage,
        params=logged_params(track, settings, seed),
        settings=tracking,
        datasets=[settings.dataset],
        outputs=[args.metrics, args.plots_dir],
    ) as mlrun:
        metrics = package.evaluate_model(
            settings,
            layout=layout,
            data_dir=data,
            model_dir=args.model_dir,
            metrics_path=args.metrics,
            plots_dir=args.plots_dir,
            runtime=runtime,
            root=Path.cwd(),
        )
        mlrun.log_metrics(metrics)
        mlrun.log_artifact(args.metrics)
        mlrun.log_artifact(args.plots_dir, "plots/eval")
