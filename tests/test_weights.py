"""Pretrained weights (pipeline/weights.py): verified local files, cached downloads, one error."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from pipeline.weights import (
    WeightsError,
    WeightsNotFoundError,
    fetch_weights,
    name_sha256_prefix,
)

PAYLOAD = bytes(range(256)) * 512
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SETTING = "track.model.pretrained"


@pytest.fixture()
def served(tmp_path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over a folder holding ``w.pth``; yields (its URL, the folder)."""
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "w.pth").write_bytes(PAYLOAD)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/w.pth", folder
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_local_file_is_verified_in_place(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(PAYLOAD)
    assert fetch_weights(path, sha256=SHA256, setting=SETTING) == path
    assert fetch_weights(str(path), md5=MD5, setting=SETTING) == path
    assert fetch_weights(path, sha256=SHA256[:8], setting=SETTING) == path  # a prefix
    assert fetch_weights(path) == path  # nothing pinned: nothing to check


@pytest.mark.parametrize("pin", ["sha256", "md5", "prefix"])
def test_local_file_with_another_digest_is_refused_naming_setting_and_digests(tmp_path, pin):
    path = tmp_path / "w.pth"
    path.write_bytes(PAYLOAD)
    wrong = {
        "sha256": {"sha256": "0" * 64},
        "md5": {"md5": "0" * 32},
        "prefix": {"sha256": "0" * 8},
    }
    with pytest.raises(WeightsError) as info:
        fetch_weights(path, setting=SETTING, **wrong[pin])
    message = str(info.value)
    assert message.startswith(f"{SETTING}: {path}: ") and "does not match the pinned" in message
    assert (SHA256 if pin != "md5" else MD5) in message
    assert isinstance(info.value, ValueError)  # a stage reports it as one line
    assert path.read_bytes() == PAYLOAD  # a user's own file is never deleted


def test_missing_local_file_is_a_file_not_found_error_naming_the_setting(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{SETTING}: weights file .*absent.pth not found"):
        fetch_weights(tmp_path / "absent.pth", setting=SETTING)
    with pytest.raises(WeightsNotFoundError):
        fetch_weights(tmp_path / "absent.pth")


@pytest.mark.parametrize("digest", [{"sha256": "ABC"}, {"sha256": "0" * 7}, {"md5": "0" * 31}])
def test_malformed_digests_are_refused(tmp_path, digest):
    (tmp_path / "w.pth").write_bytes(PAYLOAD)
    with pytest.raises(WeightsError, match="hex digits"):
        fetch_weights(tmp_path / "w.pth", setting=SETTING, **digest)


def test_url_is_downloaded_once_into_the_cache(served, tmp_path):
    url, folder = served
    cache = tmp_path / "cache"
    got = fetch_weights(url, sha256=SHA256, cache_dir=cache, progressbar=False)
    assert got == cache / "w.pth" and got.read_bytes() == PAYLOAD
    (folder / "w.pth").unlink()  # the server has nothing now: the cached copy is used
    assert fetch_weights(url, sha256=SHA256, cache_dir=cache, progressbar=False) == got


@pytest.mark.parametrize(
    "pin", [{"sha256": "1" * 64}, {"md5": "1" * 32}, {"sha256": "1" * 8}], ids=str
)
def test_url_with_a_wrong_checksum_is_refused_and_not_cached(served, tmp_path, pin):
    url, _ = served
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError, match=f"^{SETTING}: .*") as info:
        fetch_weights(url, cache_dir=cache, setting=SETTING, progressbar=False, **pin)
    assert "match" in str(info.value)
    assert not (cache / "w.pth").exists()


def test_the_names_sha256_prefix_is_read_as_torch_hub_reads_it():
    assert name_sha256_prefix("resnet50-19c8e357.pth") == "19c8e357"
    assert name_sha256_prefix("resnet50-0676ba61.pth") == "0676ba61"
    assert name_sha256_prefix("R-50.pkl") is None  # too short to be a digest
    assert name_sha256_prefix("w.pth") is None


def test_a_url_is_checked_against_the_prefix_its_name_carries(served, tmp_path):
    url, folder = served
    (folder / f"w-{SHA256[:8]}.pth").write_bytes(PAYLOAD)
    (folder / "w-0badc0de.pth").write_bytes(PAYLOAD)  # a name whose digest is not the file's
    cache = tmp_path / "cache"
    good = url.replace("w.pth", f"w-{SHA256[:8]}.pth")
    assert fetch_weights(good, cache_dir=cache, progressbar=False).read_bytes() == PAYLOAD
    bad = url.replace("w.pth", "w-0badc0de.pth")
    with pytest.raises(WeightsError, match=f"{SETTING}: .*does not match the pinned 0badc0de"):
        fetch_weights(bad, cache_dir=cache, setting=SETTING, progressbar=False)
    assert not (cache / "w-0badc0de.pth").exists()  # never left in the cache
    # An explicit pin wins over the name (here the file's own md5).
    assert fetch_weights(bad, md5=MD5, cache_dir=cache, progressbar=False).is_file()


def test_a_url_that_cannot_be_fetched_is_one_weights_error(served, tmp_path):
    url, _ = served
    with pytest.raises(WeightsError, match=f"{SETTING}: cannot download"):
        fetch_weights(
            url.replace("w.pth", "absent.pth"),
            cache_dir=tmp_path / "cache",
            setting=SETTING,
            progressbar=False,
        )
