"""Model bytes (pipeline.checkpoint.write_state_dict): deterministic, independent of names, atomic."""

from __future__ import annotations

import errno
import io
import zipfile
from pathlib import Path

import pytest
import torch

from pipeline.checkpoint import cpu_state_dict, load_weights, state_dict_bytes, write_state_dict
from pipeline.io import OutputWriteError


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))


def _archive(data: bytes) -> set[str]:
    return {name.split("/", 1)[0] for name in zipfile.ZipFile(io.BytesIO(data)).namelist()}


def test_same_weights_same_bytes_whatever_the_file_name(tmp_path):
    net = _net()
    for name in ("a.pt", "b/model.pt", "c.bin"):
        write_state_dict(tmp_path / name, cpu_state_dict(net))
    first = (tmp_path / "a.pt").read_bytes()
    assert first == state_dict_bytes(cpu_state_dict(net))
    assert (tmp_path / "b/model.pt").read_bytes() == first == (tmp_path / "c.bin").read_bytes()
    assert _archive(first) == {"archive"}
    loaded = load_weights(tmp_path / "a.pt")
    assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items())


def test_named_archive_matches_torch_save_to_a_file_of_that_name(tmp_path):
    state = cpu_state_dict(_net())
    torch.save(state, tmp_path / "model.pt")
    write_state_dict(tmp_path / "out" / "x.pt", state, archive="model")
    assert (tmp_path / "out/x.pt").read_bytes() == (tmp_path / "model.pt").read_bytes()
    assert _archive((tmp_path / "model.pt").read_bytes()) == {"model"}
    with pytest.raises(ValueError, match="archive name"):
        state_dict_bytes(state, archive="a/b")


def test_a_module_state_dict_is_saved_as_given(tmp_path):
    """SCL saves ``net.state_dict()`` (ordered, with version metadata); bytes stay its own."""
    net = _net()
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    assert state_dict_bytes(net.state_dict()) == buffer.getvalue()
    assert state_dict_bytes(net.state_dict()) != state_dict_bytes(cpu_state_dict(net))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    write_state_dict(path, cpu_state_dict(_net()))
    before = path.read_bytes()

    def disk_full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    torch.manual_seed(1)
    with pytest.raises(OutputWriteError, match="model.pt"):
        write_state_dict(path, cpu_state_dict(torch.nn.Linear(2, 2)))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_unserialisable_state_never_touches_the_file(tmp_path):
    path = tmp_path / "model.pt"
    write_state_dict(path, {"w": torch.zeros(2)})
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017  (pickling a lambda: whatever torch raises)
        write_state_dict(path, {"w": lambda: 0})
    assert path.read_bytes() == before and _leftovers(tmp_path) == []
