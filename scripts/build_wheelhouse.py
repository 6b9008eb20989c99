"""Build ``wheelhouse/``: the wheels a Python 3.12 GPU node without internet installs from.

A GPU node comes with its own torch, torchvision, numpy 2 and CUDA libraries, which
must stay as they are. Everything else the project runs on is pinned in
requirements.lock (resolved on 3.11); this script downloads those pins as Python 3.12
(cp312, manylinux x86_64, or pure-Python) wheels, plus detectron2's wheel as
scripts/install_detectron2.py obtains it (``sal-detectron2``, tagged cp310, unpacked
rather than installed: its module docstring says why), on a machine with PyPI access:

    python scripts/build_wheelhouse.py [--out wheelhouse] [--lock requirements.lock]

It writes, next to the wheels, ``requirements.txt`` (the pins taken: install them
with ``--no-deps`` so pip never reaches for torch or numpy) and ``manifest.json``
(what was left out and why, what could not be downloaded, the size). The node then
installs, with the repository checked out and the wheelhouse copied in:

    python -m pip install --no-index --no-deps --find-links wheelhouse -r wheelhouse/requirements.txt
    python scripts/install_detectron2.py --wheelhouse wheelhouse
    python -m pip install --no-index --no-deps --no-build-isolation -e .
    python -m pip check

(``install_commands`` prints these for a given folder.) ``wheelhouse/`` is git-ignored.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LOCK = REPO / "requirements.lock"
DEFAULT_OUT = REPO / "wheelhouse"
PYTHON_VERSION = "3.12"
ABI = "cp312"
# pip accepts several: a wheel built for any of these glibc baselines runs on the node.
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
# The node's own stack: never downloaded, never installed over (torch 2.11, torchvision
# 0.26, numpy 2 and the CUDA wheels torch came with).
NODE_OWNED = re.compile(r"^(torch|torchvision|torchaudio|triton|numpy|nvidia-.*|pip)$")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)\s*(?:[;#].*)?$")


@dataclass(frozen=True)
class Pin:
    name: str
    version: str

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}"


def normalized(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> list[Pin]:
    """The ``name==version`` lines of a pip freeze file (comments and blanks skipped)."""
    pins = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if match is None:
            raise SystemExit(
                f"build_wheelhouse: {path}:{number}: expected name==version, got {line!r}"
            )
        pins.append(Pin(match.group(1), match.group(2)))
    return pins


def split_node_owned(pins: list[Pin]) -> tuple[list[Pin], list[Pin]]:
    """``(to download, left to the node)``."""
    keep = [p for p in pins if not NODE_OWNED.match(normalized(p.name))]
    left = [p for p in pins if NODE_OWNED.match(normalized(p.name))]
    return keep, left


def download_command(specs: list[str], dest: Path) -> list[str]:
    """``pip download`` of ``specs`` as cp312 manylinux x86_64 wheels, no dependencies
    (the lock already lists every one), no source builds."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    cmd += ["--only-binary=:all:", "--python-version", PYTHON_VERSION]
    cmd += ["--implementation", "cp", "--abi", ABI, "--abi", "abi3", "--abi", "none"]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    return cmd + ["--dest", str(dest), *specs]


def build_command(spec: str, dest: Path) -> list[str]:
    """``pip wheel`` of one pin from its source release, without dependencies."""
    return [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--wheel-dir",
        str(dest),
        spec,
    ]


def _pure_wheels(dest: Path, pin: Pin) -> list[Path]:
    stem = re.sub(r"[-_.]+", "_", pin.name).lower()
    return [
        w for w in dest.glob("*.whl") if w.name.lower().startswith(f"{stem}-{pin.version.lower()}-")
    ]


def build_pure_wheel(pin: Pin, dest: Path, run=subprocess.run) -> bool:
    """Build ``pin`` from source here when PyPI has no wheel for it (antlr4-python3-runtime
    4.9.3, which omegaconf 2.3 requires, is source only). Only a pure-Python result
    (``*-none-any.whl``) can serve 3.12; any other is deleted and the pin reported."""
    if run(build_command(pin.spec, dest)).returncode != 0:
        return False
    built = _pure_wheels(dest, pin)
    compiled = [w for w in built if not w.name.endswith("-none-any.whl")]
    for wheel in compiled:
        wheel.unlink()
    return bool(built) and not compiled


