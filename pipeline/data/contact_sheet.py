"""Contact sheet of a converted dataset: a PNG to see at a glance what it holds.

Built from the processed format only (docs/design.md, "Contracts"), so it works the
same for real and synthetic datasets:

* re-id (``index.csv``, visible only): sampled identities in rows, one crop per
  camera that saw them, captioned with split and camera;
* visible-infrared (``index.csv`` with infrared rows): sampled identities with
  their visible crops beside their infrared crops;
* person search (``train.json`` / ``test.json``): sampled scenes with every box
  drawn, labelled identities in green with their id, unknown people in yellow.

Sampling is seeded, drawing uses PIL's built-in font, and PNG carries no
timestamp: the same data and seed give the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.data.errors import DataError
from pipeline.data.reid_index import IndexRow, read_index
from pipeline.io import atomic_path

THUMB = (64, 128)  # re-id crop cell (width, height)
SCENE = (320, 240)  # person-search scene cell
CAPTION = 14
MAX_IDENTITIES = 8
MAX_PER_IDENTITY = 8
MAX_SCENES = 6
BACKGROUND = (255, 255, 255)
LABELLED = (0, 200, 0)
UNKNOWN = (255, 200, 0)


def _open(path_root: Path, rel: str) -> Image.Image:
    path = path_root / rel
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"{path}: image listed in the processed dataset not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the image ({exc})") from exc


def _fit(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``img`` scaled to fit ``size``, centred on a white cell."""
    scale = min(size[0] / img.width, size[1] / img.height)
    new = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    cell = Image.new("RGB", size, BACKGROUND)
    cell.paste(
        img.resize(new, Image.Resampling.BILINEAR),
        ((size[0] - new[0]) // 2, (size[1] - new[1]) // 2),
    )
    return cell


def _sample(rng: np.random.Generator, items: list[Any], count: int) -> list[Any]:
    if len(items) <= count:
        return list(items)
    picked = sorted(int(i) for i in rng.choice(len(items), size=count, replace=False))
    return [items[i] for i in picked]


def _reid_rows(rows: list[IndexRow], rng: np.random.Generator) -> list[tuple[str, list[IndexRow]]]:
    """Identities seen by the most cameras (sampled), one crop per camera."""
    by_pid: dict[int, list[IndexRow]] = {}
    for row in rows:
        if row.pid > 0:
            by_pid.setdefault(row.pid, []).append(row)
    multi = [pid for pid in sorted(by_pid) if len({r.camera for r in by_pid[pid]}) >= 2]
    chosen = _sample(rng, multi or sorted(by_pid), MAX_IDENTITIES)
    out = []
    for pid in chosen:
        per_camera: dict[int, list[IndexRow]] = {}
        for row in sorted(by_pid[pid], key=lambda r: r.path):
            per_camera.setdefault(row.camera, []).append(row)
        cells = [group[int(rng.integers(len(group)))] for _, group in sorted(per_camera.items())]
        out.append((f"id {pid}", cells[:MAX_PER_IDENTITY]))
    return out


def _vi_rows(rows: list[IndexRow], rng: np.random.Generator) -> list[tuple[str, list[IndexRow]]]:
    """Identities with both modalities (sampled): visible crops, then infrared crops."""
    by_pid: dict[int, dict[str, list[IndexRow]]] = {}
    for row in rows:
        by_pid.setdefault(row.pid, {}).setdefault(row.modality, []).append(row)
    both = [pid for pid in sorted(by_pid) if len(by_pid[pid]) == 2 and pid > 0]
    out = []
    for pid in _sample(rng, both, MAX_IDENTITIES):
        cells: list[IndexRow] = []
        for modality in ("visible", "infrared"):
            group = sorted(by_pid[pid][modality], key=lambda r: r.path)
            cells += _sample(rng, group, MAX_PER_IDENTITY // 2)
        out.append((f"id {pid}", cells))
    return out


# What the captions and colours mean, written under each sheet.
CROP_KEY = "captions: c<N> camera N; t train, q query, g gallery; IR infrared"
SCENE_KEY = "green: a labelled identity (its id); yellow: a person without identity"


def _with_key(sheet: Image.Image, text: str) -> Image.Image:
    """``sheet`` with a line of ``text`` added underneath."""
    keyed = Image.new("RGB", (sheet.width, sheet.height + CAPTION), BACKGROUND)
    keyed.paste(sheet, (0, 0))
    ImageDraw.Draw(keyed).text(
        (4, sheet.height + 1), text, fill=(0, 0, 0), font=ImageFont.load_default()
    )
    return keyed


def _crop_sheet(grid: list[tuple[str, list[IndexRow]]], path_root: Path) -> Image.Image:
    font = ImageFont.load_default()
    label_width = 56
    cell_w, cell_h = THUMB[0], THUMB[1] + CAPTION
    columns = max((len(cells) for _, cells in grid), default=1)
    sheet = Image.new(
        "RGB", (label_width + columns * cell_w, max(len(grid), 1) * cell_h), BACKGROUND
    )
    draw = ImageDraw.Draw(sheet)
    for r, (label, cells) in enumerate(grid):
        y = r * cell_h
        draw.text((4, y + cell_h // 2 - 6), label, fill=(0, 0, 0), font=font)
        for c, row in enumerate(cells):
            x = label_width + c * cell_w
            sheet.paste(_fit(_open(path_root, row.path), THUMB), (x, y))
            tag = "IR" if row.modality == "infrared" else row.split[0]
            draw.text((x + 2, y + THUMB[1] + 1), f"c{row.camera} {tag}", fill=(0, 0, 0), font=font)
    return _with_key(sheet, CROP_KEY)


def _scene_sheet(processed_dir: Path, path_root: Path, rng: np.random.Generator) -> Image.Image:
    name = "test.json" if (processed_dir / "test.json").is_file() else "train.json"
    path = processed_dir / name
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        images = sorted(coco["images"], key=lambda im: im["id"])
        boxes: dict[int, list[dict[str, Any]]] = {}
        for ann in coco["annotations"]:
            boxes.setdefault(ann["image_id"], []).append(ann)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a COCO-style person-search file ({exc})") from exc
    with_ids = [
        im for im in images if any(a.get("person_id", -1) >= 0 for a in boxes.get(im["id"], []))
    ]
    chosen = _sample(rng, with_ids or images, MAX_SCENES)
    font = ImageFont.load_default()
    columns = 3
    rows = max(1, (len(chosen) + columns - 1) // columns)
    sheet = Image.new("RGB", (columns * SCENE[0], rows * SCENE[1]), BACKGROUND)
    for k, meta in enumerate(chosen):
        img = _open(path_root, meta["file_name"])
        draw = ImageDraw.Draw(img)
        width = max(1, round(max(img.size) / 320))
        for ann in sorted(boxes.get(meta["id"], []), key=lambda a: a["id"]):
            x, y, w, h = ann["bbox"]
            pid = ann.get("person_id", -1)
            colour = LABELLED if pid >= 0 else UNKNOWN
            draw.rectangle([x, y, x + w - 1, y + h - 1], outline=colour, width=width)
            if pid >= 0:
                draw.text((x + 2, y + 2), str(pid), fill=colour, font=font)
        sheet.paste(_fit(img, SCENE), ((k % columns) * SCENE[0], (k // columns) * SCENE[1]))
    return _with_key(sheet, SCENE_KEY)


def write_contact_sheet(
    processed_dir: str | Path, out_png: str | Path, seed: int = 0, path_root: str | Path = "."
) -> None:
    """Write a contact sheet of one processed dataset.

    Args:
        processed_dir: ``data/processed/<name>/`` (``index.csv``, or ``train.json`` /
            ``test.json``).
        out_png: the PNG to write (atomically).
        seed: sampling seed.
        path_root: what the paths in the processed files are relative to (the
            repository root, the working directory of the stages).

    Raises:
        DataError: no processed format in ``processed_dir``, or an image it lists
            is missing or unreadable.
    """
    processed_dir, path_root = Path(processed_dir), Path(path_root)
    rng = np.random.default_rng(seed)
    if (processed_dir / "index.csv").is_file():
        rows = read_index(processed_dir / "index.csv")
        if not rows:
            raise DataError(f"{processed_dir / 'index.csv'}: no rows to show")
        infrared = any(r.modality == "infrared" for r in rows)
        grid = _vi_rows(rows, rng) if infrared else _reid_rows(rows, rng)
        sheet = _crop_sheet(grid, path_root)
    elif (processed_dir / "test.json").is_file() or (processed_dir / "train.json").is_file():
        sheet = _scene_sheet(processed_dir, path_root, rng)
    else:
        raise DataError(f"{processed_dir}: neither index.csv nor train.json/test.json found")
    with atomic_path(Path(out_png)) as tmp:
        sheet.save(tmp, format="PNG")
