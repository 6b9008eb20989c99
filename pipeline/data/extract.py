"""Safe extraction of dataset archives (zip, tar, tar.gz/bz2/xz) and hand-placed folders.

A crafted archive must not write outside its target: members with absolute
paths, drive letters, ``..`` components, symbolic or hard links, device files
or FIFOs are refused with a message naming the archive and the member. The
format is recognised from the content, not the file name (DATASETS.md lists
archives such as ``MSMT17_V1`` with no extension). Extraction goes into a
temporary sibling that is renamed into place only when complete
(``pipeline.io.atomic_dir``): a truncated or unsafe archive leaves the previous
output untouched and no partial one.
"""

from __future__ import annotations

import lzma
import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO

from pipeline.data.errors import DataError
from pipeline.io import atomic_dir

_COPY_CHUNK = 1 << 20


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


def _write_member(archive: Path, name: str, src: IO[bytes] | None, dest: Path) -> None:
    """Write one member; a second member at the same place is an error, not an overwrite."""
    try:
        if src is None:
            dest.mkdir(parents=True, exist_ok=True)
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        with dest.open("xb") as out:
            shutil.copyfileobj(src, out, _COPY_CHUNK)
    except (FileExistsError, NotADirectoryError):
        raise DataError(f"{archive}: member {name!r} clashes with an earlier member") from None


def _is_decoding_error(exc: BaseException) -> bool:
    # Decompressors raise OSError without errno (bz2, gzip); a real I/O error has one.
    if isinstance(exc, OSError):
        return exc.errno is None
    return isinstance(
        exc, (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError)
    )


def _extract_zip(archive: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
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
                    _write_member(archive, info.filename, None, target / rel)
                    continue
                with zf.open(info) as src:
                    _write_member(archive, info.filename, src, target / rel)
    except Exception as exc:
        if not _is_decoding_error(exc):
            raise
        raise DataError(f"{archive}: corrupt or truncated zip archive: {exc}") from None


def _extract_tar(archive: Path, target: Path) -> None:
    try:
        # Streaming mode ("r|*") reads each member once, in order: no second pass.
        with tarfile.open(archive, mode="r|*") as tf:
            for member in tf:
                rel = safe_member_path(archive, member.name)
                if member.issym() or member.islnk():
                    raise DataError(f"{archive}: member {member.name!r} is a link")
                if not (member.isfile() or member.isdir()):
                    raise DataError(
                        f"{archive}: member {member.name!r} is a device, FIFO or other special file"
                    )
                if rel is None:
                    continue
                src = tf.extractfile(member) if member.isfile() else None
                _write_member(archive, member.name, src, target / rel)
    except Exception as exc:
        if not _is_decoding_error(exc):
            raise
        raise DataError(f"{archive}: corrupt or truncated tar archive: {exc}") from None


def _copy_folder(source: Path, target: Path) -> None:
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


def extract_archive(archive: str | Path, out_dir: str | Path) -> None:
    """Extract ``archive`` so that its members land under ``out_dir``, atomically.

    Args:
        archive: a zip or tar file (any compression tarfile reads), or an extracted folder
            (copied; it must hold no links).
        out_dir: replaced as a whole only when extraction succeeded.

    Raises:
        DataError: unsafe member, truncated/corrupt or unrecognised archive.
    """
    archive, out_dir = Path(archive), Path(out_dir)
    kind = archive_kind(archive)
    extract = {"zip": _extract_zip, "tar": _extract_tar, "folder": _copy_folder}[kind]
    with atomic_dir(out_dir) as tmp:
        extract(archive, tmp)
