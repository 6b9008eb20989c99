"""Pretrained weights files: fetched once, verified, cached. One home for every track.

A source is a local path or an ``http(s)://`` URL. A URL is downloaded once with
pooch into a cache folder (``~/.cache/pipeline/weights`` unless the caller names
another) under the URL's file name; pooch checks the digest before the file takes
its final name and re-downloads a cached copy that no longer matches. A local file
is checked in place. Digests: a full ``sha256`` (64 hex digits), a ``sha256``
prefix of at least 8 digits (what torchvision's file names carry), or an ``md5``.
A URL pinned by neither is checked against the prefix its file name carries, as
``torch.hub`` does (``resnet50-19c8e357.pth``: sha256 starts ``19c8e357``), where
the name carries one of at least 8 hex digits.

Every failure is a :class:`WeightsError` (a ``ValueError``, so a stage reports it
on one line with exit code 2) whose message starts with the setting that named the
source; a missing local file is also a ``FileNotFoundError``.

The tracks keep only their own tables: which file a name stands for
(``pipeline/models/dclnet/backbone.py``: torchvision's ImageNet URLs;
``pipeline/models/dicl/weights.py``: detectron2's model zoo) and how its tensor
names map onto their networks.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

DEFAULT_CACHE = Path.home() / ".cache" / "pipeline" / "weights"
_HEX = re.compile(r"[0-9a-f]+")
# torch.hub's file-name convention (its HASH_REGEX), at least 8 digits so that a name
# such as detectron2's R-50.pkl is not read as a digest.
_NAME_DIGEST = re.compile(r"-([0-9a-f]{8,64})\.")


def name_sha256_prefix(name: str) -> str | None:
    """The sha256 prefix a weights file name carries (``resnet50-0676ba61.pth``), or None."""
    match = _NAME_DIGEST.search(name)
    return match.group(1) if match else None


class WeightsError(ValueError):
    """A weights file that cannot be had or does not match its pinned digest."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """A local weights file that does not exist."""


def _check_digests(sha256: str | None, md5: str | None, setting: str) -> None:
    if sha256 is not None and (not _HEX.fullmatch(sha256) or not 8 <= len(sha256) <= 64):
        raise WeightsError(f"{setting}: sha256 {sha256!r} is not 8 to 64 lowercase hex digits")
    if md5 is not None and (not _HEX.fullmatch(md5) or len(md5) != 32):
        raise WeightsError(f"{setting}: md5 {md5!r} is not 32 lowercase hex digits")


def file_digest(path: str | Path, algorithm: str) -> str:
    """The hex digest of ``path`` (``sha256`` or ``md5``), read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_weights(
    path: str | Path, *, sha256: str | None = None, md5: str | None = None, setting: str
) -> None:
    """Check ``path`` against the digests given (none given: nothing to check).

    Raises:
        WeightsError: a digest differs; the message names the file and both digests.
    """
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected is None:
            continue
        got = file_digest(path, algorithm)
        if not got.startswith(expected):
            raise WeightsError(
                f"{setting}: {path}: {algorithm} {got} does not match the pinned {expected} "
                "(a corrupt or other file: replace or delete it)"
            )


def fetch_weights(
    source: str | Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    cache_dir: str | Path | None = None,
    setting: str = "pretrained weights",
    progressbar: bool = True,
) -> Path:
    """A verified local file for ``source`` (a path, or a URL fetched into the cache).

    Args:
        source: a local path or an ``http(s)://`` URL.
        sha256: the pinned sha256, or a prefix of it (at least 8 hex digits); for a URL
            pinned by neither digest, the prefix its file name carries, if any.
        md5: the pinned md5 (where only that is published).
        cache_dir: where downloads are kept (default :data:`DEFAULT_CACHE`).
        setting: the params key that named ``source``, at the head of every error.
        progressbar: show pooch's download bar on stderr.

    Raises:
        WeightsNotFoundError: a local path that does not exist.
        WeightsError: a digest mismatch, or a download that failed.
    """
    _check_digests(sha256, md5, setting)
    text = str(source)
    if not text.startswith(("http://", "https://")):
        path = Path(text)
        if not path.is_file():
            raise WeightsNotFoundError(f"{setting}: weights file {path} not found")
        verify_weights(path, sha256=sha256, md5=md5, setting=setting)
        return path

    import pooch
    import requests

    cache = Path(DEFAULT_CACHE if cache_dir is None else cache_dir)
    name = text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "weights"
    if sha256 is None and md5 is None:
        sha256 = name_sha256_prefix(name)
    # pooch checks full digests itself (before the file takes its name); a prefix is
    # checked here once the file is in place.
    if sha256 is not None and len(sha256) == 64:
        known_hash = f"sha256:{sha256}"
    elif md5 is not None:
        known_hash = f"md5:{md5}"
    else:
        known_hash = None
    try:
        path = Path(
            pooch.retrieve(
                text, known_hash=known_hash, fname=name, path=cache, progressbar=progressbar
            )
        )
    except ValueError as exc:  # pooch's digest mismatch; the bad download is deleted
        raise WeightsError(
            f"{setting}: {text}: the download does not match the pinned digest ({exc})"
        ) from None
    except (requests.RequestException, OSError) as exc:
        raise WeightsError(f"{setting}: cannot download {text} ({exc})") from None
    try:
        verify_weights(path, sha256=sha256, md5=md5, setting=setting)
    except WeightsError:
        path.unlink(missing_ok=True)  # never leave a file that failed its check in the cache
        raise
    return path
