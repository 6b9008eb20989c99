"""Getting a dataset's archive into ``data/archives/``: hand-placed or downloaded, verified.

Order of business for ``datasets.<name>`` with ``source: archive``:

1. an archive already at ``data/archives/<archive>`` (placed by hand, or downloaded
   before) is used as is, after its checksum is verified (sha256 when pinned, else
   md5 where public code lists one; an unpinned sha256 is printed so it can be pinned);
2. otherwise, datasets behind a form or withdrawn stop with a message naming the
   form (or the reason) and the path to put the archive at;
3. otherwise the URL is fetched with pooch, which checks the hash before the file
   takes its final name. pooch's own HTTP downloader restarts from zero after a
   failure (it writes a fresh temporary file, no ``Range`` request), so
   :class:`ResumableHTTPDownloader` streams into ``<archive>.part`` and resumes it
   with an HTTP ``Range`` request, on a retry within the run or in a later run.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import pooch
import requests
from tqdm import tqdm

from pipeline.data.errors import DataError
from pipeline.data.manifest import file_digests
from pipeline.data.sources import ArchiveSource

log = logging.getLogger(__name__)

# Bytes per network read: what a dropped connection loses of the last read.
_NET_CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class RetryableDownloadError(OSError):
    """A short read, a server error or a confusing range answer: worth another attempt."""


def verify_archive(path: Path, source: ArchiveSource, name: str) -> str:
    """Check ``path`` against the pinned sha256, else the known md5; return its sha256.

    Raises:
        DataError: the checksum differs (the file is corrupt, truncated or another version).
    """
    digests = file_digests(path)
    algo, expected = ("sha256", source.sha256) if source.sha256 else ("md5", source.md5)
    if expected is not None and digests[algo] != expected:
        raise DataError(
            f"{path}: {algo} checksum mismatch (expected {expected}, got {digests[algo]}): "
            "the archive is corrupt, truncated or another version; replace or delete it"
        )
    if source.sha256 is None:
        log.warning(
            "%s: sha256 %s is not pinned; set datasets.%s.sha256 in params.yaml to pin it",
            path,
            digests["sha256"],
            name,
        )
    return digests["sha256"]


def unavailable_message(source: ArchiveSource, name: str, path: Path) -> str:
    """Why ``name`` cannot be downloaded, and where to put the archive by hand."""
    if source.access == "withdrawn":
        why = "was withdrawn by its authors and cannot be downloaded"
        how = "If you hold a copy,"
    else:
        why = f"is distributed through a request form: {source.form}"
        how = "Once you have it,"
    return (
        f"dataset {name!r} ({source.layout}) {why}. {how} put the archive (or its extracted "
        f"folder) at {path} and rerun; its checksum is verified when "
        f"datasets.{name}.sha256 or .md5 is set."
    )


class ResumableHTTPDownloader:
    """A pooch downloader that resumes a partial download with HTTP Range requests.

    The bytes go to ``part_path`` (kept across failures and runs); when complete the
    file is moved to the temporary name pooch hands over, which pooch hash-checks and
    renames into place.

    Args:
        part_path: where the partial download lives (``data/archives/<archive>.part``).
        progressbar: show a tqdm bar on stderr.
        retries: further attempts after a dropped connection or short read, each resuming.
        timeout: seconds to wait for the server on connect and on each read.
        backoff: seconds before retry ``i`` is ``backoff * 2**i`` (capped at 30).
    """

    def __init__(
        self,
        part_path: Path,
        *,
        progressbar: bool = True,
        retries: int = 3,
        timeout: float = 60.0,
        backoff: float = 1.0,
    ) -> None:
        self.part_path = Path(part_path)
        self.progressbar = progressbar
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff

    def __call__(self, url: str, output_file: str, pooch_obj: Any = None) -> None:
        for attempt in range(self.retries + 1):
            try:
                self._attempt(url)
                break
            except (*_TRANSIENT, RetryableDownloadError) as exc:
                if attempt == self.retries:
                    raise DataError(
                        f"{url}: download failed after {attempt + 1} attempt(s) ({exc}); "
                        f"{self.part_path} is kept and the next run resumes it"
                    ) from None
                log.warning("%s: %s; resuming (attempt %d)", url, exc, attempt + 2)
                time.sleep(min(self.backoff * 2**attempt, 30.0))
        os.replace(self.part_path, output_file)

    def _attempt(self, url: str) -> None:
        have = self.part_path.stat().st_size if self.part_path.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as resp:
            if have and resp.status_code == 416:
                # Nothing left to send: complete if the server's length is what we have.
                match = re.fullmatch(r"bytes \*/(\d+)", resp.headers.get("Content-Range", ""))
                if match and int(match[1]) == have:
                    return
                self.part_path.unlink()
                raise RetryableDownloadError(
                    f"partial file does not fit the server's ({have} bytes)"
                )
            if resp.status_code >= 500:
                raise RetryableDownloadError(f"HTTP {resp.status_code} {resp.reason}")
            if resp.status_code >= 400:
                raise DataError(f"{url}: HTTP {resp.status_code} {resp.reason}")
            if "text/html" in resp.headers.get("Content-Type", ""):
                raise DataError(
                    f"{url}: the server sent an HTML page, not the archive (a sign-in or "
                    "confirmation page?); download it by hand"
                )
            start = self._resume_offset(resp, have)
            length = resp.headers.get("Content-Length")
            total = start + int(length) if length is not None else None
            mode = "ab" if start else "wb"
            with (
                self.part_path.open(mode) as fh,
                tqdm(
                    total=total,
                    initial=start,
                    unit="B",
                    unit_scale=True,
                    desc=self.part_path.name,
                    disable=not self.progressbar,
                ) as bar,
            ):
                for chunk in resp.iter_content(chunk_size=_NET_CHUNK):
                    fh.write(chunk)
                    bar.update(len(chunk))
        size = self.part_path.stat().st_size
        if total is not None and size != total:
            raise RetryableDownloadError(f"got {size} of {total} bytes")

    def _resume_offset(self, resp: requests.Response, have: int) -> int:
        """Where the response body starts: ``have`` for a matching 206, else 0 (full body)."""
        if resp.status_code != 206:
            return 0  # the server ignored Range: start over
        match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", ""))
        if match is None or int(match[1]) != have:
            raise RetryableDownloadError(
                f"server answered Range {have}- with {resp.headers.get('Content-Range')!r}"
            )
        return have


def fetch_archive(
    source: ArchiveSource,
    archives_dir: str | Path,
    name: str,
    *,
    progressbar: bool = True,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 1.0,
) -> Path:
    """Make ``archives_dir/<archive>`` present and verified; return its path.

    Args:
        source: the dataset's validated params entry.
        archives_dir: where archives live (``data/archives``).
        name: the dataset's name in params.yaml, for messages.
        progressbar, retries, timeout, backoff: see :class:`ResumableHTTPDownloader`.

    Raises:
        DataError: a checksum mismatch, a dataset behind a form or withdrawn with no
            archive in place, an HTTP error, or a download that kept failing.
    """
    path = Path(archives_dir) / source.archive
    if path.is_dir():
        if source.sha256 or source.md5:
            raise DataError(
                f"{path}: is a folder, which cannot be checksum-verified against "
                f"datasets.{name}; place the archive file instead, or unset its checksums"
            )
        log.warning("%s: using the extracted folder as is (no checksum possible)", path)
        return path
    if path.exists():
        verify_archive(path, source, name)
        return path
    if source.access != "public" or source.url is None:
        raise DataError(unavailable_message(source, name, path))
    if source.sha256:
        known_hash = f"sha256:{source.sha256}"
    else:
        known_hash = f"md5:{source.md5}" if source.md5 else None
    downloader = ResumableHTTPDownloader(
        path.with_name(path.name + ".part"),
        progressbar=progressbar,
        retries=retries,
        timeout=timeout,
        backoff=backoff,
    )
    try:
        pooch.retrieve(
            source.url, known_hash, fname=path.name, path=path.parent, downloader=downloader
        )
    except DataError:
        raise
    except ValueError as exc:  # pooch's hash mismatch: the bad file is already deleted
        raise DataError(f"{path}: downloaded from {source.url}: {exc}") from None
    if source.sha256 is None:
        verify_archive(path, source, name)  # prints the sha256 to pin
    return path
