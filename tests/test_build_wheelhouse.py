"""scripts/build_wheelhouse.py without the network: pip is replaced by a recorder."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def builder():
    spec = importlib.util.spec_from_file_location(
        "build_wheelhouse", REPO / "scripts" / "build_wheelhouse.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


LOCK = """# a comment
absl-py==2.5.1
numpy==1.26.4
nvidia-cublas==13.1.1.3
ruamel.yaml==0.19.1
antlr4-python3-runtime==4.9.3
torch==2.14.1
torchvision==0.29.1
triton==3.8.0
hydra-core==1.3.8

sal-thing==1.0 ; python_version >= "3.8"
"""


class FakePip:
    """Answers pip calls: downloads succeed but for ``no_wheel`` specs; builds write
    ``built`` (a wheel file name) for a spec; detectron2's wheel gets ``d2_bytes``."""

    def __init__(self, no_wheel=(), built=None, d2_bytes=b"wheel"):
        self.calls: list[list[str]] = []
        self.no_wheel, self.built, self.d2_bytes = set(no_wheel), built or {}, d2_bytes

    def __call__(self, cmd, **kwargs):
        self.calls.append(cmd)
        dest = Path(cmd[cmd.index("--dest" if "--dest" in cmd else "--wheel-dir") + 1])
        specs = [a for a in cmd if "==" in a]
        if cmd[3] == "wheel":
            name = self.built.get(specs[0])
            if name:
                (dest / name).write_bytes(b"built")
            return subprocess.CompletedProcess(cmd, 0 if name else 1)
        if any(s.startswith("sal-detectron2") for s in specs):
            (dest / "sal_detectron2-0.7.2-cp310-none-any.whl").write_bytes(self.d2_bytes)
            return subprocess.CompletedProcess(cmd, 0)
        ok = not (set(specs) & self.no_wheel)
        return subprocess.CompletedProcess(cmd, 0 if ok else 1)


@pytest.fixture()
def lock(tmp_path):
    path = tmp_path / "requirements.lock"
    path.write_text(LOCK)
    return path


@pytest.fixture()
def fake_d2(builder, monkeypatch):
    d2 = types.SimpleNamespace(
        WHEEL_SPEC="sal-detectron2==0.7.2",
        WHEEL_NAME="sal_detectron2-0.7.2-cp310-none-any.whl",
        WHEEL_SHA256=hashlib.sha256(b"wheel").hexdigest(),
        sha256_of=lambda p: hashlib.sha256(p.read_bytes()).hexdigest(),
    )
    monkeypatch.setattr(builder, "_install_detectron2_module", lambda: d2)
    return d2


def test_the_nodes_own_stack_is_left_out(builder, lock):
    keep, left = builder.split_node_owned(builder.read_lock(lock))
    assert [p.spec for p in left] == [
        "numpy==1.26.4",
        "nvidia-cublas==13.1.1.3",
        "torch==2.14.1",
        "torchvision==0.29.1",
        "triton==3.8.0",
    ]
    assert [p.name for p in keep] == [
        "absl-py",
        "ruamel.yaml",
        "antlr4-python3-runtime",
        "hydra-core",
        "sal-thing",
    ]


def test_a_line_that_is_no_pin_is_named(builder, tmp_path):
    bad = tmp_path / "lock"
    bad.write_text("absl-py==2.5.1\nrequests>=2\n")
    with pytest.raises(SystemExit, match="lock:2: expected name==version"):
        builder.read_lock(bad)


def test_download_asks_for_cp312_manylinux_wheels_only(builder, tmp_path):
    cmd = builder.download_command(["absl-py==2.5.1"], tmp_path)
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in cmd and "--no-deps" in cmd
    platforms = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--platform"]
    assert "manylinux2014_x86_64" in platforms and all(p.endswith("x86_64") for p in platforms)
    assert cmd[cmd.index("--abi") + 1] == "cp312"


def test_the_project_admits_the_wheelhouses_python(builder):
    # `pip install -e .` on the node refuses a requires-python that leaves 3.12 out.
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert builder.PYTHON_VERSION in SpecifierSet(project["requires-python"])


def test_build_writes_pins_manifest_and_falls_back_per_pin(builder, lock, tmp_path, fake_d2):
    out = tmp_path / "wheelhouse"
    pip = FakePip(
        no_wheel={"antlr4-python3-runtime==4.9.3", "sal-thing==1.0"},
        built={"antlr4-python3-runtime==4.9.3": "antlr4_python3_runtime-4.9.3-py3-none-any.whl"},
    )
    manifest = builder.build(lock, out, run=pip)
    # One call for all, one a pin, a source build for the two without a wheel, detectron2.
    downloads = [c for c in pip.calls if c[3] == "download" and "3.12" in c]
    assert len(downloads) == 1 + 5
    assert not any("torch==2.14.1" in c or "numpy==1.26.4" in c for c in pip.calls)
    assert manifest["not_downloaded"] == ["sal-thing==1.0"]
    assert manifest["detectron2_error"] is None
    pins = (out / "requirements.txt").read_text().split()
    assert pins == [
        "absl-py==2.5.1",
        "ruamel.yaml==0.19.1",
        "antlr4-python3-runtime==4.9.3",
        "hydra-core==1.3.8",
    ]
    written = json.loads((out / "manifest.json").read_text())
    assert written["left_to_the_node"][0] == "numpy==1.26.4" and written["wheels"] == 2
    assert "--no-index --no-deps --find-links wheelhouse" in written["install"][0]
    assert written["install"][1] == "python scripts/install_detectron2.py --wheelhouse wheelhouse"


def test_a_compiled_source_build_is_refused(builder, lock, tmp_path, fake_d2):
    out = tmp_path / "wheelhouse"
    pip = FakePip(
        no_wheel={"antlr4-python3-runtime==4.9.3"},
        built={
            "antlr4-python3-runtime==4.9.3": "antlr4_python3_runtime-4.9.3-cp311-cp311-linux_x86_64.whl"
        },
    )
    manifest = builder.build(lock, out, run=pip)
    assert manifest["not_downloaded"] == ["antlr4-python3-runtime==4.9.3"]
    assert not list(out.glob("antlr4*"))


def test_a_detectron2_wheel_with_the_wrong_hash_is_dropped(builder, lock, tmp_path, fake_d2):
    out = tmp_path / "wheelhouse"
    manifest = builder.build(lock, out, run=FakePip(d2_bytes=b"tampered"))
    assert "sha256 mismatch" in manifest["detectron2_error"]
    assert not (out / fake_d2.WHEEL_NAME).exists()
