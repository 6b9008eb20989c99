"""MLflow tracking for DVC stages (docs/design.md, "MLflow").

One experiment per track, one run per stage execution, tagged with the DVC
stage, the DVC experiment, the git commit and the dataset digests from dvc.lock.
Tracking is a side effect: when the store cannot be reached the stage warns once
and carries on with identical outputs, unless ``tracking.required`` is true, in
which case it fails before any work starts.

The MLflow calls themselves run in a child process (:mod:`pipeline.tracking_worker`),
so a stage never imports ``mlflow`` and never waits for the store except when
tracking is required (every call is then confirmed) and at the end of its run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.params import TrackingSettings, flatten, load_yaml

log = logging.getLogger(__name__)

# `dvc exp run --temp/--queue` runs each experiment in a copy of the repo here.
_DVC_TEMP_EXPS = re.compile(r"^(?P<root>.*?)/\.dvc/tmp/exps/")
_URI_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")

# Tags that tie runs to a stage's outputs (backfill) and a killed run to its resumption.
OUTPUTS_DIGEST_TAG = "pipeline.outputs_digest"
RESUME_KEY_TAG = "pipeline.resume_key"

# How long a stage waits at its end for the tracking process to finish its calls.
WORKER_EXIT_TIMEOUT_S = 300


class TrackingUnavailable(RuntimeError):
    """The tracking store cannot be reached and ``tracking.required`` is true."""


def redact(uri: str) -> str:
    """Hide ``user:password@`` in a URI before it is printed or logged."""
    return _URI_CREDENTIALS.sub(r"\g<scheme>***@", uri)


def _git(*args: str, cwd: Path | None = None, strip: bool = True) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if strip else out.stdout


def experiment_copy_root(path: str | Path) -> Path | None:
    """The main repository's root when ``path`` lies in a copy that ``dvc exp run
    --temp/--queue`` made (``<root>/.dvc/tmp/exps/...``), else None."""
    match = _DVC_TEMP_EXPS.match(Path(path).as_posix() + "/")
    return Path(match.group("root")) if match else None


def repo_root() -> Path:
    """The main repository root: ``DVC_ROOT`` or git's top level, never the cwd.

    Experiments run by ``dvc exp run --temp/--queue`` live in
    ``<root>/.dvc/tmp/exps/<name>``; they must share the main repo's store.
    """
    root = os.environ.get("DVC_ROOT") or _git("rev-parse", "--show-toplevel")
    if not root:
        raise RuntimeError("cannot find the repository root: set DVC_ROOT or run inside git")
    root = Path(root).resolve()
    return experiment_copy_root(root) or root


def tracking_uri(settings: TrackingSettings | None = None) -> str:
    """``tracking.uri`` param, else ``$MLFLOW_TRACKING_URI``, else the repo's sqlite store."""
    if settings is not None and settings.uri:
        return settings.uri
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{repo_root() / 'mlflow.db'}"


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


_VARIABLE = re.compile(r"\$\{\s*([A-Za-z_][\w.-]*)\s*\}")


def dvc_vars(dvc: Mapping[str, Any]) -> dict[str, Any]:
    """The variables a ``dvc.yaml`` defines itself: its top-level ``vars`` mappings, merged.

    Entries that name a file (``params.yaml`` is loaded by DVC without one) are left out.
    """
    found: dict[str, Any] = {}
    for entry in dvc.get("vars") or []:
        if isinstance(entry, Mapping):
            found.update(entry)
    return found


def resolve_vars(text: str, variables: Mapping[str, Any]) -> str | None:
    """``text`` with each ``${name}`` / ``${a.b}`` replaced from ``variables`` (dotted names
    look into nested mappings); None when one is not there (``${item}`` of a foreach)."""
    missing = object()

    def lookup(match: re.Match) -> str:
        value: Any = variables
        for part in match.group(1).split("."):
            value = value.get(part, missing) if isinstance(value, Mapping) else missing
        if value is missing or isinstance(value, Mapping | list):
            raise KeyError(match.group(1))
        return str(value)

    try:
        return _VARIABLE.sub(lookup, text)
    except KeyError:
        return None


