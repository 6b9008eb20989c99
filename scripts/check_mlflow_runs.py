"""Check that the MLflow store holds a finished run, with params and metrics, for every
train/eval stage of dvc.yaml whose current outputs it should describe.

CI runs it after the README's Quick start (``dvc repro`` then
``python -m pipeline.tracking_backfill``): every stage either ran and logged, or was
skipped by DVC and backfilled. A run counts for a stage when it is FINISHED, carries the
digest of the stage's outputs as they are now (``pipeline.outputs_digest``), and holds
params and at least one metric. One line per stage; exit 0 only if every stage has one::

    python scripts/check_mlflow_runs.py [--uri URI]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from pipeline.params import TrackingSettings, load_params, section  # noqa: E402
from pipeline.tracking import outputs_digest, tracking_uri  # noqa: E402
from pipeline.tracking_backfill import (  # noqa: E402
    BACKFILLED_TAG,
    finished_runs,
    tracked_stages,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", help="tracking URI (default: tracking.uri, the repo's store)")
    args = parser.parse_args(argv)
    from mlflow.tracking import MlflowClient

    params = load_params(REPO_ROOT / "params.yaml")
    uri = args.uri or tracking_uri(section(params, "tracking", TrackingSettings))
    client = MlflowClient(tracking_uri=uri)
    missing = []
    for stage in tracked_stages(REPO_ROOT):
        digest = outputs_digest(stage.paths, REPO_ROOT)
        runs = [] if digest is None else finished_runs(client, stage.track, digest)
        complete = [r for r in runs if r.data.params and r.data.metrics]
        if complete:
            run = complete[0]
            how = "backfilled" if run.data.tags.get(BACKFILLED_TAG) == "true" else "ran"
            print(
                f"{stage.name}: run {run.info.run_id} ({how}), {len(run.data.params)} params, "
                f"{len(run.data.metrics)} metrics"
            )
        else:
            missing.append(stage.name)
            print(f"{stage.name}: NO finished run with params and metrics for its outputs")
    if missing:
        print(f"FAILED: {len(missing)} stage(s) without a run: {', '.join(missing)}")
        return 1
    print("OK: every train/eval stage has a finished run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