def download_pins(pins: list[Pin], dest: Path, run=subprocess.run) -> list[str]:
    """Download every pin; return the specs that got no 3.12 wheel.

    One pip call for all pins; when it fails, one call a pin, so that one missing
    wheel costs only itself (pip skips files already in ``dest``), then a pure-Python
    build from source (:func:`build_pure_wheel`) for the pins PyPI has no wheel of."""
    specs = [p.spec for p in pins]
    if not specs or run(download_command(specs, dest)).returncode == 0:
        return []
    missing = [p for p in pins if run(download_command([p.spec], dest)).returncode != 0]
    return [p.spec for p in missing if not build_pure_wheel(p, dest, run)]


def _install_detectron2_module():
    spec = importlib.util.spec_from_file_location(
        "install_detectron2", REPO / "scripts" / "install_detectron2.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def download_detectron2(dest: Path, run=subprocess.run) -> str | None:
    """Fetch the pinned sal-detectron2 wheel into ``dest`` and check its sha256, as
    scripts/install_detectron2.py does; the reason on failure, else None."""
    d2 = _install_detectron2_module()
    wheel = dest / d2.WHEEL_NAME
    if not wheel.is_file():
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        cmd += ["--only-binary=:all:", "--python-version", "3.10", "--dest", str(dest)]
        if run(cmd + [d2.WHEEL_SPEC]).returncode != 0 or not wheel.is_file():
            return f"pip could not download {d2.WHEEL_SPEC}"
    actual = d2.sha256_of(wheel)
    if actual != d2.WHEEL_SHA256:
        wheel.unlink()
        return f"sha256 mismatch for {d2.WHEEL_NAME}: expected {d2.WHEEL_SHA256}, got {actual}"
    return None


def install_commands(folder: str) -> list[str]:
    """What the GPU node runs, from the repository root, to install from ``folder``."""
    return [
        "python -m pip install --no-index --no-deps --find-links "
        f"{folder} -r {folder}/requirements.txt",
        f"python scripts/install_detectron2.py --wheelhouse {folder}",
        "python -m pip install --no-index --no-deps --no-build-isolation -e .",
        "python -m pip check",
    ]


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build(lock: Path, out: Path, run=subprocess.run) -> dict:
    """Download into ``out`` and write its requirements.txt and manifest.json."""
    pins, node_owned = split_node_owned(read_lock(lock))
    out.mkdir(parents=True, exist_ok=True)
    failed = download_pins(pins, out, run)
    detectron2_error = download_detectron2(out, run)
    taken = [p.spec for p in pins if p.spec not in failed]
    (out / "requirements.txt").write_text("\n".join(taken) + "\n", encoding="utf-8")
    manifest = {
        "python": PYTHON_VERSION,
        "platforms": list(PLATFORMS),
        "lock": lock.name,
        "wheels": len(list(out.glob("*.whl"))),
        "left_to_the_node": [p.spec for p in node_owned],
        "not_downloaded": failed,
        "detectron2_error": detectron2_error,
        "size_bytes": folder_size(out),
        "install": install_commands(out.name),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be downloaded, download nothing"
    )
    args = parser.parse_args(argv)
    pins, node_owned = split_node_owned(read_lock(args.lock))
    if args.dry_run:
        print(" ".join(download_command([p.spec for p in pins], args.out)))
        print(f"left to the node: {', '.join(p.spec for p in node_owned)}")
        return 0
    manifest = build(args.lock, args.out)
    print(
        f"build_wheelhouse: {manifest['wheels']} wheels, "
        f"{manifest['size_bytes'] / 2**20:.0f} MiB in {args.out}"
    )
    for spec in manifest["not_downloaded"]:
        print(f"  no {ABI} manylinux or pure-Python wheel: {spec}")
    if manifest["detectron2_error"]:
        print(f"  detectron2: {manifest['detectron2_error']}")
    print("install on the node (repository root):")
    for line in manifest["install"]:
        print(f"  {line}")
    return 1 if manifest["not_downloaded"] or manifest["detectron2_error"] else 0


if __name__ == "__main__":
    sys.exit(main())
