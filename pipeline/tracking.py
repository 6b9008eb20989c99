"""MLflow tracking for DVC stages (DESIGN.md, "MLflow").

One experiment per track, one run per stage execution, tagged with the DVC
stage, the DVC experiment, the git commit and the dataset digests from dvc.lock.
Tracking is a side effect: when the store cannot be reached the stage warns once
and carries on with identical outputs, unless ``tracking.required`` is true, in
which case it fails before any work starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import subprocess
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pipeline.params import TrackingSettings, flatten, load_yaml

log = logging.getLogger(__name__)

# `dvc exp run --temp/--queue` runs each experiment in a copy of the repo here.
_DVC_TEMP_EXPS = re.compile(r"^(?P<root>.*?)/\.dvc/tmp/exps/")
_URI_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")

MAX_PARAM_LENGTH = 6000  # MLflow's limit for one param value


class TrackingUnavailable(RuntimeError):
    """The tracking store cannot be reached and ``tracking.required`` is true."""


def redact(uri: str) -> str:
    """Hide ``user:password@`` in a URI before it is printed or logged."""
    return _URI_CREDENTIALS.sub(r"\g<scheme>***@", uri)


def _git(*args: str, cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def repo_root() -> Path:
    """The main repository root: ``DVC_ROOT`` or git's top level, never the cwd.

    Experiments run by ``dvc exp run --temp/--queue`` live in
    ``<root>/.dvc/tmp/exps/<name>``; they must share the main repo's store.
    """
    root = os.environ.get("DVC_ROOT") or _git("rev-parse", "--show-toplevel")
    if not root:
        raise RuntimeError("cannot find the repository root: set DVC_ROOT or run inside git")
    match = _DVC_TEMP_EXPS.match(Path(root).resolve().as_posix() + "/")
    return Path(match.group("root")) if match else Path(root).resolve()


def tracking_uri(settings: TrackingSettings | None = None) -> str:
    """``tracking.uri`` param, else ``$MLFLOW_TRACKING_URI``, else the repo's sqlite store."""
    if settings is not None and settings.uri:
        return settings.uri
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{repo_root() / 'mlflow.db'}"


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive lock on a local sqlite store while it is opened.

    The first process to open a new store creates its tables (MLflow's schema
    migrations), and the first stage of a track creates the track's experiment.
    ``dvc exp run --queue`` workers (``dvc queue start -j N``) start stages at once:
    unserialised, two of them migrate the same file or create the same experiment
    and one loses its run. Other stores (servers) need no lock.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    database = Path(uri[len("sqlite:///") :])
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def default_artifact_location(uri: str, track: str) -> str | None:
    """Absolute artifact root for the local sqlite store (MLflow's default is cwd-relative)."""
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        return (db.parent / "mlartifacts" / track).as_uri()
    return None


def dataset_digests(lock_path: Path, datasets: Iterable[str]) -> dict[str, str]:
    """md5 of ``data/processed/<dataset>`` as recorded in dvc.lock (missing -> absent)."""
    if not lock_path.is_file():
        return {}
    lock = load_yaml(lock_path) or {}
    stages = lock.get("stages", {}) if isinstance(lock, dict) else {}
    digests = {}
    for name in datasets:
        for out in stages.get(f"convert@{name}", {}).get("outs", []):
            if out.get("path") == f"data/processed/{name}" and out.get("md5"):
                digests[name] = out["md5"]
    return digests


def run_tags(stage: str) -> dict[str, str]:
    try:
        root = repo_root()
    except RuntimeError:
        root = None
    commit = _git("rev-parse", "HEAD", cwd=root) or "unknown"
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=root)
    tags = {
        "dvc.stage": stage,
        "git.commit": commit,
        "git.dirty": "unknown" if status is None else str(bool(status)).lower(),
    }
    for env, tag in (
        ("DVC_EXP_NAME", "dvc.exp_name"),
        ("DVC_EXP_BASELINE_REV", "dvc.exp_baseline_rev"),
    ):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    return tags