def stage_outputs(root: Path) -> dict[str, dict[str, list[str]]]:
    """Each ``dvc.yaml`` stage's outputs by kind: ``{stage: {"outs": [...], "metrics": [...]}}``.

    ``${name}`` is resolved from ``dvc.yaml``'s own ``vars``; outputs templated on anything
    else (``data/raw/${item}``, a params value) are left out: they are not in git.
    """
    dvc_yaml = root / "dvc.yaml"
    dvc = (load_yaml(dvc_yaml) or {}) if dvc_yaml.is_file() else {}
    variables = dvc_vars(dvc)
    found: dict[str, dict[str, list[str]]] = {}
    for name, stage in (dvc.get("stages") or {}).items():
        body = stage.get("do", stage) if isinstance(stage, dict) else {}
        kinds = found.setdefault(name, {})
        for kind in ("outs", "metrics", "plots"):
            for entry in body.get(kind) or []:
                path = entry if isinstance(entry, str) else next(iter(entry), "")
                path = resolve_vars(str(path), variables) if path else None
                if path:
                    kinds.setdefault(kind, []).append(path.rstrip("/"))
    return found


def pipeline_outputs(root: Path) -> set[str]:
    """Paths DVC writes: every stage output named in ``dvc.yaml``, and ``dvc.lock``."""
    paths = {"dvc.lock"}
    for kinds in stage_outputs(root).values():
        for kind_paths in kinds.values():
            paths.update(kind_paths)
    return paths


