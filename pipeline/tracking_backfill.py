"""MLflow runs for the stages DVC skipped, logged from their outputs.

DVC skips a stage whose outputs are current: in a fresh clone ``dvc repro``
retrains (models are not in git) but does not re-evaluate (the metrics and plots
are committed, and the retrained models have the same bytes), so no eval stage
would ever log a run. After ``dvc repro`` this module gives every train/eval
stage of ``dvc.yaml`` that ``dvc status`` reports up to date a FINISHED run for
its outputs, unless one exists: a stage's run is tagged with the digest of what
it wrote (:func:`pipeline.tracking.outputs_digest`), and the same digest is
looked up here. A backfilled run holds what the stage's own run would: the
resolved settings and seed as params, the dataset digests, the training curves
(``history.csv`` in the stage's plots folder, one step per epoch) or the test
metrics (``metrics/<track>.json``), and the plots, metrics and model config as
artifacts; it is tagged ``pipeline.backfilled=true``. Timings and host tags
are not known afterwards and are left out. Run from the repository root::

    python -m pipeline.tracking_backfill
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import json
import math
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.params import TrackingSettings, flatten, load_params, section
from pipeline.tracking import (
    OUTPUTS_DIGEST_TAG,
    finite_metrics,
    logged_params,
    outputs_digest,
    redact,
    repo_root,
    stage_outputs,
    tracking_uri,
)

# Track (MLflow experiment, stage-name suffix) -> its params section.
TRACK_SECTIONS = {"dicl": "dicl", "scl": "scl", "dclnet": "dclnet"}
_TRACKED_STAGE = re.compile(r"^(?P<kind>train|eval)_(?P<track>\w+)$")
BACKFILLED_TAG = "pipeline.backfilled"


@dataclass
class TrackedStage:
    """One train/eval stage of dvc.yaml and the outputs it writes."""

    name: str
    kind: str  # "train" or "eval"
    track: str
    outs: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        return self.outs + self.metrics


def tracked_stages(root: Path) -> list[TrackedStage]:
    """The train_<track> / eval_<track> stages of ``root/dvc.yaml``, in file order."""
    found = []
    for name, kinds in stage_outputs(root).items():
        match = _TRACKED_STAGE.match(name)
        if match and match["track"] in TRACK_SECTIONS:
            found.append(
                TrackedStage(
                    name=name,
                    kind=match["kind"],
                    track=match["track"],
                    outs=kinds.get("outs", []),
                    metrics=kinds.get("metrics", []),
                )
            )
    return found


def stage_params(track: str, params: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``(params the stage logs, its dataset)``, as the track's stages resolve them."""
    settings_module = importlib.import_module(f"pipeline.models.{track}.settings")
    settings, _ = settings_module.load_settings(params)
    seed = int(params.get("seed", 0))
    return logged_params(TRACK_SECTIONS[track], settings, seed), settings.dataset


def history_steps(path: Path) -> list[tuple[int, dict[str, float]]]:
    """``(epoch, finite metrics)`` per row of a training ``history.csv``."""
    steps = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            epoch = int(float(row.pop("epoch")))
            values = {}
            for key, text in row.items():
                try:
                    value = float(text)
                except (TypeError, ValueError):
                    continue
                if math.isfinite(value):
                    values[key] = value
            steps.append((epoch, values))
    return steps


def finished_runs(client, track: str, digest: str) -> list:
    """The FINISHED runs in ``track``'s experiment whose stage wrote outputs of ``digest``."""
    experiment = client.get_experiment_by_name(track)
    if experiment is None:
        return []
    return client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{OUTPUTS_DIGEST_TAG}` = '{digest}' and attributes.status = 'FINISHED'",
    )


def _log_stage(run, stage: TrackedStage, root: Path) -> None:
    """What the stage's own run logs, read back from its outputs."""
    now_ms = int(time.time() * 1000)
    for path in stage.outs:
        folder = root / path
        if path.startswith("plots/"):
            history = folder / "history.csv"
            if stage.kind == "train" and history.is_file():
                for epoch, values in history_steps(history):
                    if values:
                        run.log_metrics(metrics=values, step=epoch, timestamp_ms=now_ms)
            run.log_artifact(path=str(folder), artifact_path=f"plots/{stage.kind}")
        elif path.startswith("models/") and (folder / "config.json").is_file():
            run.log_artifact(path=str(folder / "config.json"), artifact_path=None)
    for path in stage.metrics:
        metrics = finite_metrics(json.loads((root / path).read_text()))
        run.log_metrics(metrics=metrics, step=0, timestamp_ms=now_ms)
        run.log_artifact(path=str(root / path), artifact_path=None)


def backfill(
    root: Path, params_path: Path, stages: Sequence[str] | None = None, uri: str | None = None
) -> list[str]:
    """Log a run for each up-to-date tracked stage whose outputs have none; one line each.

    Raises:
        RuntimeError: the tracking store failed (the message says where and why).
    """
    from dvc.repo import Repo
    from mlflow.tracking import MlflowClient

    from pipeline.tracking_worker import MlflowRun, store_lock

    params = load_params(params_path)
    uri = uri or tracking_uri(section(params, "tracking", TrackingSettings))
    chosen = [s for s in tracked_stages(root) if stages is None or s.name in stages]
    unknown = sorted(set(stages or ()) - {s.name for s in chosen})
    if unknown:
        raise ValueError(f"not a train/eval stage of {root / 'dvc.yaml'}: {', '.join(unknown)}")
    # DVC resolves output paths against the working directory.
    with contextlib.chdir(root), Repo(str(root)) as repo:
        stale = {s.name for s in chosen if repo.status(targets=[s.name])}
    with store_lock(uri):
        client = MlflowClient(tracking_uri=uri)
    lines = []
    for stage in chosen:
        if stage.name in stale:
            lines.append(f"{stage.name}: skipped, its outputs are not current (run dvc repro)")
            continue
        digest = outputs_digest(stage.paths, root)
        if digest is None:
            lines.append(f"{stage.name}: skipped, an output is missing (run dvc repro)")
            continue
        existing = finished_runs(client, stage.track, digest)
        if existing:
            lines.append(f"{stage.name}: run {existing[0].info.run_id} holds these outputs")
            continue
        logged, dataset = stage_params(stage.track, params)
        run = MlflowRun()
        run.start(
            uri=uri,
            track=stage.track,
            stage=stage.name,
            params={k: str(v) for k, v in flatten(logged).items()},
            datasets=[dataset],
            tags={BACKFILLED_TAG: "true", OUTPUTS_DIGEST_TAG: digest},
        )
        _log_stage(run, stage, root)
        run.end(status="FINISHED")
        if run.failure:
            raise RuntimeError(run.failure)
        lines.append(f"{stage.name}: logged run {run.run_id} from its outputs (backfilled)")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.tracking_backfill",
        description="Log MLflow runs for the train/eval stages DVC skipped.",
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--stages", nargs="+", help="only these stages (default: all)")
    parser.add_argument("--uri", help="tracking URI (default: tracking.uri, the repo's store)")
    args = parser.parse_args(argv)
    root = repo_root()
    try:
        lines = backfill(root, root / args.params, args.stages, args.uri)
    except (RuntimeError, ValueError) as exc:
        print(f"tracking_backfill: {redact(str(exc))}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
