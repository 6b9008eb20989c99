"""ReidImageDataset over index.csv, and the index reader's checks."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from pipeline.data.errors import DataError
from pipeline.data.reid_dataset import ReidImageDataset, ReidSample
from pipeline.data.reid_index import IndexRow, read_index, write_index
from pipeline.data.samplers import PKBatchSampler

ROWS = [
    IndexRow("img/a.png", 1, 1, "train", "visible"),
    IndexRow("img/b.png", 1, 3, "train", "infrared"),
    IndexRow("img/c.png", 2, 2, "train", "visible"),
    IndexRow("img/d.png", 2, 6, "train", "infrared"),
    IndexRow("img/q.png", 3, 3, "query", "infrared"),
    IndexRow("img/g.png", 3, 1, "gallery", "visible"),
]


@pytest.fixture
def index_csv(tmp_path):
    for i, row in enumerate(ROWS):
        (tmp_path / "img").mkdir(exist_ok=True)
        # Infrared images stored as 1-channel, as RegDB's thermal bitmaps are.
        mode = "L" if row.modality == "infrared" else "RGB"
        Image.new(mode, (4, 8), 10 * i if mode == "L" else (10 * i, 0, 255)).save(
            tmp_path / row.path
        )
    write_index(tmp_path / "index.csv", ROWS)
    return tmp_path / "index.csv"


def test_from_index_filters_splits_and_modalities(index_csv, tmp_path):
    train = ReidImageDataset.from_index(index_csv, root=tmp_path)
    assert train.paths == ["img/a.png", "img/b.png", "img/c.png", "img/d.png"]
    assert train.pids.tolist() == [1, 1, 2, 2]
    assert train.cameras.tolist() == [1, 3, 2, 6]
    assert train.modalities.tolist() == [0, 1, 0, 1]
    test_ir = ReidImageDataset.from_index(
        index_csv, splits=("query", "gallery"), modalities=("infrared",), root=tmp_path
    )
    assert test_ir.paths == ["img/q.png"]


def test_item_is_an_rgb_tensor_with_labels(index_csv, tmp_path):
    ds = ReidImageDataset.from_index(index_csv, root=tmp_path)
    sample = ds[1]
    assert isinstance(sample, ReidSample)
    assert sample.image.shape == (3, 8, 4) and sample.image.dtype == torch.float32
    # the 1-channel infrared image (value 10) is replicated to three equal channels
    assert torch.allclose(sample.image, torch.full((3, 8, 4), 10 / 255))
    assert (sample.pid, sample.camera, sample.index, sample.modality) == (1, 3, 1, 1)


def test_per_modality_transforms(index_csv, tmp_path):
    ds = ReidImageDataset.from_index(
        index_csv,
        root=tmp_path,
        transform={"visible": lambda im: torch.zeros(1), "infrared": lambda im: torch.ones(1)},
    )
    assert [ds[i].image.item() for i in range(4)] == [0.0, 1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match=r"no transform given for modality \['infrared'\]"):
        ReidImageDataset.from_index(index_csv, root=tmp_path, transform={"visible": len})


def test_dataloader_with_pk_batches(index_csv, tmp_path):
    ds = ReidImageDataset.from_index(index_csv, root=tmp_path)
    loader = DataLoader(ds, batch_sampler=PKBatchSampler(ds.pids, p=2, k=2, seed=0))
    (batch,) = list(loader)
    assert batch.image.shape == (4, 3, 8, 4)
    assert sorted(batch.pid.tolist()) == [1, 1, 2, 2]
    assert sorted(batch.index.tolist()) == [0, 1, 2, 3]


def test_undecodable_image_names_the_file(index_csv, tmp_path):
    (tmp_path / "img/c.png").write_bytes(b"\x89PNG broken")
    ds = ReidImageDataset.from_index(index_csv, root=tmp_path)
    with pytest.raises(DataError, match="img/c.png: image does not decode"):
        ds[2]
    (tmp_path / "img/c.png").unlink()
    with pytest.raises(DataError, match="img/c.png: image file not found"):
        ds[2]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path,pid,camera,split\n", "header"),
        ("path,pid,camera,split,modality\na.jpg,1,1,train\n", ":2: expected 5 fields"),
        ("path,pid,camera,split,modality\na.jpg,x,1,train,visible\n", ":2: pid/camera"),
        ("path,pid,camera,split,modality\na.jpg,1,1,val,visible\n", ":2: bad split"),
        (
            "path,pid,camera,split,modality\na.jpg,-1,1,train,visible\n",
            ":2: bad split, modality or pid",
        ),
    ],
)
def test_read_index_rejects_malformed_files(tmp_path, text, message):
    (tmp_path / "index.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        read_index(tmp_path / "index.csv")


def test_write_index_rejects_duplicates_and_junk(tmp_path):
    with pytest.raises(DataError, match="listed twice"):
        write_index(tmp_path / "i.csv", [ROWS[0], ROWS[0]])
    with pytest.raises(DataError, match="pid -1 < 0"):
        write_index(tmp_path / "i.csv", [ROWS[0]._replace(pid=-1)])
    assert not (tmp_path / "i.csv").exists()
