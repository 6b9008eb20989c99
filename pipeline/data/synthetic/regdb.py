"""The synthetic world in the RegDB layout (Nguyen et al., "Person Recognition System
Based on a Combination of Body Images from Visible Light and Thermal Cameras",
Sensors 17(3), 2017).

Written exactly as the real archive is laid out::

    Visible/<pid>/{gender}_{front|back}_v_{serial:05d}_{pid}.bmp
    Thermal/<pid>/{gender}_{front|back}_t_{serial:05d}_{pid}.bmp
    idx/{train,test}_{visible,thermal}_{1..10}.txt   lines "Visible/<pid>/<name> <label>"

One dual camera watches one outdoor place: a visible camera and a thermal one
(``infrared_band: thermal``, the default; ``near`` renders the other band) at a
lower native and output resolution, both seeing the same surroundings. Each
identity walks toward the camera, then away from it, so its views are front then
back; each shot is one visible-thermal pair with the same serial, pose and
framing. The window into the place, occluders and sensor noise are drawn per
image (``render_crop`` draws them from one generator per crop), so the two images
of a shot share no noise. Identities are numbered 1..``num_ids`` in families of
look-alikes. Each of the ten splits draws its own random half of the identities
for training, the other half for testing; labels in an idx list are the
identity's rank among that list's identities, the same in the visible and
thermal lists of a split.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.data.synthetic.cameras import Camera, sample_camera
from pipeline.data.synthetic.crops import Framing, camera_canvas, render_crop
from pipeline.data.synthetic.figure import Pose
from pipeline.data.synthetic.identities import make_identities
from pipeline.data.synthetic.parallel import ordered_map
from pipeline.data.synthetic.seeding import stream
from pipeline.data.synthetic.settings import RegdbRender

TAG = "regdb"
# Camera numbers, as the converter gives them (1 visible, 2 thermal).
VISIBLE, THERMAL = 1, 2
# The real idx/ folder holds ten splits, and the converter and protocol read ten.
NUM_SPLITS = 10
NUM_PASSERS = 30
# Real RegDB: 254 women and 158 men (the gender is only a part of the file name).
FEMALE_SHARE = 254 / 412
# Modality -> (folder, letter in file names).
FOLDERS = {"visible": ("Visible", "v"), "thermal": ("Thermal", "t")}


def save_bmp(path: Path, image: np.ndarray) -> None:
    """Write a uint8 (H, W, 3) array as an uncompressed 24-bit BMP (same pixels, same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="BMP")


def _dual_camera(s: RegdbRender) -> dict[str, tuple[Camera, np.ndarray, tuple[int, int]]]:
    """The visible and thermal halves of the dual camera, each with its view of the place.

    Both look at one place: the thermal camera takes the visible one's surroundings
    and horizon, and both canvases are drawn from one generator at the same aspect
    ratio, so they show the same layout at their own resolutions.
    """
    visible = sample_camera(
        stream(s.seed, TAG, "camera", VISIBLE), VISIBLE, indoor=False, resolution=(0.75, 1.0)
    )
    thermal = sample_camera(
        stream(s.seed, TAG, "camera", THERMAL),
        THERMAL,
        indoor=False,
        infrared=True,
        resolution=(0.55, 0.75),
    )
    thermal = dataclasses.replace(
        thermal,
        style=visible.style,
        horizon=visible.horizon,
        view_prior=visible.view_prior,
        band=s.infrared_band,
    )
    out = {}
    for modality, camera, size in (
        ("visible", visible, (s.rgb_width, s.rgb_height)),
        ("thermal", thermal, (s.infrared_width, s.infrared_height)),
    ):
        out[modality] = (camera, camera_canvas(camera, stream(s.seed, TAG, "place"), size), size)
    return out


def _split(seed: int, pids: list[int], k: int) -> tuple[list[int], list[int]]:
    """Split ``k``: a random half of ``pids`` for training, the rest for testing (sorted)."""
    order = stream(seed, TAG, "split", k).permutation(len(pids))
    half = len(pids) // 2
    return sorted(pids[i] for i in order[:half]), sorted(pids[i] for i in order[half:])


def _write_list(path: Path, pids: list[int], files: dict[int, list[str]]) -> int:
    """One idx list: every file of ``pids`` with its identity's rank as label; lines written."""
    lines = [f"{name} {label}" for label, pid in enumerate(pids) for name in files[pid]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def render_regdb(settings: RegdbRender, out_dir: Path) -> dict[str, int]:
    """Render the RegDB layout into ``out_dir``.

    Args:
        settings: sizes and seed.
        out_dir: destination folder (created).

    Returns:
        Counts: ``ids``, ``visible`` and ``thermal`` images, ``splits``, and per split
        (every split alike) ``train_ids``, ``test_ids`` and the rows of each list:
        ``train_visible``, ``train_thermal``, ``test_visible``, ``test_thermal``.
    """
    s = settings
    cameras = _dual_camera(s)
    pids = list(range(1, s.num_ids + 1))
    found = make_identities(stream(s.seed, TAG, "identities"), s.num_ids, s.max_family_size)
    people = dict(zip(pids, found, strict=True))
    passers = make_identities(stream(s.seed, TAG, "passers"), NUM_PASSERS, 1, first_family=-1)

    def render_identity(pid: int) -> dict[str, list[str]]:
        """Every pair of one identity (its own streams: any process); paths per modality."""
        rng = stream(s.seed, TAG, "walk", pid)
        gender = "female" if rng.random() < FEMALE_SHARE else "male"
        # Shots 1..fronts face the camera; the person then turns and walks away.
        fronts = int(rng.integers(1, s.images_per_id))
        phase = float(rng.uniform(0.0, 2 * np.pi))
        written: dict[str, list[str]] = {"visible": [], "thermal": []}
        for n in range(1, s.images_per_id + 1):
            phase += float(rng.uniform(0.7, 2.2))
            view = "front" if n <= fronts else "back"
            framing = Framing.detection(rng)
            serial = (pid - 1) * s.images_per_id + n
            for modality, (camera, canvas, size) in cameras.items():
                image = render_crop(
                    people[pid],
                    camera,
                    canvas,
                    stream(s.seed, TAG, "image", pid, modality, n),
                    size,
                    pose=Pose(view, phase),
                    framing=framing,
                    others=passers,
                    occlusion=s.occlusion,
                )
                folder, letter = FOLDERS[modality]
                name = f"{folder}/{pid}/{gender}_{view}_{letter}_{serial:05d}_{pid}.bmp"
                save_bmp(out_dir / name, image)
                written[modality].append(name)
        return written

    rendered = dict(
        zip(pids, ordered_map(render_identity, pids, desc="RegDB identities"), strict=True)
    )
    counts = {
        "ids": s.num_ids,
        "visible": sum(len(w["visible"]) for w in rendered.values()),
        "thermal": sum(len(w["thermal"]) for w in rendered.values()),
        "splits": NUM_SPLITS,
    }
    for k in range(1, NUM_SPLITS + 1):
        for part, members in zip(("train", "test"), _split(s.seed, pids, k), strict=True):
            counts[f"{part}_ids"] = len(members)
            for modality in FOLDERS:
                files = {pid: rendered[pid][modality] for pid in members}
                path = out_dir / "idx" / f"{part}_{modality}_{k}.txt"
                counts[f"{part}_{modality}"] = _write_list(path, members, files)
    return counts
