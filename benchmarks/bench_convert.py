"""Benchmark: converting a Market-1501 fake at real scale.

The fake has the real counts (12,936 training, 3,368 query and 19,732 gallery
names, the gallery with 3,819 junk and 2,793 distractor boxes) as empty files,
so the figure is the converter's own cost: listing, parsing names, sorting,
writing index.csv. Images are not decoded by default (``--verify-images`` decodes
them, and then needs real images: ``--real-images`` writes tiny JPEGs).

    .venv/bin/python benchmarks/bench_convert.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.data.converters import market1501

COUNTS = {"bounding_box_train": 12_936, "query": 3_368, "bounding_box_test": 19_732}
JUNK, DISTRACTORS = 3_819, 2_793


def fake_names(folder: str, count: int, rng: np.random.Generator) -> list[str]:
    """Market-style names; gallery names start with the junk and distractor boxes."""
    names = []
    for i in range(count):
        if folder == "bounding_box_test" and i < JUNK:
            pid = "-1"
        elif folder == "bounding_box_test" and i < JUNK + DISTRACTORS:
            pid = "0000"
        else:
            pid = f"{int(rng.integers(1, 1502)):04d}"
        cam, seq = int(rng.integers(1, 7)), int(rng.integers(1, 7))
        names.append(f"{pid}_c{cam}s{seq}_{i:06d}_{int(rng.integers(0, 10)):02d}.jpg")
    return names


def write_fake(top: Path, real_images: bool) -> int:
    rng = np.random.default_rng(0)
    jpeg = None
    if real_images:
        path = top.parent / "tiny.jpg"
        Image.new("RGB", (64, 128), (120, 80, 40)).save(path)
        jpeg = path.read_bytes()
    total = 0
    for folder, count in COUNTS.items():
        (top / folder).mkdir(parents=True)
        for name in fake_names(folder, count, rng):
            (top / folder / name).write_bytes(jpeg or b"")
            total += 1
        (top / folder / "Thumbs.db").write_bytes(b"")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--verify-images", action="store_true")
    parser.add_argument("--real-images", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        files = write_fake(root / "raw" / "Market-1501-v15.09.15", args.real_images)
        print(f"wrote {files} fake files in {time.perf_counter() - start:.2f} s")
        timings = []
        for i in range(args.repeat):
            start = time.perf_counter()
            market1501.convert(
                root / "raw", root / f"out{i}", root, verify_images=args.verify_images
            )
            timings.append(time.perf_counter() - start)
        rows = sum(1 for _ in (root / "out0" / "index.csv").open()) - 1
        print(
            f"market1501.convert: {files} files -> {rows} rows; "
            f"best {min(timings):.3f} s, median {sorted(timings)[len(timings) // 2]:.3f} s "
            f"over {args.repeat} runs (verify_images={args.verify_images})"
        )


if __name__ == "__main__":
    main()
