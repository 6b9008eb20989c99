"""DVC stage ``eval_dclnet``: score the trained DCLNet models and two baselines.

SYSU-MM01 (all/indoor, single/multi-shot, 10 trials) or RegDB (both
directions, mean over splits), for the trained model, the untrained one
(``init_``) and a colour histogram (``hist_``). Writes ``metrics/dclnet.json``
(flat, sorted keys, 6 decimals) and ``plots/dclnet/eval/`` (CMC and
precision-recall data, ranked lists). Run from the repository root::

    python -m stages.eval_dclnet
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from pipeline.io import write_json
from pipeline.models.dclnet.evaluation import evaluate_dclnet
from pipeline.models.dclnet.settings import DclnetSettings, load_settings
from pipeline.params import RuntimeSettings, TrackingSettings, load_params, section, validate
from pipeline.runtime import setup
from pipeline.tracking import StageRun, logged_params
from stages._main import run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.eval_dclnet", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", help="processed dataset (default: data/processed/<dataset>)")
    parser.add_argument("--models", default="models/dclnet")
    parser.add_argument("--metrics", default="metrics/dclnet.json")
    parser.add_argument("--plots", default="plots/dclnet/eval")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    current, layout = load_settings(params)
    runtime = setup(section(params, "runtime", RuntimeSettings), int(params.get("seed", 0)))
    config_path = Path(args.models) / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{config_path}: not found (run train_dclnet first)") from None
    # The models are rebuilt with the settings they were trained with...
    settings = validate(DclnetSettings, config["settings"], prefix=f"{config_path}: settings")
    # ...but the evaluation options (trials, batch size, pictures) are today's.
    settings = settings.model_copy(update={"eval": current.eval})
    data = Path(args.data or Path("data/processed") / settings.dataset)
    with StageRun(
        track="dclnet",
        stage="eval_dclnet",
        params=logged_params("dclnet", settings, int(params.get("seed", 0))),
        settings=section(params, "tracking", TrackingSettings),
        datasets=[settings.dataset],
        outputs=[args.metrics, args.plots],
    ) as tracker:
        metrics = evaluate_dclnet(
            settings,
            config.get("layout", layout),
            config,
            data_dir=data,
            model_dir=Path(args.models),
            plots_dir=Path(args.plots),
            device=runtime.device,
        )
        write_json(args.metrics, metrics)
        tracker.log_metrics(metrics)
        tracker.log_artifact(args.metrics)
        tracker.log_artifact(Path(args.plots), "plots/eval")


if __name__ == "__main__":
    run(main, "eval_dclnet")
