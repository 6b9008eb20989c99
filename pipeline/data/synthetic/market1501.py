"""The synthetic world in the Market-1501 layout (Zheng et al., "Scalable Person
Re-identification: A Benchmark", ICCV 2015).

Written exactly as the real archive is laid out::

    bounding_box_train/{pid:04d}_c{cam}s{seq}_{frame:06d}_{bb:02d}.jpg
    bounding_box_test/  same names, plus 0000_* distractors, -1_* junk, Thumbs.db
    query/              one image per test identity and camera

Crops are 128x64 (height x width) from 6 cameras; the last camera has a low
native resolution, like the real set's SD camera. Every identity is followed
by 2-4 cameras; each camera sees it in one track (sequence ``seq``, increasing
frame numbers, a mostly constant walking direction). Train and test identities
are disjoint and their numbers interleave. Distractors (pid 0) are false
detections: background or a fragment of a passer-by. Junk (pid -1) is a badly
cut detection of a test identity, which the protocol ignores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.data.synthetic.cameras import Camera, draw_view, sample_camera, save_jpeg
from pipeline.data.synthetic.crops import Framing, camera_canvas, render_crop
from pipeline.data.synthetic.figure import Pose
from pipeline.data.synthetic.identities import Identity, make_identities
from pipeline.data.synthetic.parallel import ordered_map
from pipeline.data.synthetic.seeding import stream
from pipeline.data.synthetic.settings import Market1501Render

TAG = "market1501"
# Windows' thumbnail cache, present in some copies of the archive: an OLE2 header.
THUMBS_DB = bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504)
NUM_PASSERS = 40


def _name(pid: int, cam: int, seq: int, frame: int, bb: int) -> str:
    prefix = "-1" if pid < 0 else f"{pid:04d}"
    return f"{prefix}_c{cam}s{seq}_{frame:06d}_{bb:02d}.jpg"


class _Writer:
    def __init__(self, settings: Market1501Render, out_dir: Path) -> None:
        self.s = settings
        self.out_dir = out_dir
        self.size = (settings.width, settings.height)
        self.cameras: dict[int, tuple[Camera, np.ndarray]] = {}
        for cam in range(1, settings.num_cameras + 1):
            rng = stream(settings.seed, TAG, "camera", cam)
            # The last camera is the low-resolution one (Market-1501's camera 6 is SD).
            low = cam == settings.num_cameras
            camera = sample_camera(
                rng, cam, indoor=False, resolution=(0.45, 0.6) if low else (0.7, 1.0)
            )
            self.cameras[cam] = (camera, camera_canvas(camera, rng, self.size))
        self.passers = make_identities(
            stream(settings.seed, TAG, "passers"), NUM_PASSERS, 1, first_family=-1
        )
        self.names: set[str] = set()
        self.counts = {"train": 0, "query": 0, "gallery": 0, "distractors": 0, "junk": 0}

    def _register(self, name: str, split: str) -> None:
        if name in self.names:
            raise AssertionError(f"duplicate synthetic file name {name}")
        self.names.add(name)
        self.counts[split] += 1

    def _save(self, folder: str, name: str, image: np.ndarray) -> None:
        save_jpeg(self.out_dir / folder / name, image, self.s.jpeg_quality)

    def record_identity(self, written: list[tuple[str, str]]) -> None:
        """Count what :meth:`identity` wrote (in identity order): ``(name, split)`` pairs."""
        for name, split in written:
            self._register(name, split)

    def identity(self, pid: int, who: Identity, train: bool) -> list[tuple[str, str]]:
        """Every track of one identity; a test identity's first frame per camera is its query.

        Depends only on the identity's own streams (any process). Returns the
        ``(file name, split)`` of each image written, for :meth:`record_identity`.
        """
        written = []
        s = self.s
        rng = stream(s.seed, TAG, "tracks", pid)
        n_cams = int(rng.integers(s.min_cameras_per_id, s.max_cameras_per_id + 1))
        cams = sorted(int(c) + 1 for c in rng.choice(s.num_cameras, size=n_cams, replace=False))
        for cam in cams:
            camera, canvas = self.cameras[cam]
            seq = int(rng.integers(1, 7))
            frame = int(rng.integers(0, 200_000))
            heading = draw_view(camera, rng)
            phase = float(rng.uniform(0.0, 2 * np.pi))
            count = int(rng.integers(s.min_images_per_camera, s.max_images_per_camera + 1))
            for k in range(count + (0 if train else 1)):
                frame += int(rng.integers(5, 60))
                phase += float(rng.uniform(0.7, 2.2))
                view = heading if rng.random() < 0.75 else draw_view(camera, rng)
                bb = 1 if rng.random() < 0.9 else int(rng.integers(2, 4))
                image = render_crop(
                    who,
                    camera,
                    canvas,
                    stream(s.seed, TAG, "image", pid, cam, k),
                    self.size,
                    pose=Pose(view, phase),
                    others=self.passers,
                    occlusion=s.occlusion,
                )
                split = "train" if train else ("query" if k == 0 else "gallery")
                folder = {
                    "train": "bounding_box_train",
                    "query": "query",
                    "gallery": "bounding_box_test",
                }[split]
                name = _name(pid, cam, seq, frame, bb)
                self._save(folder, name, image)
                written.append((name, split))
        return written

    def false_detection(self, pid: int, index: int, test_people: list[Identity]) -> None:
        """A distractor (pid 0: background or a passer-by's fragment) or junk (pid -1)."""
        s = self.s
        rng = stream(s.seed, TAG, "false", pid, index)
        cam = int(rng.integers(1, s.num_cameras + 1))
        camera, canvas = self.cameras[cam]
        if pid == 0:
            who = None if rng.random() < 0.5 else self.passers[int(rng.integers(len(self.passers)))]
        else:
            who = test_people[int(rng.integers(len(test_people)))]
        image = render_crop(who, camera, canvas, rng, self.size, framing=Framing.fragment(rng))
        while True:
            name = _name(pid, cam, int(rng.integers(1, 7)), int(rng.integers(0, 999_999)), 1)
            if name not in self.names:
                break
        self._register(name, "distractors" if pid == 0 else "junk")
        self._save("bounding_box_test", name, image)


def render_market1501(settings: Market1501Render, out_dir: Path) -> dict[str, int]:
    """Render the Market-1501 layout into ``out_dir``.

    Args:
        settings: sizes and seed.
        out_dir: destination folder (created; its content is overwritten file by file).

    Returns:
        Counts of what was written: ``train_ids``, ``test_ids``, ``train``, ``query``,
        ``gallery`` (test identities' gallery images), ``distractors``, ``junk``.
    """
    s = settings
    for folder in ("bounding_box_train", "bounding_box_test", "query"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    writer = _Writer(s, out_dir)
    train_people = make_identities(
        stream(s.seed, TAG, "identities", "train"), s.num_train_ids, s.max_family_size
    )
    test_people = make_identities(
        stream(s.seed, TAG, "identities", "test"),
        s.num_test_ids,
        s.max_family_size,
        first_family=1_000_000,
    )
    # Train and test pids interleave over 1..N, as in the real set.
    pids = stream(s.seed, TAG, "pids").permutation(s.num_train_ids + s.num_test_ids) + 1
    train_pids = sorted(int(p) for p in pids[: s.num_train_ids])
    test_pids = sorted(int(p) for p in pids[s.num_train_ids :])
    units = [(pid, who, True) for pid, who in zip(train_pids, train_people, strict=True)]
    units += [(pid, who, False) for pid, who in zip(test_pids, test_people, strict=True)]
    # Validation identities come after the permutation above, so adding them leaves every
    # other identity, and so every other image, as it was.
    first_val = s.num_train_ids + s.num_test_ids + 1
    val_people = make_identities(
        stream(s.seed, TAG, "identities", "val"),
        s.num_val_ids,
        s.max_family_size,
        first_family=2_000_000,
    )
    units += [(first_val + n, who, True) for n, who in enumerate(val_people)]
    for written in ordered_map(
        lambda unit: writer.identity(*unit), units, desc="Market-1501 identities"
    ):
        writer.record_identity(written)
    for index in range(s.num_distractors):
        writer.false_detection(0, index, test_people)
    for index in range(s.num_junk):
        writer.false_detection(-1, index, test_people)
    (out_dir / "bounding_box_test" / "Thumbs.db").write_bytes(THUMBS_DB)
    return {
        "train_ids": len(train_pids),
        "test_ids": len(test_pids),
        "val_ids": s.num_val_ids,
        **writer.counts,
    }
