"""Safe extraction of dataset archives (zip, tar, tar.gz/bz2/xz) and hand-placed folders.

A crafted archive must not write outside its target: members with absolute
paths, drive letters, ``..`` components, symbolic or hard links, device files
or FIFOs are refused with a message naming the archive and the member. So is
the member at which extraction would pass a limit (``ExtractLimits``: total size,
member count, bytes per archive byte; a zip's declared sizes are checked before
anything is written), and a member holding more or fewer bytes than its header
declares (real bytes are counted as they are written). The format is recognised
from the content, not the file name (docs/datasets.md, "Sources", lists archives
such as ``MSMT17_V1`` with no extension). Extraction goes into a
temporary sibling that is renamed into place only when complete
(``pipeline.io.atomic_dir``): a truncated or unsafe archive leaves the previous
output untouched and no partial one.
"""

from __future__ import annotations

import copy
import lzma
import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO

from tqdm import tqdm

from pipeline.data.errors import DataError
from pipeline.data.sources import ExtractLimits
from pipeline.io import atomic_dir

_COPY_CHUNK = 1 << 20
# The ratio limit allows at least this many bytes: a small archive of text is no bomb.
_RATIO_SLACK = 1 << 20
# Seconds before the extraction bar appears: small archives (the tests') stay silent.
_PROGRESS_DELAY_S = 2.0


def safe_member_path(archive: Path, name: str) -> PurePosixPath | None:
    """The relative path a member may be written to, or None for the archive root.

    Raises:
        DataError: absolute path, drive letter, backslash or ``..`` in ``name``.
    """
    if "\x00" in name or "\\" in name:
        raise DataError(f"{archive}: member {name!r} has a NUL or backslash in its name")
    if name.startswith("/") or (len(name) >= 2 and name[1] == ":"):
        raise DataError(f"{archive}: member {name!r} has an absolute path")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise DataError(f"{archive}: member {name!r} points outside the target ('..')")
    return PurePosixPath(*parts) if parts else None


class _Budget:
    """What an extraction has written, against its limits; refuses at the member passing one."""

    def __init__(self, archive: Path, limits: ExtractLimits, key: str) -> None:
        self.archive, self.limits, self.key = archive, limits, key
        self.max_bytes = limits.max_gib * 2**30
        self.max_ratio_bytes = max(limits.max_ratio * archive.stat().st_size, _RATIO_SLACK)
        self.members = 0
        self.written = 0
        self.declared = 0
        self.bar: tqdm | None = None

    def show_progress(self, total: int | None) -> None:
        """A bar of bytes written (stderr); ``total`` None when the archive does not say."""
        self.bar = tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=f"extract {self.archive.name}",
            delay=_PROGRESS_DELAY_S,
            leave=False,
            dynamic_ncols=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def _refuse(self, name: str, what: str, field: str) -> DataError:
        return DataError(
            f"{self.archive}: refused at member {name!r}: {what}, over {self.key}.{field} = "
            f"{getattr(self.limits, field):g}; nothing was extracted (raise the limit if the "
            "archive is genuine)"
        )

    def admit(self, name: str, declared: int) -> None:
        """Count one member and check its declared size, before any of it is written."""
        self.members += 1
        self.declared += declared
        if self.members > self.limits.max_members:
            raise self._refuse(name, f"member number {self.members}", "max_members")
        total = self.written + declared
        if total > self.max_bytes:
            raise self._refuse(name, f"{total} bytes extracted in all", "max_gib")
        if total > self.max_ratio_bytes:
            raise self._refuse(
                name,
                f"{total} bytes extracted from a {self.archive.stat().st_size}-byte archive "
                "(a zip bomb?)",
                "max_ratio",
            )

    def copy(self, name: str, src: IO[bytes], out: IO[bytes], declared: int) -> None:
        """Copy an admitted member, counting its real bytes: a header that lies is refused.

        ``src`` must yield more than ``declared`` bytes when the member holds more (for a
        zip, open it with a ZipInfo whose ``file_size`` is larger).
        """
        size = 0
        while chunk := src.read(_COPY_CHUNK):
            size += len(chunk)
            if size > declared:
                raise DataError(
                    f"{self.archive}: member {name!r} holds more than the {declared} bytes its "
                    "header declares; nothing was extracted"
                )
            out.write(chunk)
            if self.bar is not None:
                self.bar.update(len(chunk))
        if size != declared:
            raise DataError(
                f"{self.archive}: member {name!r} holds {size} bytes but its header declares "
                f"{declared}; nothing was extracted"
            )
        self.written += size


def _write_member(
    archive: Path, name: str, src: IO[bytes] | None, dest: Path, budget: _Budget, declared: int
) -> None:
    """Write one member; a second member at the same place is an error, not an overwrite."""
    try:
        if src is None:
            dest.mkdir(parents=True, exist_ok=True)
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        with dest.open("xb") as out:
            budget.copy(name, src, out, declared)
    except (FileExistsError, NotADirectoryError):
        raise DataError(f"{archive}: member {name!r} clashes with an earlier member") from None


