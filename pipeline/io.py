"""Atomic, deterministic output writing.

Every DVC output is written beside its final path under a temporary name and
renamed into place only once complete, so a failed or killed stage leaves
either the previous good output or nothing (DESIGN.md, reproducibility rules).
JSON is written with sorted keys and floats rounded, so reruns are byte-identical.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FLOAT_DIGITS = 6


def _tmp_sibling(path: Path, is_dir: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


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


@contextlib.contextmanager
def atomic_path(path: str | Path, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    On any exception the temporary is removed and ``path`` is untouched. A
    directory replaces the old one by rename-aside then rename-in, so the old
    one survives until the new one is complete.
    """
    path = Path(path)
    tmp = _tmp_sibling(path, is_dir)
    try:
        yield tmp
        if is_dir:
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old-{os.getpid()}")
                _remove(old)
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                _remove(old)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        _remove(tmp)
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
