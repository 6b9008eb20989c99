"""The bytes a processed dataset was converted from, pinned in the processed folder.

A processed dataset (``data/processed/<dataset>/``) holds the index and the
annotations, with paths into ``data/raw/<dataset>/``; the images themselves stay
there. The training and evaluation stages depend on the processed folder only, so
without a pin a change to the images alone (same names, other pixels, e.g. another
render of the synthetic world) would leave every stage that reads them "up to date".
``raw.md5`` lists the md5 of every raw file, so any such change changes the
processed folder, and DVC reruns what reads it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MANIFEST_NAME = "raw.md5"
_BLOCK = 1 << 20


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def write_raw_manifest(raw: Path, dest: Path) -> int:
    """Write ``dest/raw.md5``: ``<md5>  <path relative to raw>`` per file, sorted by path.

    Returns:
        The number of files listed.

    Raises:
        ValueError: ``raw`` holds no file.
    """
    files = sorted((p for p in Path(raw).rglob("*") if p.is_file()), key=lambda p: p.as_posix())
    if not files:
        raise ValueError(f"{raw}: no files to convert")
    lines = [f"{file_md5(p)}  {p.relative_to(raw).as_posix()}\n" for p in files]
    (Path(dest) / MANIFEST_NAME).write_text("".join(lines), encoding="utf-8")
    return len(lines)
