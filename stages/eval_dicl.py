"""DVC stage ``eval_dicl``: person search evaluation of the trained DICL model.

Writes ``metrics/dicl.json`` (``mAP``, ``top1``, ``top5``, ``top10``, ``det_ap``,
``det_recall``, per-gallery keys, and the same for the untrained model with an
``init_`` prefix) and ``plots/dicl/eval/`` (``cmc.csv``, ``det_pr.csv``,
``ranked_list.png``). The final model is evaluated: nothing is chosen on test
data. Run from the repository root::

    python -m stages.eval_dicl
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pipeline.models.dicl.run import evaluate_from_params
from pipeline.models.dicl.settings import load_settings
from pipeline.params import RuntimeSettings, TrackingSettings, load_params, section
from pipeline.runtime import setup
from pipeline.tracking import StageRun, logged_params
from stages._main import run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.eval_dicl", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--data", help="processed dataset folder (default: data/processed/<dataset>)"
    )
    parser.add_argument("--model-dir", default="models/dicl")
    parser.add_argument("--metrics", default="metrics/dicl.json")
    parser.add_argument("--plots-dir", default="plots/dicl/eval")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    settings, layout = load_settings(params)
    seed = int(params.get("seed", 0))
    # Evaluation runs in one process.
    runtime_settings = section(params, "runtime", RuntimeSettings).model_copy(
        update={"num_processes": 1}
    )
    runtime = setup(runtime_settings, seed)
    data = Path(args.data or Path("data/processed") / settings.dataset)
    logged = logged_params("person_search", settings, seed)
    tracking = section(params, "tracking", TrackingSettings)
    with StageRun(
        track="dicl",
        stage="eval_dicl",
        params=logged,
        settings=tracking,
        datasets=[settings.dataset],
        outputs=[args.metrics, args.plots_dir],
    ) as mlrun:
        metrics = evaluate_from_params(
            settings,
            layout,
            runtime=runtime,
            seed=seed,
            data_dir=data,
            path_root=Path.cwd(),
            model_dir=args.model_dir,
            metrics_path=args.metrics,
            plots_dir=args.plots_dir,
        )
        mlrun.log_metrics(metrics)
        mlrun.log_artifact(args.metrics)
        mlrun.log_artifact(args.plots_dir, "plots/eval")


if __name__ == "__main__":
    run(main, "eval_dicl")
