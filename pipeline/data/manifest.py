"""File digests, and the bytes a processed dataset was converted from, pinned in it.

``file_digests`` hashes a file in one pass (archive checks in the download stage
use it too).

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
_CHUNK = 1 << 20


def file_digests(path: Path, algorithms: tuple[str, ...] = ("sha256", "md5")) -> dict[str, str]:
    """Hex digests of a file, every algorithm in one pass."""
    hashes = {name: hashlib.new(name) for name in algorithms}
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            for h in hashes.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashes.items()}


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
    lines = [
        f"{file_digests(p, ('md5',))['md5']}  {p.relative_to(raw).as_posix()}\n" for p in files
    ]
    (Path(dest) / MANIFEST_NAME).write_text("".join(lines), encoding="utf-8")
    return len(lines)
