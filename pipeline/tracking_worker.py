"""The MLflow side of a stage's run, in a process of its own.

:class:`pipeline.tracking.StageRun` starts ``python -m pipeline.tracking_worker``
and sends it one JSON message per line on stdin; this process makes the MLflow
calls. Importing ``mlflow`` and opening its SQLAlchemy store costs about 2.5 s
of CPU; here it runs on the second core while the stage imports torch and
works, instead of in front of it.

Messages (``op`` plus arguments): ``start`` (once, first), ``log_metrics``,
``set_tags``, ``log_artifact``, ``end``. A message with ``"reply": true`` is
answered on stdout with ``{"failure": <message or null>}``; at the end of stdin
the process answers once more with the run's first failure and exits. After
the first failure no more MLflow calls are made (tracking is a side effect).
A stage that dies without ``end`` leaves its run marked ``KILLED``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from pipeline.tracking import RESUME_KEY_TAG, dataset_digests, redact, repo_root, run_tags


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


MAX_PARAM_LENGTH = 6000  # MLflow's limit for one param value


class MlflowRun:
    """One MLflow run; every call is a no-op once one has failed (``failure`` says why)."""

    def __init__(self) -> None:
        self.uri = "<no tracking URI>"
        self.client = None
        self.run_id: str | None = None
        self.failure: str | None = None
        self.ended = False

    def _fail(self, action: str, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = (
                f"MLflow tracking at {redact(self.uri)} failed while trying to {action}: "
                f"{type(exc).__name__}: {redact(str(exc))[:300]}"
            )
        self.client = None

    def _call(self, action: str, method: str, *args, **kwargs) -> Any:
        if self.client is None:
            return None
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any store failure is a tracking failure
            self._fail(action, exc)
            return None

    def start(
        self,
        *,
        uri: str,
        track: str,
        stage: str,
        params: Mapping[str, str],
        datasets: list[str],
        resume_key: str | None = None,
        resume: bool = False,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Open the stage's run: a new one, or with ``resume`` the newest unfinished run
        tagged ``resume_key`` (a killed training that now resumes its checkpoint)."""
        self.uri = uri
        if uri.startswith(("http://", "https://")):
            # Fail fast instead of MLflow's default minutes of retries.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        try:
            from mlflow.tracking import MlflowClient

            with store_lock(uri):
                self.client = MlflowClient(tracking_uri=uri)
                experiment_id = self._experiment_id(track)
            previous = self._unfinished_run(experiment_id, resume_key) if resume else None
            if previous is not None:
                self.run_id = previous.info.run_id
                resumes = int(previous.data.tags.get("pipeline.resumes", "0")) + 1
                self.client.update_run(self.run_id, status="RUNNING")
                self.client.set_tag(self.run_id, "pipeline.resumes", str(resumes))
                return  # its params and datasets are the ones the key was made of
            run_tags_ = {**run_tags(stage), **(tags or {})}
            if resume_key:
                run_tags_[RESUME_KEY_TAG] = resume_key
            run = self.client.create_run(experiment_id, run_name=stage, tags=run_tags_)
            self.run_id = run.info.run_id
        except Exception as exc:  # noqa: BLE001
            self._fail("start a run", exc)
            return
        self._log_params(params)
        self._log_datasets(datasets)

    def _unfinished_run(self, experiment_id: str, key: str | None):
        """The newest run tagged ``key`` if it did not finish (killed, failed, or cut off)."""
        if not key:
            return None
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{RESUME_KEY_TAG}` = '{key}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if runs and runs[0].info.status != "FINISHED":
            return runs[0]
        return None

    def _experiment_id(self, track: str) -> str:
        """The track's experiment, created on first use."""
        experiment = self.client.get_experiment_by_name(track)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return self.client.create_experiment(
                track, artifact_location=default_artifact_location(self.uri, track)
            )
        except Exception:
            # A server shared with other writers: another stage may have created it meanwhile.
            experiment = self.client.get_experiment_by_name(track)
            if experiment is None:
                raise
            return experiment.experiment_id

    def _log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        batch = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in sorted(params.items())]
        for start in range(0, len(batch), 100):  # MLflow accepts 100 params per batch
            self._call("log params", "log_batch", self.run_id, params=batch[start : start + 100])

    def _log_datasets(self, datasets: list[str]) -> None:
        try:
            digests = dataset_digests(repo_root() / "dvc.lock", datasets)
        except RuntimeError:  # not inside a repository: nothing to link
            return
        if not digests or self.client is None:
            return
        from mlflow.entities import Dataset, DatasetInput

        inputs = [
            DatasetInput(
                Dataset(name=name, digest=md5, source_type="dvc", source=f"data/processed/{name}")
            )
            for name, md5 in sorted(digests.items())
        ]
        self._call("log dataset inputs", "log_inputs", self.run_id, datasets=inputs)
        self.set_tags(tags={f"dataset.{name}.md5": md5 for name, md5 in digests.items()})

    def set_tags(self, *, tags: Mapping[str, str]) -> None:
        for key, value in sorted(tags.items()):
            self._call("set a tag", "set_tag", self.run_id, key, str(value))

    def log_metrics(self, *, metrics: Mapping[str, float], step: int, timestamp_ms: int) -> None:
        if self.client is None:
            return
        from mlflow.entities import Metric

        batch = [Metric(k, float(v), timestamp_ms, step) for k, v in sorted(metrics.items())]
        self._call("log metrics", "log_batch", self.run_id, metrics=batch)

    def log_artifact(self, *, path: str, artifact_path: str | None) -> None:
        method = "log_artifacts" if Path(path).is_dir() else "log_artifact"
        self._call("log artifacts", method, self.run_id, path, artifact_path)

    def end(self, *, status: str) -> None:
        self.ended = True
        if self.run_id is not None:
            self._call("close the run", "set_terminated", self.run_id, status=status)


def serve(messages: TextIO, reply_fd: int) -> None:
    """Carry out ``messages`` (JSON lines) on one :class:`MlflowRun`; answers go to ``reply_fd``."""
    run = MlflowRun()

    def answer() -> None:
        try:
            os.write(reply_fd, (json.dumps({"failure": run.failure}) + "\n").encode())
        except BrokenPipeError:  # the stage has exited (an error before its run, or killed)
            pass

    for line in messages:
        message = json.loads(line)
        op, reply = message.pop("op"), message.pop("reply", False)
        getattr(run, op)(**message)
        if reply:
            answer()
    if run.run_id is not None and not run.ended:
        run.end(status="KILLED")  # the stage died before closing its run
    answer()


def main() -> None:
    # Replies travel on the original stdout; anything MLflow prints goes to stderr.
    reply_fd = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin, reply_fd)
    # The run is committed to the store and answered for; unloading mlflow and
    # SQLAlchemy would keep the stage waiting about 1 s more.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
