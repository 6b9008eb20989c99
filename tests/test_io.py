"""Atomic writes: a failed or killed writer leaves the old output (or nothing)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from pipeline.io import atomic_dir, atomic_path, dumps_json, write_json


def test_json_is_sorted_rounded_and_stable(tmp_path):
    obj = {"b": np.float32(0.1234567891), "a": [1, np.int64(2)], "c": float("nan")}
    write_json(tmp_path / "m.json", obj)
    text = (tmp_path / "m.json").read_text()
    assert text == dumps_json(obj)
    assert text.index('"a"') < text.index('"b"')
    assert '"b": 0.123457' in text and '"c": null' in text


def test_failed_file_write_keeps_previous(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("good")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "good"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_failed_dir_write_keeps_previous(tmp_path):
    target = tmp_path / "outdir"
    target.mkdir()
    (target / "a").write_text("old")
    with pytest.raises(ValueError), atomic_dir(target) as tmp:
        (tmp / "a").write_text("new")
        raise ValueError("bad input")
    assert (target / "a").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["outdir"]


def test_dir_replaced_whole_on_success(tmp_path):
    target = tmp_path / "outdir"
    target.mkdir()
    (target / "stale").write_text("x")
    with atomic_dir(target) as tmp:
        (tmp / "fresh").write_text("y")
    assert sorted(os.listdir(target)) == ["fresh"]
    assert sorted(os.listdir(tmp_path)) == ["outdir"]


def test_killed_writer_leaves_nothing_at_target(tmp_path):
    target = tmp_path / "result.bin"
    script = textwrap.dedent(
        f"""
        import time
        from pipeline.io import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"x" * 1000)
                fh.flush()
                print("writing", flush=True)
                time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.1)
    assert not target.exists()
    # Only the hidden temporary is left, never something at the final name.
    assert all(name.startswith(".result.bin.") for name in os.listdir(tmp_path))


@pytest.fixture()
def umask():
    """Set the process umask for one test; the previous one is restored after it."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize("mask,dir_mode,file_mode", [(0o022, 0o755, 0o644), (0o002, 0o775, 0o664)])
def test_outputs_take_the_mode_the_umask_gives(tmp_path, umask, mask, dir_mode, file_mode):
    umask(mask)
    with atomic_dir(tmp_path / "data" / "raw" / "world") as tmp:
        (tmp / "images").mkdir()
        (tmp / "images" / "a.txt").write_text("a")
    write_json(tmp_path / "metrics" / "m.json", {"a": 1})
    for folder in ("data", "data/raw", "data/raw/world", "data/raw/world/images", "metrics"):
        assert stat.S_IMODE((tmp_path / folder).stat().st_mode) == dir_mode, folder
    assert stat.S_IMODE((tmp_path / "metrics" / "m.json").stat().st_mode) == file_mode
