"""Safe extraction: good archives land whole; crafted or damaged ones change nothing."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pipeline.data.errors import DataError
from pipeline.data.extract import archive_kind, extract_archive, safe_member_path

PAYLOAD = np.random.default_rng(0).bytes(20_000)  # incompressible: truncation hits file data


def make_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode="w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


GOOD = [("Top/", b""), ("Top/a.txt", b"alpha"), ("Top/sub/b.bin", PAYLOAD)]


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "tar"])
def test_good_archive_extracts_whole(tmp_path, kind):
    if kind == "zip":
        archive = make_zip(tmp_path / "a.zip", GOOD)
    else:
        mode = "w:gz" if kind == "tar.gz" else "w"
        archive = make_tar(tmp_path / "a", [m for m in GOOD if not m[0].endswith("/")], mode)
    out = tmp_path / "raw" / "ds"
    extract_archive(archive, out)
    assert tree(out) == {"Top/a.txt": b"alpha", "Top/sub/b.bin": PAYLOAD}
    assert siblings(out) == ["ds"]  # no temporary left beside it


def test_kind_comes_from_content_not_name(tmp_path):
    assert archive_kind(make_zip(tmp_path / "MSMT17_V1", GOOD)) == "zip"
    assert archive_kind(make_tar(tmp_path / "data.zip", [("x", b"1")])) == "tar"
    (tmp_path / "folder").mkdir()
    assert archive_kind(tmp_path / "folder") == "folder"


def _symlink_zipinfo() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("Top/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _device_zipinfo() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("Top/dev")
    info.external_attr = (stat.S_IFCHR | 0o600) << 16
    return info


def _tar_special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


BAD_ZIPS = {
    "absolute": ([("/etc/evil.txt", b"x")], "absolute path"),
    "dotdot": ([("Top/../../evil.txt", b"x")], r"points outside the target \('\.\.'\)"),
    "drive": ([("C:/evil.txt", b"x")], "absolute path"),
    "backslash": ([("..\\evil.txt", b"x")], "backslash"),
    "symlink": ([(_symlink_zipinfo(), b"/etc/passwd")], "symbolic link"),
    "device": ([(_device_zipinfo(), b"")], "not a regular file"),
    "clash": ([("Top/a", b"1"), ("Top/a/b", b"2")], "clashes with an earlier member"),
}

BAD_TARS = {
    "absolute": ([("/tmp/evil.txt", b"x")], "absolute path"),
    "dotdot": ([("ok.txt", b"1"), ("../evil.txt", b"x")], r"\('\.\.'\)"),
    "symlink": ([_tar_special("Top/link", tarfile.SYMTYPE, "/etc/passwd")], "is a link"),
    "hardlink": ([_tar_special("Top/hard", tarfile.LNKTYPE, "/etc/passwd")], "is a link"),
    "device": ([_tar_special("Top/dev", tarfile.CHRTYPE)], "device, FIFO"),
    "fifo": ([_tar_special("Top/fifo", tarfile.FIFOTYPE)], "device, FIFO"),
}


def _assert_untouched(out: Path, tmp_path: Path) -> None:
    assert tree(out) == {"old.txt": b"previous good output"}
    assert siblings(out) == ["ds"]
    assert not list(tmp_path.rglob("evil.txt"))


@pytest.mark.parametrize("case", sorted(BAD_ZIPS))
def test_crafted_zip_is_refused_and_changes_nothing(tmp_path, previous_output, case):
    members, message = BAD_ZIPS[case]
    archive = make_zip(tmp_path / "bad.zip", members)
    with pytest.raises(DataError, match=message) as err:
        extract_archive(archive, previous_output)
    assert str(archive) in str(err.value)
    _assert_untouched(previous_output, tmp_path)


@pytest.mark.parametrize("case", sorted(BAD_TARS))
def test_crafted_tar_is_refused_and_changes_nothing(tmp_path, previous_output, case):
    members, message = BAD_TARS[case]
    archive = make_tar(tmp_path / "bad.tar.gz", members)
    with pytest.raises(DataError, match=message) as err:
        extract_archive(archive, previous_output)
    assert str(archive) in str(err.value)
    _assert_untouched(previous_output, tmp_path)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_truncated_archive_is_refused_and_changes_nothing(tmp_path, previous_output, kind):
    if kind == "zip":
        good = make_zip(tmp_path / "good", GOOD)
    else:
        good = make_tar(tmp_path / "good", [("Top/a.txt", b"alpha"), ("Top/b.bin", PAYLOAD)])
    data = good.read_bytes()
    archive = tmp_path / f"cut.{kind}"
    archive.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DataError, match="truncated") as err:
        extract_archive(archive, previous_output)
    assert str(archive) in str(err.value)
    _assert_untouched(previous_output, tmp_path)


def test_corrupt_zip_member_is_refused(tmp_path, previous_output):
    good = make_zip(tmp_path / "good.zip", [("Top/b.bin", PAYLOAD)])
    data = bytearray(good.read_bytes())
    data[200] ^= 0xFF  # inside the compressed data: CRC or inflate error
    archive = tmp_path / "corrupt.zip"
    archive.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt or truncated zip"):
        extract_archive(archive, previous_output)
    _assert_untouched(previous_output, tmp_path)


def test_not_an_archive_and_missing_archive(tmp_path, previous_output):
    (tmp_path / "notes.zip").write_text("not an archive")
    with pytest.raises(DataError, match="not a zip or tar archive"):
        extract_archive(tmp_path / "notes.zip", previous_output)
    with pytest.raises(DataError, match="archive not found"):
        extract_archive(tmp_path / "absent.zip", previous_output)
    _assert_untouched(previous_output, tmp_path)


def test_folder_is_copied_and_links_refused(tmp_path, previous_output):
    folder = tmp_path / "RegDB"
    (folder / "idx").mkdir(parents=True)
    (folder / "idx" / "train_visible_1.txt").write_text("x 0\n")
    extract_archive(folder, tmp_path / "copy")
    assert tree(tmp_path / "copy") == {"idx/train_visible_1.txt": b"x 0\n"}
    os.symlink("/etc/passwd", folder / "idx" / "link")
    with pytest.raises(DataError, match="symbolic link"):
        extract_archive(folder, previous_output)
    _assert_untouched(previous_output, tmp_path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a/b.txt", "a/b.txt"), ("./a//b.txt", "a/b.txt"), ("./", None), ("a/./b/", "a/b")],
)
def test_safe_member_path_normalises(name, expected):
    rel = safe_member_path(Path("x.zip"), name)
    assert (None if rel is None else rel.as_posix()) == expected
