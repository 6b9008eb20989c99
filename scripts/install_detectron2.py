"""Install detectron2's Python package into the running interpreter's site-packages.

detectron2 is not on PyPI under its own name. ``sal-detectron2==0.7.2`` is a wheel
whose ``detectron2/`` package matches upstream facebookresearch/detectron2 at commit
a59f056 (Apache-2.0) but for its version string; it is tagged cp310, so pip on 3.11
refuses it. Its pure-Python code runs on 3.11 without the compiled ``_C`` (Faster
R-CNN then uses torchvision's nms / roi_align). We download the pinned wheel,
verify its sha256, and unpack only ``detectron2/`` (the wheel also carries a stray
top-level ``tools/`` package that must not land in site-packages).

Idempotent: a detectron2 that is already importable is kept, whether ours (same
marker) or the user's own build from source on a GPU node. ``--wheelhouse DIR`` takes
the wheel from DIR (scripts/build_wheelhouse.py puts it there) instead of PyPI, for a
node without internet; the sha256 is checked either way.
Stdlib only: it runs before the project's dependencies are importable.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

WHEEL_SPEC = "sal-detectron2==0.7.2"
WHEEL_NAME = "sal_detectron2-0.7.2-cp310-none-any.whl"
WHEEL_SHA256 = "491af0c7f79bdb2d178e46f6cb16a97c4ac968d45c41ea3f6b6435d59bbee561"
MARKER = "INSTALLED_FROM_SAL_DETECTRON2_0.7.2"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(dest: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.10",
            "--dest",
            str(dest),
            WHEEL_SPEC,
        ],
        check=True,
    )
    wheel = dest / WHEEL_NAME
    if not wheel.is_file():
        raise SystemExit(f"install_detectron2: pip did not produce {WHEEL_NAME} in {dest}")
    return wheel


def unpack_package(wheel: Path, site_packages: Path) -> None:
    """Extract ``detectron2/`` only, refusing members that would escape the target."""
    staging = Path(tempfile.mkdtemp(prefix=".detectron2.", dir=site_packages))
    try:
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.infolist():
                name = member.filename
                if not name.startswith("detectron2/"):
                    continue
                parts = Path(name).parts
                if name.startswith("/") or ".." in parts:
                    raise SystemExit(f"install_detectron2: unsafe member {name!r} in {wheel}")
                zf.extract(member, staging)
        (staging / "detectron2" / MARKER).write_text(f"{WHEEL_SPEC} sha256 {WHEEL_SHA256}\n")
        target = site_packages / "detectron2"
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging / "detectron2", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wheelhouse", type=Path, help=f"a folder holding {WHEEL_NAME} (no download)"
    )
    args = parser.parse_args(argv)
    spec = importlib.util.find_spec("detectron2")
    if spec is not None and spec.origin:
        origin = Path(spec.origin).parent
        kind = "ours" if (origin / MARKER).exists() else "user-provided, kept"
        print(f"install_detectron2: detectron2 already importable from {origin} ({kind})")
        return 0
    site_packages = Path(sysconfig.get_paths()["purelib"])
    with tempfile.TemporaryDirectory() as tmp:
        if args.wheelhouse is not None:
            wheel = args.wheelhouse / WHEEL_NAME
            if not wheel.is_file():
                raise SystemExit(
                    f"install_detectron2: --wheelhouse: no {WHEEL_NAME} in {args.wheelhouse}"
                )
        else:
            wheel = download_wheel(Path(tmp))
        actual = sha256_of(wheel)
        if actual != WHEEL_SHA256:
            raise SystemExit(
                f"install_detectron2: sha256 mismatch for {WHEEL_NAME}: "
                f"expected {WHEEL_SHA256}, got {actual}"
            )
        unpack_package(wheel, site_packages)
    print(f"install_detectron2: installed detectron2 from {WHEEL_SPEC} into {site_packages}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