class StageRun:
    """One MLflow run for one execution of a DVC stage; a no-op once tracking fails.

    Usage::

        with StageRun(track="scl", stage="train_scl", params=params, settings=tracking,
                      datasets=["synthetic_market1501"]) as run:
            run.log_metrics({"loss": 0.3}, step=epoch)
            run.log_artifact("plots/scl/loss.png")
    """

    def __init__(
        self,
        *,
        track: str,
        stage: str,
        params: Mapping[str, Any],
        settings: TrackingSettings,
        datasets: Iterable[str] = (),
    ) -> None:
        self.track = track
        self.stage = stage
        self.params = dict(params)
        self.settings = settings
        self.datasets = list(datasets)
        self._no_store: RuntimeError | None = None
        try:
            self.uri = tracking_uri(settings)
        except RuntimeError as exc:  # outside any repository and no URI given
            self.uri, self._no_store = "<no tracking URI>", exc
        self.client = None
        self.run_id: str | None = None
        self._warned = False

    # -- failure policy -------------------------------------------------
    def _fail(self, action: str, exc: BaseException) -> None:
        message = (
            f"MLflow tracking at {redact(self.uri)} failed while trying to {action}: "
            f"{type(exc).__name__}: {redact(str(exc))[:300]}"
        )
        if self.settings.required:
            raise TrackingUnavailable(message + " (tracking.required is true)") from None
        if not self._warned:
            warnings.warn(
                message + ". The stage continues without tracking; its outputs are unaffected.",
                stacklevel=3,
            )
            self._warned = True
        self.client = None

    def _call(self, action: str, method: str, *args, **kwargs) -> Any:
        """``self.client.<method>(*args)``, or nothing once tracking has failed."""
        if self.client is None:
            return None
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any store failure is a tracking failure
            self._fail(action, exc)
            return None

    # -- lifecycle ------------------------------------------------------
    def __enter__(self) -> StageRun:
        if self._no_store is not None:
            self._fail("find the tracking store", self._no_store)
            return self
        if self.uri.startswith(("http://", "https://")):
            # Fail fast instead of MLflow's default minutes of retries.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        try:
            from mlflow.tracking import MlflowClient

            with store_lock(self.uri):
                self.client = MlflowClient(tracking_uri=self.uri)
                experiment_id = self._experiment_id()
            run = self.client.create_run(
                experiment_id, run_name=self.stage, tags=run_tags(self.stage)
            )
            self.run_id = run.info.run_id
        except TrackingUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001
            self._fail("start a run", exc)
            return self
        self._log_params()
        self._log_datasets()
        return self

    def _experiment_id(self) -> str:
        """The track's experiment, created on first use."""
        experiment = self.client.get_experiment_by_name(self.track)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return self.client.create_experiment(
                self.track, artifact_location=default_artifact_location(self.uri, self.track)
            )
        except Exception:
            # A server shared with other writers: another stage may have created it meanwhile.
            experiment = self.client.get_experiment_by_name(self.track)
            if experiment is None:
                raise
            return experiment.experiment_id

    def __exit__(self, exc_type, exc, tb) -> None:
        status = "FINISHED" if exc_type is None else "FAILED"
        if self.client is not None and self.run_id is not None:
            try:
                self.client.set_terminated(self.run_id, status=status)
            except Exception as err:  # noqa: BLE001
                if exc_type is None:
                    self._fail("close the run", err)

    # -- logging --------------------------------------------------------
    def _log_params(self) -> None:
        from mlflow.entities import Param

        flat = flatten(self.params)
        params = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in sorted(flat.items())]
        for start in range(0, len(params), 100):  # MLflow accepts 100 params per batch
            self._call("log params", "log_batch", self.run_id, params=params[start : start + 100])

    def _log_datasets(self) -> None:
        try:
            digests = dataset_digests(repo_root() / "dvc.lock", self.datasets)
        except RuntimeError:  # not inside a repository: nothing to link
            return
        if not digests:
            return
        from mlflow.entities import Dataset, DatasetInput

        inputs = [
            DatasetInput(
                Dataset(name=name, digest=md5, source_type="dvc", source=f"data/processed/{name}")
            )
            for name, md5 in sorted(digests.items())
        ]
        self._call("log dataset inputs", "log_inputs", self.run_id, datasets=inputs)
        self.set_tags({f"dataset.{name}.md5": md5 for name, md5 in digests.items()})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        for key, value in sorted(tags.items()):
            self._call("set a tag", "set_tag", self.run_id, key, str(value))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log finite numeric metrics (nested dicts flattened with dots)."""
        import math
        import time

        from mlflow.entities import Metric

        now_ms = int(time.time() * 1000)  # MLflow's own bookkeeping, never a DVC output
        flat = {k: v for k, v in flatten(dict(metrics)).items() if isinstance(v, (int, float))}
        batch = [
            Metric(key, float(value), now_ms, step or 0)
            for key, value in sorted(flat.items())
            if math.isfinite(float(value))
        ]
        if batch:
            self._call("log metrics", "log_batch", self.run_id, metrics=batch)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if not path.exists():
            return
        if path.is_dir():
            self._call("log artifacts", "log_artifacts", self.run_id, str(path), artifact_path)
        else:
            self._call("log an artifact", "log_artifact", self.run_id, str(path), artifact_path)
