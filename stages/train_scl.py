"""DVC stage ``train_scl``: unsupervised re-id with selective contrastive learning.

Reads the ``scl`` section of params.yaml (the dataset's profile applied),
trains on ``data/processed/<dataset>/index.csv`` (train split, identities never
read for training) and writes ``models/scl/`` (``model.pt``, ``config.json``,
``pseudo_labels/``) and ``plots/scl/train/``. A killed run resumes from
``models/.scl.resume/``. Run from the repository root::

    python -m stages.train_scl
    torchrun --nproc_per_node 2 -m stages.train_scl     # DDP (runtime.num_processes)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.checkpoint import has_resume_state
from pipeline.models.scl.settings import load_settings
from pipeline.models.scl.train import DEFAULT_PRETRAINED_CACHE, train_scl
from pipeline.params import RuntimeSettings, TrackingSettings, load_params, section
from pipeline.runtime import setup
from pipeline.tracking import StageRun, logged_params
from stages._main import run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.train_scl", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--data", help="processed dataset folder (default: data/processed/<dataset>)"
    )
    parser.add_argument("--model-dir", default="models/scl")
    parser.add_argument("--plots-dir", default="plots/scl/train")
    parser.add_argument("--pretrained-cache", default=str(DEFAULT_PRETRAINED_CACHE))
    args = parser.parse_args(argv)

    params = load_params(args.params)
    settings, _ = load_settings(params)
    runtime = setup(section(params, "runtime", RuntimeSettings), int(params.get("seed", 0)))
    data = Path(args.data or Path("data/processed") / settings.dataset)
    tracking = section(params, "tracking", TrackingSettings)
    logged = logged_params("scl", settings, int(params.get("seed", 0)))

    with (
        StageRun(
            track="scl",
            stage="train_scl",
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

        train_scl(
            settings,
            index_csv=data / "index.csv",
            root=Path.cwd(),
            model_dir=args.model_dir,
            plots_dir=args.plots_dir,
            runtime=runtime,
            seed=int(params.get("seed", 0)),
            pretrained_cache=args.pretrained_cache,
            on_epoch_end=on_epoch_end,
        )
        mlrun.log_artifact(args.plots_dir, "plots/train")
        mlrun.log_artifact(Path(args.model_dir) / "config.json")


class _NoRun:
    """Stand-in for StageRun on non-main DDP ranks: one MLflow run per stage."""

    def __enter__(self) -> _NoRun:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def log_metrics(self, *args, **kwargs) -> None:
        return None

    def log_artifact(self, *args, **kwargs) -> None:
        return None


if __name__ == "__main__":
    run(main, "train_scl")
