"""DVC stage ``train_dicl``: weakly supervised person search with DICL on detectron2.

Reads the ``person_search`` section of params.yaml (the dataset's profile
applied), trains on ``data/processed/<dataset>/train.json`` (boxes only; person
ids are never read for training) and writes ``models/dicl/`` (``model.pt``,
``config.json``) and ``plots/dicl/train/`` (``history.csv``/``.png``,
``pseudo_labels.csv``). With ``person_search.validation.ids`` > 0 the scenes of
that many drawn training identities are held out and searched (``val_det_recall``,
``val_det_ap``, ``val_mAP``, ``val_top1`` in the history and MLflow); test data is
never read. A killed run resumes from ``models/.dicl.resume/``.
Run from the repository root::

    python -m stages.train_dicl                      # runtime.num_processes > 1: detectron2 launch
    torchrun --nproc_per_node 2 -m stages.train_dicl
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.checkpoint import has_resume_state
from pipeline.models.dicl.launch import launch_workers
from pipeline.models.dicl.run import train_from_params
from pipeline.models.dicl.settings import load_settings
from pipeline.params import RuntimeSettings, TrackingSettings, load_params, section
from pipeline.runtime import setup
from pipeline.tracking import StageRun, logged_params
from stages._main import run


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stages.train_dicl", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--data", help="processed dataset folder (default: data/processed/<dataset>)"
    )
    parser.add_argument("--model-dir", default="models/dicl")
    parser.add_argument("--plots-dir", default="plots/dicl/train")
    return parser.parse_args(argv)


def worker(argv: Sequence[str] | None) -> None:
    """One training process (the only one, or one rank of a distributed run)."""
    args = parse_args(argv)
    params = load_params(args.params)
    settings, layout = load_settings(params)
    seed = int(params.get("seed", 0))
    runtime = setup(section(params, "runtime", RuntimeSettings), seed)
    data = Path(args.data or Path("data/processed") / settings.dataset)
    logged = logged_params("person_search", settings, seed)
    tracking = section(params, "tracking", TrackingSettings)
    with (
        StageRun(
            track="dicl",
            stage="train_dicl",
            params=logged,
            settings=tracking,
            datasets=[settings.dataset],
            outputs=[args.model_dir, args.plots_dir],
            resume=has_resume_state(args.model_dir),
        )
        if runtime.is_main
        else _NoRun() as mlrun
    ):
        clock = {"start": time.monotonic()}

        def on_epoch_end(epoch: int, row: dict[str, float]) -> None:
            now = time.monotonic()
            mlrun.log_metrics({**row, "epoch_seconds": now - clock["start"]}, step=epoch)
            clock["start"] = now

        train_from_params(
            settings,
            layout,
            runtime=runtime,
            seed=seed,
            data_dir=data,
            path_root=Path.cwd(),
            model_dir=args.model_dir,
            plots_dir=args.plots_dir,
            on_epoch_end=on_epoch_end,
        )
        mlrun.log_artifact(args.plots_dir, "plots/train")
        mlrun.log_artifact(Path(args.model_dir) / "config.json")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    processes = section(load_params(args.params), "runtime", RuntimeSettings).num_processes
    if processes > 1 and "WORLD_SIZE" not in os.environ:
        launch_workers(worker, processes, argv)  # detectron2's launcher spawns the ranks
    else:
        worker(argv)


class _NoRun:
    """Stand-in for StageRun on non-main ranks: one MLflow run per stage."""

    def __enter__(self) -> _NoRun:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def log_metrics(self, *args, **kwargs) -> None:
        return None

    def log_artifact(self, *args, **kwargs) -> None:
        return None


if __name__ == "__main__":
    run(main, "train_dicl")
