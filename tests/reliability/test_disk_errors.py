"""A full disk or a read-only output folder: one clear error, previous outputs intact (issue 10).

The tests run as root, which mode bits do not stop, so the failures come from:

- the kernel, unprivileged: ``RLIMIT_FSIZE`` (``ulimit -f``) makes every write past
  the limit fail with ``EFBIG`` (Python ignores SIGXFSZ), as a full disk would;
- the OS boundary, in process: ``open``/``os.open``/``os.mkdir``/``os.replace``
  under the output folders raise ``ENOSPC`` on write, or ``EROFS`` on any change.

Each goes through the convert stage's real entry point (``stages._main.run``):
exit code 2, one ``convert: error:`` line naming the output, the previous outputs
byte-identical, no temporaries left behind.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import resource
import subprocess

import pytest

import stages.convert
from stages._main import run as run_stage
from tests.reliability.conftest import PYTHON, hidden_leftovers, tree_md5

DATASET = "synthetic_market1501"


@pytest.fixture(scope="module")
def raw(tiny) -> str:
    """The tiny world's raw dataset (rendered once by DVC in the reliability copy)."""
    tiny.dvc("repro", f"download@{DATASET}")
    return str(tiny.root / "data" / "raw" / DATASET)


@pytest.fixture
def previous(tiny, raw, tmp_path, monkeypatch):
    """A completed conversion under ``tmp_path``; returns (argv, digests of its outputs)."""
    monkeypatch.chdir(tiny.root)  # index paths are relative to the repository root
    argv = [DATASET, "--raw", raw, "--out", str(tmp_path / "processed" / DATASET)]
    argv += ["--plot", str(tmp_path / "plots" / f"{DATASET}.png")]
    stages.convert.main(argv)
    return argv, tree_md5(tmp_path / "processed", tmp_path / "plots")


def under(path, root) -> bool:
    try:
        return os.path.abspath(os.fspath(path)).startswith(str(root) + os.sep)
    except TypeError:  # a file descriptor
        return False


class FullFile:
    """A file object whose writes fail as on a full disk."""

    def __init__(self, fh) -> None:
        self._fh = fh

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()

    def __getattr__(self, name):
        return getattr(self._fh, name)


def patch_disk_full(monkeypatch, root) -> None:
    real_open = builtins.open

    def full_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if any(flag in mode for flag in "wax+") and under(file, root):
            return FullFile(fh)
        return fh

    monkeypatch.setattr(builtins, "open", full_open)
    monkeypatch.setattr(io, "open", full_open)


def patch_read_only(monkeypatch, root) -> None:
    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    def guard(real, *path_args):
        def wrapper(*args, **kwargs):
            if any(under(args[i], root) for i in path_args if i < len(args)):
                refuse(args[path_args[0]])
            return real(*args, **kwargs)

        return wrapper

    real_open = builtins.open

    def ro_open(file, mode="r", *args, **kwargs):
        if any(flag in mode for flag in "wax+") and under(file, root):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    flags_write = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def ro_os_open(path, flags, *args, **kwargs):
        if flags & flags_write and under(path, root):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    real_os_open = os.open
    monkeypatch.setattr(builtins, "open", ro_open)
    monkeypatch.setattr(io, "open", ro_open)
    monkeypatch.setattr(os, "open", ro_os_open)
    for name in ("mkdir", "rmdir", "unlink", "remove", "chmod"):
        monkeypatch.setattr(os, name, guard(getattr(os, name), 0))
    for name in ("replace", "rename"):
        monkeypatch.setattr(os, name, guard(getattr(os, name), 0, 1))


def assert_one_clear_error(capsys, exit_info, needle: str, path) -> str:
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("convert: error:")]
    assert len(lines) == 1, err
    assert str(path) in lines[0] and needle in lines[0], lines[0]
    assert ".tmp" not in lines[0]  # the output's own name, not a temporary's
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("failure", ["disk_full", "read_only"])
def test_write_failure_is_one_clear_error_and_keeps_previous_outputs(
    failure, previous, tmp_path, monkeypatch, capsys
):
    argv, before = previous
    capsys.readouterr()
    if failure == "disk_full":
        patch_disk_full(monkeypatch, tmp_path)
        needle = os.strerror(errno.ENOSPC)
    else:
        patch_read_only(monkeypatch, tmp_path)
        needle = os.strerror(errno.EROFS)
    with pytest.raises(SystemExit) as exit_info:
        run_stage(stages.convert.main, "convert", argv)
    monkeypatch.undo()
    line = assert_one_clear_error(capsys, exit_info, needle, tmp_path)
    assert "previous output" in line
    assert tree_md5(tmp_path / "processed", tmp_path / "plots") == before
    assert hidden_leftovers(tmp_path / "processed") == []
    assert hidden_leftovers(tmp_path / "plots") == []


def test_file_size_limit_from_the_kernel_keeps_previous_outputs(previous, tmp_path, tiny):
    """A real refusal by the kernel: every write past RLIMIT_FSIZE fails with EFBIG."""
    argv, before = previous

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    proc = subprocess.run(
        [PYTHON, "-m", "stages.convert", *argv],
        cwd=tiny.root,
        env=tiny.stage_env(),
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("convert: error:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert os.strerror(errno.EFBIG) in lines[0] and str(tmp_path) in lines[0], lines[0]
    assert ".tmp" not in lines[0]
    assert tree_md5(tmp_path / "processed", tmp_path / "plots") == before
    assert hidden_leftovers(tmp_path / "processed") == []
    assert hidden_leftovers(tmp_path / "plots") == []
