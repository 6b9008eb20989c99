"""Atomic, deterministic output writing.

Every DVC output is written beside its final path under a temporary name and
renamed into place only once complete, so a failed or killed stage leaves
either the previous good output or nothing (docs/design.md, "Reproducibility");
the hidden temporaries a killed writer leaves beside it are removed by the next
writer of the same path.
JSON is written with sorted keys and floats rounded, so reruns are byte-identical.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import math
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FLOAT_DIGITS = 6


# Leftovers of a writer of ``path`` that was killed: ``.<name>.<pid>.<random>.tmp``
# (the temporary) and ``.<name>.old-<pid>`` (the previous directory, renamed aside).
_LEFTOVER = re.compile(r"(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp|old-(?P<old_pid>\d+)")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_leftovers(path: str | Path) -> list[Path]:
    """Remove the temporaries that killed writers of ``path`` left beside it.

    A SIGKILL gives a writer no chance to clean up, so its temporary stays beside
    the final path (never at it). The next writer removes those whose process is
    gone; a live writer's temporaries are left alone. Returns what was removed.
    """
    path = Path(path)
    prefix = f".{path.name}."
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in path.parent.iterdir():
            if not entry.name.startswith(prefix):
                continue
            match = _LEFTOVER.fullmatch(entry.name[len(prefix) :])
            if match is None:
                continue
            pid = int(match["pid"] or match["old_pid"])
            if pid != os.getpid() and not _pid_alive(pid):
                _remove(entry)
                removed.append(entry)
    return removed


def _tmp_sibling(path: Path, is_dir: bool) -> Path:
    """A new, empty file or folder beside ``path``, with the mode the user's umask gives.

    Not ``tempfile.mkdtemp``/``mkstemp``: their 0700/0600 would stay on the output
    after the rename (folders unusable by a group on a shared server).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_leftovers(path)
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            if is_dir:
                tmp.mkdir(0o777)
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class OutputWriteError(OSError):
    """An output could not be written (disk full, read-only, ...); nothing was replaced.

    ``filename`` is the output's final path, ``strerror`` the system's reason.
    """

    def __str__(self) -> str:
        return (
            f"{self.filename}: cannot write this output ({self.strerror}); "
            "nothing was replaced, the previous output (if any) is unchanged"
        )


# Failures of writing itself, whatever file the writer was at.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


def _is_write_failure(exc: OSError, path: Path, tmp: Path | None) -> bool:
    """True for an error about writing the output, not one about reading an input."""
    if isinstance(exc, OutputWriteError):
        return False  # a nested output's error already names its path
    if tmp is None or exc.errno in _WRITE_ERRNOS:
        return True  # making the temporary failed, or the system refused a write
    if exc.filename is None:
        return False
    name = str(exc.filename)
    return any(name == p or name.startswith(p + os.sep) for p in (str(path), str(tmp)))


def _missing_parents(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


@contextlib.contextmanager
def atomic_path(path: str | Path, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    On any exception the temporary is removed, ``path`` is untouched and the
    parent folders this call created are removed again. A directory replaces the
    old one by rename-aside then rename-in, so the old one survives until the new
    one is complete (and is put back if the rename-in fails). A failure to write
    (disk full, read-only, quota, ...) is raised as :class:`OutputWriteError`
    naming ``path``.
    """
    path = Path(path)
    created = _missing_parents(path.parent)
    tmp: Path | None = None
    old: Path | None = None
    try:
        tmp = _tmp_sibling(path, is_dir)
        yield tmp
        if is_dir:
            if path.exists():
                old = path.with_name(f".{path.name}.old-{os.getpid()}")
                _remove(old)
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                aside, old = old, None
                _remove(aside)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as exc:
        if tmp is not None:
            _remove(tmp)
        if old is not None and not path.exists():
            os.replace(old, path)  # the new one never landed: put the previous one back
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(exc, OutputWriteError) and tmp is not None:
            # A nested output inside our temporary: name it by where it would have landed.
            with contextlib.suppress(ValueError):
                inner = Path(exc.filename).relative_to(tmp)
                raise OutputWriteError(exc.errno, exc.strerror, str(path / inner)) from exc
        if isinstance(exc, OSError) and _is_write_failure(exc, path, tmp):
            raise OutputWriteError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def atomic_dir(path: str | Path):
    """``with atomic_dir(out) as tmp:`` write the directory's content under ``tmp``."""
    return atomic_path(path, is_dir=True)


def round_floats(obj: Any, ndigits: int = FLOAT_DIGITS) -> Any:
    """Round every float (numpy scalars too) in a nested structure; NaN/inf become None."""
    if isinstance(obj, dict):
        return {str(k): round_floats(v, ndigits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [round_floats(v, ndigits) for v in obj]
    if isinstance(obj, np.ndarray):
        return round_floats(obj.tolist(), ndigits)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return round(value, ndigits) if math.isfinite(value) else None
    return obj


def dumps_json(obj: Any, ndigits: int = FLOAT_DIGITS) -> str:
    return json.dumps(round_floats(obj, ndigits), sort_keys=True, indent=2) + "\n"


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, obj: Any, ndigits: int = FLOAT_DIGITS) -> None:
    """Sorted keys, floats rounded to ``ndigits``, trailing newline, atomic."""
    write_text(path, dumps_json(obj, ndigits))


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """CSV with ``\\n`` line endings (deterministic across platforms), atomic."""
    with atomic_path(path) as tmp:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            for row in rows:
                writer.writerow(
                    [f"{v:.6g}" if isinstance(v, (float, np.floating)) else v for v in row]
                )
