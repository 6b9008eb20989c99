"""Benchmark: converting CUHK-SYSU-sized annotations (Xiao et al., CVPR 2017).

Builds a fake with the real dataset's annotation sizes: ``Images.mat`` with
18,184 images and about 96k boxes, ``pool.mat`` with 6,978 test images,
``Train.mat`` with 5,532 identities, ``TestG100.mat`` with 2,900 queries of 100
gallery images each; then times :func:`pipeline.data.converters.cuhk_sysu.convert`.
Images are not decoded: each is a valid JPEG header claiming the image's size
(PIL reads only the header), so the figure is the annotation work plus 18,184
header reads.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_convert_person_search [--fake DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import shutil
import struct
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from pipeline.data.converters import cuhk_sysu

N_IMAGES = 18_184
N_TEST_IMAGES = 6_978
N_TRAIN_IDS = 5_532
N_QUERIES = 2_900
GALLERY = 100
MEAN_BOXES = 96_143 / 18_184


def _jpeg_header_writer():
    """A function writing a tiny JPEG whose SOF0 header claims (width, height)."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG")
    data = buf.getvalue()
    sof = data.find(b"\xff\xc0")  # marker, length(2), precision(1), height(2), width(2)

    def write(path: Path, width: int, height: int) -> None:
        path.write_bytes(data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :])

    return write


