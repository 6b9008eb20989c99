"""Contact sheets from the processed formats: layout, boxes drawn, determinism, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.data.contact_sheet import (
    CAPTION,
    LABELLED,
    SCENE,
    THUMB,
    UNKNOWN,
    write_contact_sheet,
)
from pipeline.data.errors import DataError

HEADER = "path,pid,camera,split,modality\n"


def _crop(path: Path, colour: tuple[int, int, int], size=(32, 64)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _reid(root: Path, infrared: bool) -> Path:
    """3 identities x 2 cameras (visible), or x (visible, infrared) pairs."""
    lines = []
    for pid in (1, 2, 3):
        for k, cam in enumerate((1, 3)):
            modality = "infrared" if infrared and cam == 3 else "visible"
            for n in range(2):
                rel = f"imgs/{pid}_{cam}_{n}.png"
                _crop(root / rel, (40 * pid, 60 * k, 20 * n))
                split = "train" if pid == 1 else ("query" if cam == 3 else "gallery")
                lines.append(f"{rel},{pid},{cam},{split},{modality}\n")
    processed = root / "processed"
    processed.mkdir()
    (processed / "index.csv").write_text(HEADER + "".join(sorted(lines)))
    return processed


def test_reid_sheet_one_row_per_identity_one_crop_per_camera(tmp_path: Path) -> None:
    processed = _reid(tmp_path, infrared=False)
    write_contact_sheet(processed, tmp_path / "a.png", seed=0, path_root=tmp_path)
    write_contact_sheet(processed, tmp_path / "b.png", seed=0, path_root=tmp_path)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    with Image.open(tmp_path / "a.png") as sheet:
        # Label column of 56 px, 2 cameras per identity, 3 identities.
        assert sheet.size == (56 + 2 * THUMB[0], 3 * (THUMB[1] + CAPTION) + CAPTION)  # + the key
        pixels = np.asarray(sheet.convert("RGB"))
    # Identity 1, camera 1: the crop (colour (40, 0, 0) or (40, 0, 20)) fills its cell.
    assert tuple(pixels[THUMB[1] // 2, 56 + THUMB[0] // 2][:2]) == (40, 0)


def test_visible_infrared_sheet_pairs_modalities(tmp_path: Path) -> None:
    processed = _reid(tmp_path, infrared=True)
    write_contact_sheet(processed, tmp_path / "vi.png", seed=0, path_root=tmp_path)
    with Image.open(tmp_path / "vi.png") as sheet:
        # 2 visible + 2 infrared crops per identity.
        assert sheet.size == (56 + 4 * THUMB[0], 3 * (THUMB[1] + CAPTION) + CAPTION)
        pixels = np.asarray(sheet.convert("RGB"))
    # Columns 0-1 are camera 1 (visible, green 0), columns 2-3 camera 3 (infrared, green 60).
    row = THUMB[1] // 2
    assert [int(pixels[row, 56 + c * THUMB[0] + THUMB[0] // 2, 1]) for c in range(4)] == [
        0,
        0,
        60,
        60,
    ]


def test_person_search_sheet_draws_labelled_and_unknown_boxes(tmp_path: Path) -> None:
    Image.new("RGB", SCENE, (128, 128, 128)).save(tmp_path / "s1.jpg", quality=95)
    coco = {
        "images": [{"id": 7, "file_name": "s1.jpg", "width": 320, "height": 240, "camera": -1}],
        "annotations": [
            {
                "id": 1,
                "image_id": 7,
                "bbox": [10.0, 20.0, 50.0, 100.0],
                "person_id": 4,
                "category_id": 1,
                "iscrowd": 0,
                "area": 5000.0,
            },
            {
                "id": 2,
                "image_id": 7,
                "bbox": [200.0, 30.0, 40.0, 80.0],
                "person_id": -1,
                "category_id": 1,
                "iscrowd": 0,
                "area": 3200.0,
            },
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    processed = tmp_path / "processed"
    processed.mkdir()
    (processed / "test.json").write_text(json.dumps(coco))
    write_contact_sheet(processed, tmp_path / "ps.png", path_root=tmp_path)
    with Image.open(tmp_path / "ps.png") as sheet:
        assert sheet.size == (3 * SCENE[0], SCENE[1] + CAPTION)  # + the colour key
        pixels = np.asarray(sheet.convert("RGB")).astype(int)
    # The scene fills its cell at scale 1: box edges sit where the annotations say.
    assert np.abs(pixels[70, 10] - LABELLED).max() <= 1  # left edge of [10, 20, 50, 100]
    assert np.abs(pixels[70, 200] - UNKNOWN).max() <= 1  # left edge of [200, 30, 40, 80]
    assert np.abs(pixels[150, 100] - 128).max() <= 3  # inside the scene, no box


def test_errors_name_the_folder_or_image(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="neither index.csv nor train.json/test.json"):
        write_contact_sheet(tmp_path, tmp_path / "x.png")
    processed = _reid(tmp_path, infrared=False)
    (tmp_path / "imgs" / "2_1_0.png").unlink()
    (tmp_path / "imgs" / "2_1_1.png").unlink()
    with pytest.raises(
        DataError, match="2_1_.\\.png: image listed in the processed dataset not found"
    ):
        write_contact_sheet(processed, tmp_path / "x.png", path_root=tmp_path)
    assert not (tmp_path / "x.png").exists()
