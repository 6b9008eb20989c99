"""DVC stage ``eval_scl``: query/gallery evaluation of the SCL model and its baselines.

Writes ``metrics/scl.json`` (``mAP``, ``rank1``, ``rank5``, ``rank10``, ``mINP``
and the same with ``init_`` (untrained network) and ``hist_`` (colour
histogram) prefixes) and ``plots/scl/eval/`` (``cmc.csv``, ``ranked_lists.png``).
Run from the repository root::

    python -m stages.eval_scl
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pipeline.models.scl.evaluate import evaluate_scl, load_trained_config
from pipeline.models.scl.settings import load_settings
from pipeline.models.scl.train import DEFAULT_PRETRAINED_CACHE
from pipeline.params import RuntimeSettings, TrackingSettings, load_params, section
from pipeline.runtime import setup
from pipeline.tracking import StageRun, logged_params
from stages._main import run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.eval_scl", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--data", help="processed dataset folder (default: data/processed/<dataset>)"
    )
    parser.add_argument("--model-dir", default="models/scl")
    parser.add_argument("--metrics", default="metrics/scl.json")
    parser.add_argument("--plots-dir", default="plots/scl/eval")
    parser.add_argument("--pretrained-cache", default=str(DEFAULT_PRETRAINED_CACHE))
    args = parser.parse_args(argv)

    params = load_params(args.params)
    settings, _ = load_settings(params)
    # Evaluation is single-process: no DDP group even under torchrun settings.
    runtime_settings = section(params, "runtime", RuntimeSettings).model_copy(
        update={"num_processes": 1}
    )
    runtime = setup(runtime_settings, int(params.get("seed", 0)))
    data = Path(args.data or Path("data/processed") / settings.dataset)
    load_trained_config(args.model_dir)  # fail before starting a tracking run
    tracking = section(params, "tracking", TrackingSettings)
    logged = logged_params("scl", settings, int(params.get("seed", 0)))
    with StageRun(
        track="scl",
        stage="eval_scl",
        params=logged,
        settings=tracking,
        datasets=[settings.dataset],
        outputs=[args.metrics, args.plots_dir],
    ) as mlrun:
        metrics = evaluate_scl(
            settings,
            model_dir=args.model_dir,
            index_csv=data / "index.csv",
            root=Path.cwd(),
            metrics_path=args.metrics,
            plots_dir=args.plots_dir,
            runtime=runtime,
            pretrained_cache=args.pretrained_cache,
        )
        mlrun.log_metrics(metrics)
        mlrun.log_artifact(args.metrics)
        mlrun.log_artifact(args.plots_dir, "plots/eval")


if __name__ == "__main__":
    run(main, "eval_scl")
