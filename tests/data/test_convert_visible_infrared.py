"""SYSU-MM01 and RegDB -> index.csv (RegDB: one per split), on tiny fakes."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.data.converters import regdb, sysu_mm01
from pipeline.data.errors import DataError
from pipeline.data.reid_index import read_gallery_trials, read_index
from pipeline.data.synthetic.matfile import cell_column, save_mat

SYSU = "data/raw/v/SYSU-MM01"
SYSU_FILES = [
    "cam1/0001/0001.jpg",
    "cam3/0001/0001.jpg",
    "cam2/0003/0002.jpg",
    "cam6/0003/0001.jpg",
    "cam4/0002/0007.jpg",
    "cam1/0004/0001.jpg",
    "cam3/0004/0001.jpg",
    "cam5/0005/0001.jpg",
    "cam6/0005/0003.jpg",
    "cam2/0009/0001.jpg",  # identity 9 is in no list: ignored
    "cam5/0005/Thumbs.db",
]
SYSU_IDS = {"train_id.txt": "1,2", "val_id.txt": "3\n", "test_id.txt": "4,5"}
# Train + val ids from every camera; test IR (cams 3, 6) -> query, test RGB -> gallery.
SYSU_INDEX = f"""path,pid,camera,split,modality
{SYSU}/cam1/0004/0001.jpg,4,1,gallery,visible
{SYSU}/cam5/0005/0001.jpg,5,5,gallery,visible
{SYSU}/cam3/0004/0001.jpg,4,3,query,infrared
{SYSU}/cam6/0005/0003.jpg,5,6,query,infrared
{SYSU}/cam1/0001/0001.jpg,1,1,train,visible
{SYSU}/cam2/0003/0002.jpg,3,2,train,visible
{SYSU}/cam3/0001/0001.jpg,1,3,train,infrared
{SYSU}/cam4/0002/0007.jpg,2,4,train,visible
{SYSU}/cam6/0003/0001.jpg,3,6,train,infrared
"""


def make_sysu(tmp_path, make_files, ids=None):
    make_files(tmp_path, [f"{SYSU}/{f}" for f in SYSU_FILES])
    (tmp_path / SYSU / "exp").mkdir()
    for name, text in dict(SYSU_IDS, **(ids or {})).items():
        if text is not None:
            (tmp_path / SYSU / "exp" / name).write_text(text)


def test_sysu_mm01(tmp_path, make_files):
    make_sysu(tmp_path, make_files)
    sysu_mm01.convert(tmp_path / "data/raw/v", tmp_path / "out", tmp_path)
    assert (tmp_path / "out/index.csv").read_text() == SYSU_INDEX


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ({"val_id.txt": None}, "val_id.txt: identity list not found"),
        ({"train_id.txt": "1,x"}, r"train_id.txt: not positive integer identity numbers: \['x'\]"),
        ({"test_id.txt": "4,3"}, "both in training and test lists: \\[3\\]"),
        ({"test_id.txt": ""}, "test_id.txt: identity list is empty"),
    ],
)
def test_sysu_mm01_bad_id_files(tmp_path, make_files, ids, message):
    make_sysu(tmp_path, make_files, ids)
    with pytest.raises(DataError, match=message):
        sysu_mm01.convert(tmp_path / "data/raw/v", tmp_path / "out", tmp_path)
    assert not (tmp_path / "out").exists()


def test_sysu_mm01_needs_all_six_cameras(tmp_path, make_files):
    make_sysu(tmp_path, make_files)
    for f in (tmp_path / SYSU / "cam4").rglob("*.jpg"):
        f.unlink()
    for d in sorted((tmp_path / SYSU / "cam4").rglob("*"), reverse=True):
        d.rmdir()
    (tmp_path / SYSU / "cam4").rmdir()
    with pytest.raises(DataError, match="no SYSU-MM01 layout found"):
        sysu_mm01.convert(tmp_path / "data/raw/v", tmp_path / "out", tmp_path)


def write_rand_perm(tmp_path, entries: dict[tuple[int, int], list[list[int]]]) -> None:
    """exp/rand_perm_cam.mat in the real file's structure: 6x1 cell of per-pid cells."""
    cams = []
    for cam in range(1, 7):
        top = max([pid for c, pid in entries if c == cam], default=0)
        rows = [
            np.array(entries.get((cam, pid), np.zeros((2, 0))), np.uint8)
            for pid in range(1, top + 1)
        ]
        cams.append(cell_column(rows))
    save_mat(tmp_path / SYSU / "exp" / "rand_perm_cam.mat", {"rand_perm_cam": cell_column(cams)})


def test_sysu_mm01_carries_rand_perm_cam_for_the_test_gallery(tmp_path, make_files):
    make_sysu(tmp_path, make_files)
    make_files(tmp_path, [f"{SYSU}/cam1/0004/0002.jpg", f"{SYSU}/cam1/0004/0003.jpg"])
    # Test ids 4 and 5: cam1 id 4 (3 images), cam5 id 5 (1 image); cam3 (infrared) and
    # train id 1 are not gallery draws and are not carried.
    write_rand_perm(
        tmp_path,
        {
            (1, 1): [[1], [1]],
            (1, 4): [[3, 1, 2], [2, 3, 1]],
            (3, 4): [[1], [1]],
            (5, 5): [[1], [1]],
        },
    )
    sysu_mm01.convert(tmp_path / "data/raw/v", tmp_path / "out", tmp_path)
    assert read_gallery_trials(tmp_path / "out") == {
        (1, 4): [[3, 1, 2], [2, 3, 1]],
        (5, 5): [[1], [1]],
    }