def outputs_digest(paths: Iterable[str | Path], root: Path | None = None) -> str | None:
    """sha256 over the files of ``paths`` (files or folders): each file's path and bytes.

    A stage's run is tagged with the digest of what it wrote, so the backfill
    (:mod:`pipeline.tracking_backfill`) recognises outputs that already have a run.
    Paths count relative to ``root`` (default: the working directory, the repository
    root under DVC). None when a path is missing.
    """
    root = Path.cwd() if root is None else Path(root)
    files: list[tuple[str, Path]] = []
    for path in paths:
        path = Path(path) if Path(path).is_absolute() else root / path
        if path.is_file():
            members = [path]
        elif path.is_dir():
            members = [p for p in path.rglob("*") if p.is_file()]
        else:
            return None
        for member in members:
            try:
                name = member.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:  # outside the root: the absolute path is its name
                name = member.resolve().as_posix()
            files.append((name, member))
    digest = hashlib.sha256()
    for name, member in sorted(files):
        digest.update(f"{name}\0{member.stat().st_size}\0".encode())
        with open(member, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def resume_key(track: str, stage: str, params: Mapping[str, Any], datasets: Iterable[str]) -> str:
    """What a killed run and its resumption share: the stage, its params, its datasets."""
    text = json.dumps(
        [track, stage, {k: str(v) for k, v in flatten(dict(params)).items()}, sorted(datasets)],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def finite_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of ``metrics``, nested dicts flattened with dots: what MLflow logs."""
    return {
        key: float(value)
        for key, value in flatten(dict(metrics)).items()
        if isinstance(value, (int, float)) and math.isfinite(float(value))
    }


def logged_params(section: str, settings: Any, seed: int) -> dict[str, Any]:
    """The params a track's stage runs carry: its resolved settings and the seed."""
    return {section: settings.model_dump(mode="json"), "seed": seed}


def changed_sources(porcelain: str, outputs: set[str]) -> list[str]:
    """Paths of ``git status --porcelain -z`` output that are not pipeline outputs.

    A DVC stage rewrites its outputs (and dvc.lock) as it runs, so those never make a
    run "dirty"; a changed source file, params.yaml or dvc.yaml does.
    """
    entries = porcelain.split("\0")
    changed, k = [], 0
    while k < len(entries):
        entry = entries[k]
        k += 1
        if len(entry) < 4:
            continue
        path = entry[3:]
        if entry[0] in "RC":  # a rename or copy: the original path follows
            k += 1
        if not any(path == out or path.startswith(out + "/") for out in outputs):
            changed.append(path)
    return changed


def run_tags(stage: str) -> dict[str, str]:
    try:
        root = repo_root()
    except RuntimeError:
        root = None
    commit = _git("rev-parse", "HEAD", cwd=root) or "unknown"
    # Not stripped: porcelain lines start with a status column that may be a space.
    status = _git("status", "--porcelain", "-z", "--untracked-files=no", cwd=root, strip=False)
    try:
        outputs = pipeline_outputs(root) if root is not None else None
    except ValueError:  # an unreadable dvc.yaml: DVC itself will say so
        outputs = None
    if status is None or outputs is None:
        dirty = "unknown"
    else:
        dirty = str(bool(changed_sources(status, outputs))).lower()
    tags = {
        "dvc.stage": stage,
        "git.commit": commit,
        # Whether sources differ from the commit; the pipeline's own outputs don't count.
        "git.dirty": dirty,
    }
    for env, tag in (
        ("DVC_EXP_NAME", "dvc.exp_name"),
        ("DVC_EXP_BASELINE_REV", "dvc.exp_baseline_rev"),
    ):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    return tags


def host_tags() -> dict[str, str]:
    """What a stage computed on. Float results depend on the kind of CPU (torch's kernels
    follow its instruction set and vendor: the same code and seed trained to other bytes
    on an AVX2 AMD machine), so each run says which; torch is read only if loaded."""
    tags = {"host.machine": platform.machine(), "host.cpu_count": str(os.cpu_count())}
    torch = sys.modules.get("torch")
    if torch is not None:
        tags["host.torch"] = torch.__version__
        tags["host.cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        tags["host.threads"] = str(torch.get_num_threads())
        if torch.cuda.is_available():
            tags["host.cuda_device"] = torch.cuda.get_device_name(torch.cuda.current_device())
    return tags


class _Worker:
    """A ``python -m pipeline.tracking_worker`` child and its two pipes."""

    def __init__(self) -> None:
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.tracking_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def send(self, op: str, reply: bool = False, **arguments: Any) -> str | None:
        """Send one message; with ``reply``, wait and return the run's failure (None: fine)."""
        self.process.stdin.write(json.dumps({"op": op, "reply": reply, **arguments}) + "\n")
        self.process.stdin.flush()
        return self._answer() if reply else None

    def _answer(self) -> str | None:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the tracking process exited with code {self.process.wait()}")
        return json.loads(line)["failure"]

    def finish(self) -> str | None:
        """Close its input, wait for it to carry out what was sent; the run's failure."""
        try:
            self.process.stdin.close()
            answer = self._answer()
            self.process.wait(timeout=WORKER_EXIT_TIMEOUT_S)
            return answer
        except subprocess.TimeoutExpired:
            self.kill()
            return f"the tracking process did not finish within {WORKER_EXIT_TIMEOUT_S} s"
        finally:
            self.process.stdout.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


_prestarted: _Worker | None = None


def prestart_worker() -> None:
    """Start the next StageRun's tracking process now (its imports take about 2.5 s).

    ``stages/__init__.py`` calls this before a stage module imports torch, so the
    two import in parallel on two cores.
    """
    global _prestarted
    if _prestarted is None:
        _prestarted = _Worker()


def _take_worker() -> _Worker:
    global _prestarted
    worker, _prestarted = _prestarted, None
    if worker is None or worker.process.poll() is not None:
        worker = _Worker()
    return worker


class StageRun:
    """One MLflow run for one execution of a DVC stage; a no-op once tracking fails.

    Usage::

        with StageRun(track="scl", stage="train_scl", params=params, settings=tracking,
                      datasets=["synthetic_market1501"], outputs=["models/scl"]) as run:
            run.log_metrics({"loss": 0.3}, step=epoch)
            run.log_artifact("plots/scl/loss.png")

    ``outputs`` (the stage's output paths) are digested when the run ends well and the
    digest tagged (``pipeline.outputs_digest``), for the backfill. With ``resume`` (the
    stage resumes a checkpoint) the newest unfinished run of the same stage, params
    and datasets is reopened, so a killed and resumed training keeps one run and
    whole curves; each reopening counts in the tag ``pipeline.resumes``. With ``enabled``
    false (the other ranks of a DDP run: one run per stage) it logs nothing and starts no
    tracking process.
    """

    def __init__(
        self,
        *,
        track: str,
        stage: str,
        params: Mapping[str, Any],
        settings: TrackingSettings,
        datasets: Iterable[str] = (),
        outputs: Iterable[str | Path] = (),
        resume: bool = False,
        enabled: bool = True,
    ) -> None:
        self.track = track
        self.stage = stage
        self.params = dict(params)
        self.settings = settings
        self.datasets = list(datasets)
        self.outputs = list(outputs)
        self.resume = resume
        self.enabled = enabled
        self._no_store: RuntimeError | None = None
        try:
            self.uri = tracking_uri(settings)
        except RuntimeError as exc:  # outside any repository and no URI given
            self.uri, self._no_store = "<no tracking URI>", exc
        self._worker: _Worker | None = None

    # -- failure policy -------------------------------------------------
    def _failure(self, message: str) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None
        if self.settings.required:
            raise TrackingUnavailable(message + " (tracking.required is true)") from None
        warnings.warn(
            message + ". The stage continues without tracking; its outputs are unaffected.",
            stacklevel=3,
        )

    def _send(self, op: str, **arguments: Any) -> None:
        """One message to the tracking process; confirmed when tracking is required."""
        if self._worker is None:
            return
        required = self.settings.required
        try:
            failure = self._worker.send(op, reply=required, **arguments)
        except (OSError, RuntimeError, ValueError) as exc:  # the process is gone
            failure = f"MLflow tracking at {redact(self.uri)} failed: {exc}"
        if failure:
            self._failure(failure)

    # -- lifecycle ------------------------------------------------------
    def __enter__(self) -> StageRun:
        if not self.enabled:
            return self
        if self._no_store is not None:
            exc = self._no_store
            self._failure(
                f"MLflow tracking at {self.uri} failed while trying to find the tracking store: "
                f"{type(exc).__name__}: {exc}"
            )
            return self
        self._worker = _take_worker()
        params = {k: str(v) for k, v in flatten(self.params).items()}
        self._send(
            "start",
            uri=self.uri,
            track=self.track,
            stage=self.stage,
            params=params,
            datasets=self.datasets,
            resume_key=resume_key(self.track, self.stage, self.params, self.datasets),
            resume=self.resume,
        )
        self._send("set_tags", tags=host_tags())
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._worker is None:
            return
        if exc_type is None and self.outputs:
            digest = outputs_digest(self.outputs)
            if digest is not None:
                self._send("set_tags", tags={OUTPUTS_DIGEST_TAG: digest})
        self._send("end", status="FINISHED" if exc_type is None else "FAILED")
        worker, self._worker = self._worker, None
        if worker is None:  # the end itself failed
            return
        failure = worker.finish()
        if failure and exc_type is None:  # else the stage's own error is the one to report
            self._failure(failure)

    # -- logging --------------------------------------------------------
    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._send("set_tags", tags={k: str(v) for k, v in tags.items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log finite numeric metrics (nested dicts flattened with dots)."""
        flat = finite_metrics(metrics)
        if flat:
            now_ms = int(time.time() * 1000)  # MLflow's own bookkeeping, never a DVC output
            self._send("log_metrics", metrics=flat, step=step or 0, timestamp_ms=now_ms)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.exists():
            self._send("log_artifact", path=str(path.resolve()), artifact_path=artifact_path)
