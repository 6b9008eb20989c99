"""A tiny person-search world in the processed format, for the DICL tests.

Scenes are noisy backgrounds with "people": a head over a torso and legs of
identity-specific colours. Identities appear in several scenes; the test split has
its own identities and a protocol with one query per test identity and a gallery
of every other test scene. Written as ``train.json``, ``test.json`` and
``protocol.json`` (docs/design.md, "Person search"), images as PNG, paths relative to
``path_root``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def _person(canvas: np.ndarray, x: int, y: int, w: int, h: int, colours: np.ndarray) -> None:
    head = h // 5
    torso = (h - head) // 2
    canvas[y : y + head, x + w // 4 : x + w - w // 4] = (220, 180, 150)
    canvas[y + head : y + head + torso, x : x + w] = colours[0]
    canvas[y + head + torso : y + h, x + w // 8 : x + w - w // 8] = colours[1]


def _scene(rng, size, people, palette) -> tuple[np.ndarray, list[list[float]]]:
    height, width = size
    canvas = rng.integers(60, 120, size=(height, width, 3)).astype(np.uint8)
    boxes = []
    slots = np.linspace(4, width - 40, num=max(len(people), 1)).astype(int)
    for slot, pid in zip(slots, people, strict=False):
        h = int(rng.integers(height // 2, height - 8))
        w = max(12, h * 2 // 5)
        x = int(min(slot + rng.integers(0, 8), width - w - 1))
        y = int(rng.integers(2, height - h))
        _person(canvas, x, y, w, h, palette[pid])
        boxes.append([float(x), float(y), float(w), float(h)])
    return canvas, boxes


def write_tiny_world(
    root: Path,
    path_root: Path,
    *,
    seed: int = 0,
    train_scenes: int = 12,
    test_scenes: int = 8,
    ids: int = 6,
    size: tuple[int, int] = (96, 128),
) -> Path:
    """Render and write the world; returns the processed folder (``root``)."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, size=(2 * ids + 2, 2, 3)).astype(np.uint8)
    image_dir = root / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    image_id, ann_id = 1, 1
    splits = {}
    for split, count, offset in (("train", train_scenes, 0), ("test", test_scenes, ids)):
        images, annotations = [], []
        for k in range(count):
            people = sorted({offset + int(v) for v in rng.choice(ids, size=3, replace=False)})
            canvas, boxes = _scene(rng, size, people, palette)
            name = f"{split}_{k:03d}.png"
            Image.fromarray(canvas[:, :, ::-1].copy()).save(image_dir / name)  # stored RGB
            rel = (image_dir / name).relative_to(path_root).as_posix()
            images.append(
                {
                    "id": image_id,
                    "file_name": rel,
                    "width": size[1],
                    "height": size[0],
                    "camera": -1,
                }
            )
            for box, pid in zip(boxes, people, strict=True):
                annotations.append(
                    {
                        "id": ann_id,
                        "image_id": image_id,
                        "bbox": box,
                        "category_id": 1,
                        "iscrowd": 0,
                        "area": box[2] * box[3],
                        "person_id": pid,
                    }
                )
                ann_id += 1
            image_id += 1
        splits[split] = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": 1, "name": "person"}],
        }
        (root / f"{split}.json").write_text(json.dumps(splits[split]))
    test = splits["test"]
    queries, seen = [], set()
    for ann in test["annotations"]:
        if ann["person_id"] in seen:
            continue
        holders = {a["image_id"] for a in test["annotations"] if a["person_id"] == ann["person_id"]}
        if len(holders) < 2:
            continue
        seen.add(ann["person_id"])
        image = next(im for im in test["images"] if im["id"] == ann["image_id"])
        gallery = [im["id"] for im in test["images"] if im["id"] != ann["image_id"]]
        queries.append(
            {
                "image": image["file_name"],
                "image_id": ann["image_id"],
                "bbox": ann["bbox"],
                "pid": ann["person_id"],
                "camera": -1,
                "gallery": {str(len(gallery)): gallery},
            }
        )
    protocol = {"layout": "cuhk_sysu", "gallery_sizes": [test_scenes - 1], "queries": queries}
    (root / "protocol.json").write_text(json.dumps(protocol))
    return root
