"""Finding an original dataset layout inside an extracted folder, and naming its files.

Archives often add a top folder (``Market-1501-v15.09.15/``, ``SYSU-MM01/``), and
people extract by hand into one more; a converter is handed the extracted folder
and looks for the folder that holds its layout's marker entries. Every path a
converter writes is relative to the path root (the repository root in the
pipeline), POSIX style.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pipeline.data.errors import DataError

# How deep below the extracted folder a layout's top folder may sit.
SEARCH_DEPTH = 2


def locate_layout(raw_dir: Path, markers: Sequence[str], layout: str) -> Path | None:
    """The one folder at or below ``raw_dir`` (up to two levels) holding every ``markers`` entry.

    Args:
        raw_dir: the extracted (or rendered) dataset folder.
        markers: entries (files or folders) the layout's top folder holds.
        layout: used in messages.

    Returns:
        The folder, or None when no folder holds the markers.

    Raises:
        DataError: ``raw_dir`` is missing, or several folders hold the markers.
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise DataError(f"{raw_dir}: raw dataset folder not found")
    level = [raw_dir]
    for _ in range(SEARCH_DEPTH + 1):
        found = [d for d in level if all((d / m).exists() for m in markers)]
        if len(found) > 1:
            names = sorted(relative_posix(d, raw_dir) for d in found)
            raise DataError(f"{raw_dir}: several {layout} layouts found: {names}")
        if found:
            return found[0]
        level = sorted(c for d in level for c in d.iterdir() if c.is_dir())
    return None


def find_dataset_root(raw_dir: Path, markers: Sequence[str], layout: str) -> Path:
    """Like :func:`locate_layout`, but a missing layout is an error naming the markers."""
    top = locate_layout(raw_dir, markers, layout)
    if top is None:
        raise DataError(
            f"{raw_dir}: no {layout} layout found (looked for a folder holding {list(markers)})"
        )
    return top


def relative_posix(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, POSIX style; symlinks are not resolved.

    Raises:
        DataError: ``path`` lies outside ``root``.
    """
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        raise DataError(f"{path}: lies outside the path root {root}")
    return Path(rel).as_posix()


def list_files(folder: Path, suffixes: Sequence[str]) -> list[str]:
    """Names of the files in ``folder`` whose suffix (lower-cased) is one of ``suffixes``.

    Other entries (``Thumbs.db``, ``.DS_Store``, readme files) are ignored: archives
    of these datasets carry them. Sorted, so converters are deterministic.

    Raises:
        DataError: ``folder`` is missing.
    """
    try:
        entries = os.scandir(folder)
    except FileNotFoundError:
        raise DataError(f"{folder}: folder not found") from None
    with entries:
        names = [
            e.name
            for e in entries
            if e.is_file() and os.path.splitext(e.name)[1].lower() in suffixes
        ]
    return sorted(names)
