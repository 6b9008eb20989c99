"""DVC stage ``train_dclnet``: DCLNet on the dataset ``dclnet.dataset`` picks.

Reads ``seed``, ``runtime``, ``tracking``, ``datasets`` and ``dclnet`` from
params.yaml, trains (SYSU-MM01: one model; RegDB: one per split, each resumable
on its own) and writes ``models/dclnet/`` and ``plots/dclnet/train/``
atomically. A killed run rerun resumes from its last epoch. Run from the
repository root (``torchrun --nproc_per_node N -m stages.train_dclnet`` for DDP)::

    python -m stages.train_dclnet
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pipeline.checkpoint import has_resume_state
from pipeline.models.dclnet.settings import load_settings
from pipeline.models.dclnet.training import history_metrics, train_dclnet
from pipeline.params import RuntimeSettings, TrackingSettings, load_params, section
from pipeline.runtime import setup
from pipeline.tracking import StageRun, logged_params
from stages._main import run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.train_dclnet", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", help="processed dataset (default: data/processed/<dataset>)")
    parser.add_argument("--models", default="models/dclnet")
    parser.add_argument("--plots", default="plots/dclnet/train")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    settings, layout = load_settings(params)
    runtime = setup(section(params, "runtime", RuntimeSettings), int(params.get("seed", 0)))
    data = Path(args.data or Path("data/processed") / settings.dataset)
    with StageRun(
        track="dclnet",
        stage="train_dclnet",
        params=logged_params("dclnet", settings, int(params.get("seed", 0))),
        settings=section(params, "tracking", TrackingSettings),
        datasets=[settings.dataset],
        outputs=[args.models, args.plots],
        resume=has_resume_state(args.models),
    ) as tracker:

        def log_epoch(unit: str, epoch: int, row: dict[str, float]) -> None:
            prefix = "" if unit == "main" else f"{unit}/"
            tracker.log_metrics(
                {prefix + k: v for k, v in history_metrics(row).items()}, step=epoch
            )

        finals = train_dclnet(
            settings,
            layout,
            data_dir=data,
            model_dir=Path(args.models),
            plots_dir=Path(args.plots),
            runtime=runtime,
            seed=int(params.get("seed", 0)),
            on_epoch_end=log_epoch if runtime.is_main else None,
        )
        if runtime.is_main:
            # Held-out identities (dclnet.validation): last val_ scores and the baselines.
            for unit, final in finals.items():
                prefix = "" if unit == "main" else f"{unit}/"
                tracker.log_metrics({prefix + k: v for k, v in final["validation"].items()})
            tracker.log_artifact(Path(args.plots), "plots/train")
            tracker.log_artifact(Path(args.models) / "config.json")


if __name__ == "__main__":
    run(main, "train_dclnet")
