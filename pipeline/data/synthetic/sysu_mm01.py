"""The synthetic world in the SYSU-MM01 layout (Wu et al., "RGB-Infrared
Cross-Modality Person Re-Identification", ICCV 2017).

Written exactly as the real archive is laid out::

    cam{1..6}/{pid:04d}/{n:04d}.jpg    a folder only where the camera saw the identity
    exp/train_id.txt, val_id.txt, test_id.txt   one line of comma-separated ids
    exp/rand_perm_cam.mat              the evaluation's fixed gallery trials

``rand_perm_cam.mat`` has the structure of the file the dataset's evaluation reads
(wuancong/SYSU-MM01 ``evaluation/data_split/rand_perm_cam.mat``): ``rand_perm_cam``
is a 6x1 cell, one per camera; cell ``cam`` is an Nx1 cell over identities 1..N (N:
the largest identity the camera saw); entry ``pid`` is a 10 x n ``uint8`` matrix,
each row a permutation of the n image numbers, or 10 x 0 where the camera never saw
the identity. Its draws use their own random streams: the images do not change.

Cameras 1 and 2 are indoor RGB, 4 and 5 outdoor RGB, 3 (indoor) and 6 (outdoor)
near-infrared. Infrared crops are rendered from each dye's near-infrared
reflectance (``infrared_band: near``, the default), or from fabric emissivity and
skin temperature with ``infrared_band: thermal`` (pipeline.data.synthetic.infrared),
at a lower resolution, and saved
as three equal channels like the real infrared JPEGs. Every identity is seen by
at least two RGB cameras and one infrared camera, so every test identity can be
searched across modalities.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from pipeline.data.synthetic.cameras import Camera, draw_view, sample_camera, save_jpeg
from pipeline.data.synthetic.crops import camera_canvas, render_crop
from pipeline.data.synthetic.figure import Pose
from pipeline.data.synthetic.identities import Identity, make_identities
from pipeline.data.synthetic.matfile import cell_column, save_mat
from pipeline.data.synthetic.parallel import ordered_map
from pipeline.data.synthetic.seeding import stream
from pipeline.data.synthetic.settings import SysuMm01Render

TAG = "sysu_mm01"
RGB_CAMERAS = (1, 2, 4, 5)
INFRARED_CAMERAS = (3, 6)
INDOOR_CAMERAS = (1, 2, 3)
NUM_PASSERS = 30
PERM_TRIALS = 10  # rows of each rand_perm_cam entry, as the real file's


def _cameras_seen(rng: np.random.Generator, presence: float) -> list[int]:
    """Two RGB and one infrared camera for sure, every other with probability ``presence``."""
    rgb = [int(c) for c in rng.choice(RGB_CAMERAS, size=2, replace=False)]
    infrared = [int(rng.choice(INFRARED_CAMERAS))]
    for cam in RGB_CAMERAS + INFRARED_CAMERAS:
        if cam not in rgb and cam not in infrared and rng.random() < presence:
            (infrared if cam in INFRARED_CAMERAS else rgb).append(cam)
    return sorted(rgb + infrared)


def _write_ids(path: Path, pids: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(str(p) for p in sorted(pids)), encoding="utf-8")


def write_rand_perm_cam(out_dir: Path, seed: int) -> None:
    """``exp/rand_perm_cam.mat`` over the rendered folders (see the module docstring)."""
    cameras = []
    for cam in sorted(RGB_CAMERAS + INFRARED_CAMERAS):
        cam_dir = out_dir / f"cam{cam}"
        seen = {int(p.name): p for p in cam_dir.iterdir() if p.is_dir()} if cam_dir.is_dir() else {}
        entries = []
        for pid in range(1, max(seen, default=0) + 1):
            count = len(list(seen[pid].glob("*.jpg"))) if pid in seen else 0
            if count > np.iinfo(np.uint8).max:
                raise ValueError(f"cam{cam} id {pid}: {count} images do not fit uint8 numbers")
            rng = stream(seed, TAG, "rand_perm_cam", cam, pid)
            rows = [rng.permutation(count) + 1 for _ in range(PERM_TRIALS)]
            entries.append(np.array(rows, dtype=np.uint8).reshape(PERM_TRIALS, count))
        cameras.append(cell_column(entries))
    save_mat(out_dir / "exp" / "rand_perm_cam.mat", {"rand_perm_cam": cell_column(cameras)})


def render_sysu_mm01(settings: SysuMm01Render, out_dir: Path) -> dict[str, int]:
    """Render the SYSU-MM01 layout into ``out_dir``.

    Args:
        settings: sizes and seed.
        out_dir: destination folder (created).

    Returns:
        Counts: ``train_ids``, ``val_ids``, ``test_ids`` and images per split and
        modality (``train_visible``, ``train_infrared`` over train + val identities,
        ``test_visible``, ``test_infrared``).
    """
    s = settings
    cameras: dict[int, tuple[Camera, np.ndarray, tuple[int, int]]] = {}
    for cam in RGB_CAMERAS + INFRARED_CAMERAS:
        rng = stream(s.seed, TAG, "camera", cam)
        infrared = cam in INFRARED_CAMERAS
        size = (s.infrared_width, s.infrared_height) if infrared else (s.rgb_width, s.rgb_height)
        camera = sample_camera(
            rng,
            cam,
            indoor=cam in INDOOR_CAMERAS,
            infrared=infrared,
            resolution=(0.55, 0.75) if infrared else (0.75, 1.0),
        )
        if infrared:
            camera = dataclasses.replace(camera, band=s.infrared_band)
        cameras[cam] = (camera, camera_canvas(camera, rng, size), size)
    total = s.num_train_ids + s.num_val_ids + s.num_test_ids
    order = stream(s.seed, TAG, "pids").permutation(total) + 1
    splits = {
        "train": sorted(int(p) for p in order[: s.num_train_ids]),
        "val": sorted(int(p) for p in order[s.num_train_ids : s.num_train_ids + s.num_val_ids]),
        "test": sorted(int(p) for p in order[s.num_train_ids + s.num_val_ids :]),
    }
    people: dict[int, Identity] = {}
    for number, (split, pids) in enumerate(splits.items()):
        found = make_identities(
            stream(s.seed, TAG, "identities", split),
            len(pids),
            s.max_family_size,
            first_family=number * 1_000_000,
        )
        people.update(zip(pids, found, strict=True))
    passers = make_identities(stream(s.seed, TAG, "passers"), NUM_PASSERS, 1, first_family=-1)
    counts = {f"{split}_ids": len(pids) for split, pids in splits.items()}
    counts.update({"train_visible": 0, "train_infrared": 0, "test_visible": 0, "test_infrared": 0})

    def render_identity(pid: int) -> dict[str, int]:
        """Every image of one identity (its own streams: any process); images per modality."""
        written = {"visible": 0, "infrared": 0}
        rng = stream(s.seed, TAG, "tracks", pid)
        for cam in _cameras_seen(rng, s.camera_presence):
            camera, canvas, size = cameras[cam]
            heading = draw_view(camera, rng)
            phase = float(rng.uniform(0.0, 2 * np.pi))
            count = int(rng.integers(s.min_images_per_camera, s.max_images_per_camera + 1))
            for n in range(1, count + 1):
                phase += float(rng.uniform(0.7, 2.2))
                view = heading if rng.random() < 0.7 else draw_view(camera, rng)
                image = render_crop(
                    people[pid],
                    camera,
                    canvas,
                    stream(s.seed, TAG, "image", pid, cam, n),
                    size,
                    pose=Pose(view, phase),
                    others=passers,
                    occlusion=s.occlusion,
                )
                save_jpeg(
                    out_dir / f"cam{cam}" / f"{pid:04d}" / f"{n:04d}.jpg", image, s.jpeg_quality
                )
                written["infrared" if camera.infrared else "visible"] += 1
        return written

    units = [(split, pid) for split, pids in splits.items() for pid in pids]
    rendered = ordered_map(
        lambda unit: render_identity(unit[1]), units, desc="SYSU-MM01 identities"
    )
    for (split, _), written in zip(units, rendered, strict=True):
        key = "test" if split == "test" else "train"
        for modality, count in written.items():
            counts[f"{key}_{modality}"] += count
    for cam in RGB_CAMERAS + INFRARED_CAMERAS:
        (out_dir / f"cam{cam}").mkdir(parents=True, exist_ok=True)
    for split, pids in splits.items():
        _write_ids(out_dir / "exp" / f"{split}_id.txt", pids)
    write_rand_perm_cam(out_dir, s.seed)
    return counts