def _is_decoding_error(exc: BaseException) -> bool:
    # Decompressors raise OSError without errno (bz2, gzip); a real I/O error has one.
    if isinstance(exc, OSError):
        return exc.errno is None
    return isinstance(
        exc, (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError)
    )


def _extract_zip(archive: Path, target: Path, limits: ExtractLimits, key: str) -> None:
    budget = None
    try:
        with zipfile.ZipFile(archive) as zf:
            # The central directory declares every size: a bomb is refused before any write.
            declared = _Budget(archive, limits, key)
            for info in zf.infolist():
                declared.admit(info.filename, info.file_size)
            budget = _Budget(archive, limits, key)
            budget.show_progress(declared.declared)
            for info in zf.infolist():
                budget.admit(info.filename, info.file_size)
                rel = safe_member_path(archive, info.filename)
                # Unix file type in the high 16 bits; 0 when the archiver wrote none.
                file_type = stat.S_IFMT(info.external_attr >> 16)
                if file_type == stat.S_IFLNK:
                    raise DataError(f"{archive}: member {info.filename!r} is a symbolic link")
                if file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise DataError(f"{archive}: member {info.filename!r} is not a regular file")
                if rel is None:
                    continue
                if info.is_dir():
                    _write_member(archive, info.filename, None, target / rel, budget, 0)
                    continue
                # zipfile stops (and checks the CRC) at the declared size: let it read on, so
                # that a header declaring less than the member holds shows (copy() refuses
                # within a chunk of the declared size, before this cap).
                probe = copy.copy(info)
                probe.file_size += 2 * _COPY_CHUNK
                with zf.open(probe) as src:
                    _write_member(archive, info.filename, src, target / rel, budget, info.file_size)
    except Exception as exc:
        if not _is_decoding_error(exc):
            raise
        raise DataError(f"{archive}: corrupt or truncated zip archive: {exc}") from None
    finally:
        if budget is not None:
            budget.close()


def _extract_tar(archive: Path, target: Path, limits: ExtractLimits, key: str) -> None:
    budget = _Budget(archive, limits, key)
    budget.show_progress(None)  # a tar stream declares each member only as it comes
    try:
        # Streaming mode ("r|*") reads each member once, in order: no second pass, so
        # each member's declared size is checked when its header is read.
        with tarfile.open(archive, mode="r|*") as tf:
            for member in tf:
                rel = safe_member_path(archive, member.name)
                budget.admit(member.name, member.size if member.isfile() else 0)
                if member.issym() or member.islnk():
                    raise DataError(f"{archive}: member {member.name!r} is a link")
                if not (member.isfile() or member.isdir()):
                    raise DataError(
                        f"{archive}: member {member.name!r} is a device, FIFO or other special file"
                    )
                if rel is None:
                    continue
                src = tf.extractfile(member) if member.isfile() else None
                _write_member(archive, member.name, src, target / rel, budget, member.size)
    except Exception as exc:
        if not _is_decoding_error(exc):
            raise
        raise DataError(f"{archive}: corrupt or truncated tar archive: {exc}") from None
    finally:
        budget.close()


def _copy_folder(source: Path, target: Path, limits: ExtractLimits, key: str) -> None:
    # A folder placed by hand is copied as it is: no decompression, nothing to bound.
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_symlink():
            raise DataError(f"{source}: {rel.as_posix()} is a symbolic link")
        if path.is_dir():
            (target / rel).mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / rel)
        else:
            raise DataError(f"{source}: {rel.as_posix()} is not a regular file")


def archive_kind(archive: Path) -> str:
    """``"zip"``, ``"tar"`` or ``"folder"``, from the content.

    Raises:
        DataError: missing, or neither a zip, a tar (any compression) nor a folder.
    """
    if archive.is_dir():
        return "folder"
    if not archive.is_file():
        raise DataError(f"{archive}: archive not found")
    if zipfile.is_zipfile(archive):
        return "zip"
    try:
        if tarfile.is_tarfile(archive):
            return "tar"
    except (tarfile.TarError, EOFError, OSError):
        pass
    raise DataError(f"{archive}: not a zip or tar archive (truncated, or the wrong file?)")


def extract_archive(
    archive: str | Path,
    out_dir: str | Path,
    limits: ExtractLimits | None = None,
    key: str = "limits",
) -> None:
    """Extract ``archive`` so that its members land under ``out_dir``, atomically.

    Args:
        archive: a zip or tar file (any compression tarfile reads), or an extracted folder
            (copied; it must hold no links).
        out_dir: replaced as a whole only when extraction succeeded.
        limits: bounds on what an archive may write (default: ``ExtractLimits()``).
        key: where ``limits`` come from in params.yaml, named in a refusal.

    Raises:
        DataError: unsafe member, a limit passed, a size its header misstates,
            truncated/corrupt or unrecognised archive.
    """
    archive, out_dir = Path(archive), Path(out_dir)
    kind = archive_kind(archive)
    extract = {"zip": _extract_zip, "tar": _extract_tar, "folder": _copy_folder}[kind]
    with atomic_dir(out_dir) as tmp:
        extract(archive, tmp, limits or ExtractLimits(), key)