def _structs(rows: list[tuple], fields: tuple[str, ...]) -> np.ndarray:
    arr = np.empty((1, len(rows)), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        arr[0, i] = row
    return arr


def _cells(items: list) -> np.ndarray:
    arr = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        arr[i, 0] = item
    return arr


def build_fake(root: Path, seed: int) -> dict[str, int]:
    """Write the CUHK-SYSU-sized fake under ``root``; returns its counts."""
    rng = np.random.default_rng(seed)
    ann = root / "annotation"
    protocol = ann / "test" / "train_test"
    image_dir = root / "Image" / "SSM"
    protocol.mkdir(parents=True)
    image_dir.mkdir(parents=True)
    write_jpeg = _jpeg_header_writer()

    names = [f"s{i}.jpg" for i in range(1, N_IMAGES + 1)]
    widths = rng.integers(600, 1000, N_IMAGES)
    heights = rng.integers(400, 800, N_IMAGES)
    counts = np.clip(rng.poisson(MEAN_BOXES - 1, N_IMAGES) + 1, 1, 12)
    boxes: list[list[tuple[float, float, float, float]]] = []
    for height, count in zip(heights, counts, strict=True):
        # Boxes side by side (x differs), so no two boxes of an image are equal.
        ys = rng.integers(0, height // 4, count)
        hs = rng.integers(60, height // 2, count)
        image_boxes = [
            (5.0 + 45 * k, float(y), 40.0, float(h))
            for k, (y, h) in enumerate(zip(ys, hs, strict=True))
        ]
        if rng.random() < 0.002:  # the dataset's zero-size boxes
            image_boxes.append((1.0, 1.0, 0.0, 0.0))
        boxes.append(image_boxes)
        # never bigger than 5 + 45 * 11 + 40 = 540 < 600: inside the image
    for name, width, height in zip(names, widths, heights, strict=True):
        write_jpeg(image_dir / name, int(width), int(height))

    hard = np.zeros((1, 1))
    img_rows = [
        (
            name,
            np.array([[len(b)]], dtype=float),
            _structs([(np.array([box]), hard) for box in b], ("idlocate", "ishard")),
        )
        for name, b in zip(names, boxes, strict=True)
    ]
    scipy.io.savemat(ann / "Images.mat", {"Img": _structs(img_rows, ("imname", "nAppear", "box"))})

    order = rng.permutation(N_IMAGES)
    test_idx, train_idx = order[:N_TEST_IMAGES], order[N_TEST_IMAGES:]
    scipy.io.savemat(ann / "pool.mat", {"pool": _cells([names[i] for i in sorted(test_idx)])})

    # Train: each identity labels 2-3 boxes of training images, no box twice.
    free = [(int(i), k) for i in train_idx for k in range(len(boxes[i])) if boxes[i][k][2] > 0]
    free = [free[j] for j in rng.permutation(len(free))]
    identities = []
    for pid in range(1, N_TRAIN_IDS + 1):
        scene_rows = []
        for _ in range(int(rng.integers(2, 4))):
            i, k = free.pop()
            scene_rows.append((names[i], np.array([boxes[i][k]]), hard))
        identities.append(
            _structs(
                [
                    (
                        f"p{pid}",
                        np.array([[len(scene_rows)]]),
                        _structs(scene_rows, ("imname", "idlocate", "ishard")),
                    )
                ],
                ("idname", "nAppear", "scene"),
            )
        )
    scipy.io.savemat(protocol / "Train.mat", {"Train": _cells(identities)})

    # TestG100: query = box 0 of a test image; 1-2 target images (their box 0), then
    # distractors with an empty idlocate; no box labelled twice.
    test_list = [int(i) for i in rng.permutation(test_idx)]
    holders, others = test_list[: N_QUERIES * 2], test_list[N_QUERIES * 2 :]
    empty = np.zeros((0, 0))
    rows = []
    for q in range(N_QUERIES):
        q_img, t_img = holders[2 * q], holders[2 * q + 1]
        query = _structs(
            [(names[q_img], np.array([boxes[q_img][0]]), hard, f"p{100_000 + q}")],
            ("imname", "idlocate", "ishard", "idname"),
        )
        gallery = [(names[t_img], np.array([boxes[t_img][0]]), hard)]
        for g in rng.choice(len(others), GALLERY - 1, replace=False):
            gallery.append((names[others[int(g)]], empty, hard))
        rows.append((query, _structs(gallery, ("imname", "idlocate", "ishard"))))
    scipy.io.savemat(protocol / "TestG100.mat", {"TestG100": _structs(rows, ("Query", "Gallery"))})
    return {"images": N_IMAGES, "boxes": sum(len(b) for b in boxes), "queries": N_QUERIES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--fake", type=Path, default=None, help="keep the fake here and reuse it (default: temp)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="conversions to time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = args.fake or Path(tempfile.mkdtemp(prefix="bench_ps_"))
    try:
        if not (work / "raw").is_dir():
            start = time.perf_counter()
            counts = build_fake(work / "raw", args.seed)
            print(
                f"fake built in {time.perf_counter() - start:.1f} s: {counts['images']} images, "
                f"{counts['boxes']} boxes, {N_TRAIN_IDS} train ids, "
                f"{counts['queries']} queries x {GALLERY} gallery"
            )
        times, cpu_times = [], []
        for _ in range(args.repeat):
            shutil.rmtree(work / "processed", ignore_errors=True)
            start, cpu_start = time.perf_counter(), time.process_time()
            cuhk_sysu.convert(work / "raw", work / "processed", work)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
        sizes = {p.name: p.stat().st_size for p in sorted((work / "processed").iterdir())}
        # How much of it is scipy's loadmat alone (what the converter cannot speed up).
        loadmat = {}
        for path in sorted((work / "raw").rglob("*.mat")):
            start = time.perf_counter()
            scipy.io.loadmat(path, squeeze_me=True)
            loadmat[path.name] = time.perf_counter() - start
    finally:
        if args.fake is None:
            shutil.rmtree(work, ignore_errors=True)
    runs = ", ".join(f"{t:.2f}" for t in times)
    # CPU time too: on a shared machine the wall clock also counts other processes.
    print(
        f"cuhk_sysu.convert: best {min(times):.2f} s wall, {min(cpu_times):.2f} s CPU "
        f"(wall per run: {runs} s)"
    )
    print("of which loadmat: " + ", ".join(f"{name} {t:.2f} s" for name, t in loadmat.items()))
    print("outputs: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items()))


if __name__ == "__main__":
    main()