def test_sysu_mm01_without_rand_perm_cam_writes_no_trials(tmp_path, make_files):
    make_sysu(tmp_path, make_files)
    sysu_mm01.convert(tmp_path / "data/raw/v", tmp_path / "out", tmp_path)
    assert read_gallery_trials(tmp_path / "out") is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ([[1, 2], [2, 1]], r"cam1 id 4 permutes images 1..2, but .* \(1 images\)"),
        ([[1, 1]], r"rand_perm_cam\{1\}\{4\}: a row is not a permutation of 1..2"),
    ],
)
def test_sysu_mm01_rand_perm_cam_must_fit_the_images(tmp_path, make_files, entry, message):
    make_sysu(tmp_path, make_files)
    write_rand_perm(tmp_path, {(1, 4): entry})
    with pytest.raises(DataError, match=message):
        sysu_mm01.convert(tmp_path / "data/raw/v", tmp_path / "out", tmp_path)


REGDB = "data/raw/r/RegDB"
IDS = (1, 2, 3, 4)


def _regdb_name(pid: int, modality: str) -> str:
    folder, letter = ("Visible", "v") if modality == "visible" else ("Thermal", "t")
    return f"{folder}/{pid}/male_front_{letter}_{pid:05d}_{pid}.bmp"


def make_regdb(tmp_path, make_files, skip=None):
    """Four identities; odd splits train on {1, 2} and test on {3, 4}, even splits the reverse."""
    make_files(tmp_path, [f"{REGDB}/{_regdb_name(p, m)}" for p in IDS for m in ("visible", "t")])
    idx = tmp_path / REGDB / "idx"
    idx.mkdir()
    for k in range(1, 11):
        train, test = ((1, 2), (3, 4)) if k % 2 else ((3, 4), (1, 2))
        for part, pids in (("train", train), ("test", test)):
            for modality in ("visible", "thermal"):
                if skip == f"{part}_{modality}_{k}.txt":
                    continue
                lines = [f"{_regdb_name(p, modality)} {i}" for i, p in enumerate(pids)]
                (idx / f"{part}_{modality}_{k}.txt").write_text("\n".join(lines) + "\n")


def regdb_index(train, test) -> str:
    rows = [
        *(f"{REGDB}/{_regdb_name(p, 't')},{p},2,gallery,infrared" for p in test),
        *(f"{REGDB}/{_regdb_name(p, 'visible')},{p},1,query,visible" for p in test),
        *(f"{REGDB}/{_regdb_name(p, 't')},{p},2,train,infrared" for p in train),
        *(f"{REGDB}/{_regdb_name(p, 'visible')},{p},1,train,visible" for p in train),
    ]
    return "path,pid,camera,split,modality\n" + "\n".join(rows) + "\n"


def test_regdb_ten_splits(tmp_path, make_files):
    make_regdb(tmp_path, make_files)
    regdb.convert(tmp_path / "data/raw/r", tmp_path / "out", tmp_path)
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "splits").iterdir()) == sorted(map(str, range(1, 11)))
    assert (out / "splits/1/index.csv").read_text() == regdb_index((1, 2), (3, 4))
    assert (out / "splits/2/index.csv").read_text() == regdb_index((3, 4), (1, 2))
    assert (out / "splits/10/index.csv").read_text() == regdb_index((3, 4), (1, 2))
    assert (out / "index.csv").read_text() == (out / "splits/1/index.csv").read_text()
    rows = read_index(out / "index.csv")
    assert {r.pid for r in rows if r.split == "train"} == {1, 2}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Thermal/1/male_front_t_00001_1.bmp 0", "expected 'Visible/<pid>/<name>'"),
        ("Visible/1/male_front_v_00001_1.bmp", "expected '<path> <label>'"),
        ("Visible/x/male_front_v_00001_1.bmp 0", "expected 'Visible/<pid>/<name>'"),
    ],
)
def test_regdb_malformed_line(tmp_path, make_files, line, message):
    make_regdb(tmp_path, make_files)
    (tmp_path / REGDB / "idx/train_visible_3.txt").write_text(line + "\n")
    with pytest.raises(DataError, match=f"train_visible_3.txt:1: {message}"):
        regdb.convert(tmp_path / "data/raw/r", tmp_path / "out", tmp_path)


def test_regdb_inconsistent_labels(tmp_path, make_files):
    make_regdb(tmp_path, make_files)
    a, b = _regdb_name(1, "visible"), _regdb_name(1, "visible").replace("00001_1", "00002_1")
    (tmp_path / REGDB / "idx/train_visible_1.txt").write_text(f"{a} 0\n{b} 1\n")
    with pytest.raises(DataError, match="train_visible_1.txt:2: identity 1 has labels 0 and 1"):
        regdb.convert(tmp_path / "data/raw/r", tmp_path / "out", tmp_path)


def test_regdb_missing_list_or_image(tmp_path, make_files):
    make_regdb(tmp_path, make_files, skip="test_thermal_7.txt")
    with pytest.raises(DataError, match="test_thermal_7.txt: split list not found"):
        regdb.convert(tmp_path / "data/raw/r", tmp_path / "out", tmp_path)
    (tmp_path / REGDB / "idx/test_thermal_7.txt").write_text(
        (tmp_path / REGDB / "idx/test_thermal_1.txt").read_text()
    )
    (tmp_path / REGDB / _regdb_name(4, "t")).unlink()
    with pytest.raises(DataError, match=r"Thermal/4/male_front_t_00004_4.bmp: image listed in"):
        regdb.convert(tmp_path / "data/raw/r", tmp_path / "out", tmp_path)
    assert not (tmp_path / "out").exists()
