"""What `pipeline.io.atomic_path` guarantees when a write fails or a writer was killed."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from pipeline.io import OutputWriteError, atomic_dir, remove_stale_leftovers, write_text


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    return int(proc.stdout)


def test_leftovers_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    target = tmp_path / "out"
    dead, live = dead_pid(), os.getppid()
    (tmp_path / f".out.{dead}.abc123.tmp").mkdir()
    (tmp_path / f".out.old-{dead}").mkdir()
    (tmp_path / f".out.{live}.xyz789.tmp").write_text("busy")
    (tmp_path / f".other.{dead}.abc123.tmp").write_text("not ours")
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out", f".out.{live}.xyz789.tmp", f".other.{dead}.abc123.tmp"]
    )
    assert remove_stale_leftovers(target) == []


def test_failed_rename_in_puts_the_previous_directory_back(tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old").write_text("previous")
    real_replace = os.replace

    def replace(src, dst):
        if os.path.basename(os.fspath(src)).endswith(".tmp"):  # the rename-in
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(src))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OutputWriteError) as err, atomic_dir(target) as tmp:
        (tmp / "new").write_text("next")
    monkeypatch.undo()
    assert err.value.filename == str(target)
    assert sorted(os.listdir(target)) == ["old"]
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_parents_made_for_a_failed_write_are_removed(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    with pytest.raises(RuntimeError), atomic_dir(target):
        raise RuntimeError("the writer failed")
    assert os.listdir(tmp_path) == []


def test_nested_output_error_names_where_it_would_land(tmp_path, monkeypatch):
    target = tmp_path / "out"
    real_open = open

    def full_open(file, mode="r", *args, **kwargs):
        if "w" in mode and "index.csv" in os.fspath(file):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_open)
    monkeypatch.setattr("io.open", full_open)
    with pytest.raises(OutputWriteError) as err, atomic_dir(target) as tmp:
        write_text(tmp / "index.csv", "path\n")
    monkeypatch.undo()
    assert err.value.filename == str(target / "index.csv")
    assert "No space left on device" in str(err.value) and ".tmp" not in str(err.value)
    assert os.listdir(tmp_path) == []


def test_input_errors_inside_the_block_are_not_blamed_on_the_output(tmp_path):
    with pytest.raises(FileNotFoundError) as err, atomic_dir(tmp_path / "out"):
        (tmp_path / "missing-input.csv").read_text()
    assert not isinstance(err.value, OutputWriteError)
