"""Getting an archive: hand-placed and verified, or downloaded (with resume) from a loopback server."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pytest

from pipeline.data.download import fetch_archive, file_digests
from pipeline.data.errors import DataError
from pipeline.data.sources import ArchiveSource

PAYLOAD = np.random.default_rng(1).bytes(300_000)
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def source(**overrides) -> ArchiveSource:
    entry = {
        "source": "archive",
        "layout": "market1501",
        "url": "http://127.0.0.1:9/never-used.zip",
        "archive": "fake.zip",
        "sha256": None,
        "access": "public",
        **overrides,
    }
    return ArchiveSource.model_validate(entry)


FAST = {"progressbar": False, "backoff": 0.0, "timeout": 5.0}


def test_file_digests_match_hashlib(tmp_path):
    (tmp_path / "f").write_bytes(PAYLOAD)
    assert file_digests(tmp_path / "f") == {"sha256": SHA256, "md5": MD5}


def test_hand_placed_archive_is_verified_with_md5_and_sha256_printed(tmp_path, caplog):
    (tmp_path / "fake.zip").write_bytes(PAYLOAD)
    caplog.set_level(logging.WARNING)
    path = fetch_archive(source(md5=MD5, url=None, access="withdrawn"), tmp_path, "fake", **FAST)
    assert path == tmp_path / "fake.zip"
    assert SHA256 in caplog.text and "datasets.fake.sha256" in caplog.text


@pytest.mark.parametrize("pin", ["sha256", "md5"])
def test_hand_placed_archive_with_wrong_checksum_is_refused_and_kept(tmp_path, pin):
    (tmp_path / "fake.zip").write_bytes(PAYLOAD[:-1])
    entry = source(**{pin: SHA256 if pin == "sha256" else MD5})
    with pytest.raises(DataError, match=f"{pin} checksum mismatch") as err:
        fetch_archive(entry, tmp_path, "fake", **FAST)
    assert str(tmp_path / "fake.zip") in str(err.value)
    assert (tmp_path / "fake.zip").read_bytes() == PAYLOAD[:-1]  # never deleted


def test_sha256_takes_precedence_over_md5(tmp_path, caplog, http_server):
    """With both pinned only the sha256 decides: a wrong md5 beside it is ignored (hand-placed
    or downloaded), and a right md5 does not rescue a wrong sha256."""
    (tmp_path / "fake.zip").write_bytes(PAYLOAD)
    caplog.set_level(logging.WARNING)
    path = fetch_archive(source(sha256=SHA256, md5="0" * 32), tmp_path, "fake", **FAST)
    assert path == tmp_path / "fake.zip" and path.read_bytes() == PAYLOAD
    assert "not pinned" not in caplog.text
    with pytest.raises(DataError, match=f"sha256 checksum mismatch \\(expected {'0' * 64}"):
        fetch_archive(source(sha256="0" * 64, md5=MD5), tmp_path, "fake", **FAST)
    http_server.payload = PAYLOAD
    entry = source(url=http_server.url, archive="downloaded.zip", sha256=SHA256, md5="0" * 32)
    assert fetch_archive(entry, tmp_path, "fake", **FAST).read_bytes() == PAYLOAD


def test_form_and_withdrawn_datasets_say_where_to_put_the_archive(tmp_path):
    form = source(url=None, access="form", form="RegDB copyright form (http://dm.example/form)")
    with pytest.raises(DataError) as err:
        fetch_archive(form, tmp_path / "archives", "regdb", **FAST)
    text = str(err.value)
    assert "RegDB copyright form (http://dm.example/form)" in text
    assert str(tmp_path / "archives" / "fake.zip") in text
    with pytest.raises(DataError, match="withdrawn by its authors") as err:
        fetch_archive(source(url=None, access="withdrawn"), tmp_path, "duke", **FAST)
    assert str(tmp_path / "fake.zip") in str(err.value)


def test_hand_placed_folder_is_used_only_without_checksums(tmp_path):
    (tmp_path / "fake.zip").mkdir()
    assert fetch_archive(source(), tmp_path, "fake", **FAST) == tmp_path / "fake.zip"
    with pytest.raises(DataError, match="cannot be checksum-verified"):
        fetch_archive(source(md5=MD5), tmp_path, "fake", **FAST)


def test_download_verifies_sha256_and_places_the_archive(tmp_path, http_server):
    http_server.payload = PAYLOAD
    path = fetch_archive(source(url=http_server.url, sha256=SHA256), tmp_path, "fake", **FAST)
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.zip"]
    assert "Range" not in http_server.requests[0]


def test_download_with_wrong_checksum_leaves_nothing(tmp_path, http_server):
    http_server.payload = PAYLOAD
    entry = source(url=http_server.url, md5="0" * 32)
    with pytest.raises(DataError, match="fake.zip") as err:
        fetch_archive(entry, tmp_path, "fake", **FAST)
    assert "MD5" in str(err.value) or "md5" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_resumes_with_a_range_request(tmp_path, http_server):
    """First run: the server drops the connection half-way; second run resumes from there."""
    http_server.payload = PAYLOAD
    http_server.mode = "half"
    entry = source(url=http_server.url, sha256=SHA256)
    with pytest.raises(DataError, match="kept and the next run resumes"):
        fetch_archive(entry, tmp_path, "fake", retries=0, **FAST)
    # What arrived before the drop is kept, up to the last whole network read.
    kept = (tmp_path / "fake.zip.part").read_bytes()
    assert 0 < len(kept) <= len(PAYLOAD) // 2
    assert kept == PAYLOAD[: len(kept)]
    assert not (tmp_path / "fake.zip").exists()

    http_server.mode = "range"
    path = fetch_archive(entry, tmp_path, "fake", retries=0, **FAST)
    assert path.read_bytes() == PAYLOAD
    assert http_server.requests[-1]["Range"] == f"bytes={len(kept)}-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.zip"]


def test_retries_within_one_run_resume(tmp_path, http_server):
    """A dropped connection is retried at once; the retry sends Range and completes."""
    http_server.payload = PAYLOAD
    http_server.mode = "half_once"
    path = fetch_archive(source(url=http_server.url, sha256=SHA256), tmp_path, "f", **FAST)
    assert path.read_bytes() == PAYLOAD
    ranges = [h.get("Range") for h in http_server.requests]
    assert ranges[0] is None and len(ranges) == 2
    resumed_at = int(ranges[1].removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= len(PAYLOAD) // 2


def test_server_ignoring_range_restarts_from_zero(tmp_path, http_server):
    http_server.payload = PAYLOAD
    (tmp_path / "fake.zip.part").write_bytes(b"stale bytes of another file")
    path = fetch_archive(source(url=http_server.url, sha256=SHA256), tmp_path, "fake", **FAST)
    assert path.read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_without_refetching(tmp_path, http_server):
    http_server.payload = PAYLOAD
    http_server.mode = "range"
    (tmp_path / "fake.zip.part").write_bytes(PAYLOAD)
    path = fetch_archive(source(url=http_server.url, sha256=SHA256), tmp_path, "fake", **FAST)
    assert path.read_bytes() == PAYLOAD


def test_html_page_and_http_errors_are_clear(tmp_path, http_server):
    http_server.payload = b"<html>Google Drive can't scan this file for viruses</html>"
    http_server.content_type = "text/html; charset=utf-8"
    with pytest.raises(DataError, match="HTML page, not the archive"):
        fetch_archive(source(url=http_server.url), tmp_path, "fake", **FAST)
    http_server.mode, http_server.status = "status", 404
    with pytest.raises(DataError, match="HTTP 404"):
        fetch_archive(source(url=http_server.url), tmp_path, "fake", **FAST)
    assert not (tmp_path / "fake.zip").exists()


def test_unpinned_download_prints_its_sha256(tmp_path, http_server, caplog):
    http_server.payload = PAYLOAD
    caplog.set_level(logging.WARNING)
    fetch_archive(source(url=http_server.url), tmp_path, "fake", **FAST)
    assert SHA256 in caplog.text
