"""Extraction limits: a zip bomb, too many members or a header that lies stop at the member."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from pipeline.data.errors import DataError
from pipeline.data.extract import extract_archive
from pipeline.data.sources import ExtractLimits, parse_source
from pipeline.params import ParamsError
from tests.data.test_extract import PAYLOAD, make_tar, make_zip, siblings, tree

ZEROS = bytes(20 << 20)  # 20 MiB that deflate to about 20 kB


def _assert_untouched(out: Path) -> None:
    assert tree(out) == {"old.txt": b"previous good output"}
    assert siblings(out) == ["ds"]  # no temporary left beside it


def declare_size(path: Path, size: int) -> Path:
    """Rewrite the uncompressed size in the headers of a one-member zip (data unchanged)."""
    data = bytearray(path.read_bytes())
    # (signature, offset of the uncompressed size): local header, central directory entry.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = data.index(signature)
        struct.pack_into("<I", data, start + offset, size)
    path.write_bytes(bytes(data))
    return path


def test_defaults_are_above_the_largest_real_dataset():
    limits = ExtractLimits()
    assert limits.max_gib * 2**30 > 20e9  # CUHK-SYSU, PRW, MSMT17: a few GB each
    assert limits.max_members > 200_000  # MSMT17: 126,441 images
    assert limits.max_ratio >= 10  # JPEG archives: about 1


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_zip_bomb_is_refused_at_its_member(tmp_path, previous_output, kind):
    members = [("Top/a.txt", b"alpha"), ("Top/zeros.bin", ZEROS)]
    if kind == "zip":
        archive = make_zip(tmp_path / "bomb.zip", members)
    else:
        archive = make_tar(tmp_path / "bomb.tar.gz", members)
    with pytest.raises(DataError) as err:
        extract_archive(archive, previous_output, key="datasets.x.limits")
    message = str(err.value)
    assert f"{archive}: refused at member 'Top/zeros.bin'" in message
    assert "(a zip bomb?), over datasets.x.limits.max_ratio = 100" in message
    assert message.endswith("nothing was extracted (raise the limit if the archive is genuine)")
    _assert_untouched(previous_output)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_too_many_members_are_refused_at_the_first_over(tmp_path, previous_output, kind):
    members = [(f"Top/{i:02d}.txt", b"x") for i in range(12)]
    if kind == "zip":
        archive = make_zip(tmp_path / "many.zip", members)
    else:
        archive = make_tar(tmp_path / "many.tar.gz", members)
    with pytest.raises(
        DataError, match=r"member 'Top/10.txt': member number 11, over limits.max_members = 10;"
    ):
        extract_archive(archive, previous_output, ExtractLimits(max_members=10))
    _assert_untouched(previous_output)


def test_total_size_is_bounded(tmp_path, previous_output):
    members = [(f"Top/{i}.bin", PAYLOAD) for i in range(5)]  # 20,000 random bytes each
    archive = make_zip(tmp_path / "big.zip", members)
    limits = ExtractLimits(max_gib=50_000 / 2**30)
    with pytest.raises(
        DataError,
        match=r"member 'Top/2.bin': 60000 bytes extracted in all, over limits.max_gib = 4.6",
    ):
        extract_archive(archive, previous_output, limits)
    _assert_untouched(previous_output)


def test_a_header_declaring_less_than_the_member_holds_is_refused(tmp_path, previous_output):
    # The declared sizes pass every limit; only counting the bytes as written shows the lie.
    archive = declare_size(make_zip(tmp_path / "liar.zip", [("Top/zeros.bin", ZEROS)]), 1000)
    with pytest.raises(DataError) as err:
        extract_archive(archive, previous_output)
    assert f"{archive}: member 'Top/zeros.bin' holds more than the 1000 bytes" in str(err.value)
    _assert_untouched(previous_output)


def test_a_header_declaring_more_than_the_member_holds_is_refused(tmp_path, previous_output):
    archive = declare_size(
        make_zip(tmp_path / "liar.zip", [("Top/a.bin", PAYLOAD[:1024])]), 4_000_000_000
    )
    with pytest.raises(DataError, match="max_ratio"):  # 4 GB claimed from a 1 kB archive
        extract_archive(archive, previous_output)
    with pytest.raises(DataError) as err:
        extract_archive(archive, previous_output, ExtractLimits(max_ratio=1e9))
    assert "member 'Top/a.bin' holds 1024 bytes but its header declares 4000000000" in str(
        err.value
    )
    _assert_untouched(previous_output)


def test_limits_are_configurable_from_params(tmp_path):
    entry = {
        "source": "archive",
        "layout": "market1501",
        "url": None,
        "archive": "bomb.zip",
        "sha256": None,
        "access": "withdrawn",
        "limits": {"max_ratio": 5000, "max_members": 2},
    }
    source = parse_source(entry, prefix="datasets.x")
    archive = make_zip(tmp_path / "bomb.zip", [("Top/zeros.bin", ZEROS)])
    extract_archive(archive, tmp_path / "out", source.limits)
    assert (tmp_path / "out" / "Top" / "zeros.bin").stat().st_size == len(ZEROS)
    with pytest.raises(ParamsError, match=r"datasets.x.limits.max_gib: value True not allowed"):
        parse_source({**entry, "limits": {"max_gib": True}}, prefix="datasets.x")


def test_a_small_archive_of_text_is_no_bomb(tmp_path):
    text = b"0001_c1s1_000151_00.jpg 1\n" * 20_000  # 520 kB: deflates over 100 to 1
    archive = make_zip(tmp_path / "lists.zip", [("idx/train.txt", text)])
    assert archive.stat().st_size * 100 < len(text)
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / "idx" / "train.txt").read_bytes() == text


def test_zip_members_are_read_whole(tmp_path):
    archive = make_zip(tmp_path / "a.zip", [("Top/zeros.bin", bytes(3 << 20)), ("b", b"")])
    extract_archive(archive, tmp_path / "out", ExtractLimits(max_ratio=5000))
    with zipfile.ZipFile(archive) as zf:
        assert [i.file_size for i in zf.infolist()] == [3 << 20, 0]
    assert (tmp_path / "out" / "Top" / "zeros.bin").read_bytes() == bytes(3 << 20)


@pytest.mark.parametrize("make", [make_zip, make_tar])
def test_extraction_shows_progress_only_when_it_takes_a_while(tmp_path, monkeypatch, capsys, make):
    archive = make(tmp_path / f"Market.{make.__name__[5:]}", [("Market/a.jpg", PAYLOAD)])
    extract_archive(archive, tmp_path / "quick")
    assert capsys.readouterr().err == ""  # done before the bar's delay
    monkeypatch.setattr("pipeline.data.extract._PROGRESS_DELAY_S", 0.0)
    extract_archive(archive, tmp_path / "slow")
    assert f"extract {archive.name}" in capsys.readouterr().err
