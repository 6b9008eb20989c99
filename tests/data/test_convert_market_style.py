"""Market-1501, DukeMTMC-reID and MSMT17 (both layouts) -> index.csv, on tiny fakes."""

from __future__ import annotations

import pytest

from pipeline.data.converters import CONVERTERS, dukemtmc, market1501, msmt17
from pipeline.data.errors import DataError
from pipeline.data.reid_index import HEADER

MARKET = "data/raw/m/Market-1501-v15.09.15"
MARKET_FILES = [
    f"{MARKET}/bounding_box_train/0002_c1s1_000451_03.jpg",
    f"{MARKET}/bounding_box_train/0002_c2s1_000301_01.jpg",
    f"{MARKET}/bounding_box_train/0007_c3s3_015240_04.jpg",
    f"{MARKET}/bounding_box_train/Thumbs.db",
    f"{MARKET}/query/0003_c1s1_000151_00.jpg",
    f"{MARKET}/bounding_box_test/-1_c1s1_000401_03.jpg",
    f"{MARKET}/bounding_box_test/0000_c6s1_000001_02.jpg",
    f"{MARKET}/bounding_box_test/0003_c4s2_002020_01.jpg",
    f"{MARKET}/bounding_box_test/Thumbs.db",
    f"{MARKET}/gt_bbox/0003_c1s1_000151_00.jpg",
]
# Junk (-1) dropped, distractor (0000) kept with pid 0, Thumbs.db and gt_bbox ignored,
# sorted by (split, path).
MARKET_INDEX = f"""{",".join(HEADER)}
{MARKET}/bounding_box_test/0000_c6s1_000001_02.jpg,0,6,gallery,visible
{MARKET}/bounding_box_test/0003_c4s2_002020_01.jpg,3,4,gallery,visible
{MARKET}/query/0003_c1s1_000151_00.jpg,3,1,query,visible
{MARKET}/bounding_box_train/0002_c1s1_000451_03.jpg,2,1,train,visible
{MARKET}/bounding_box_train/0002_c2s1_000301_01.jpg,2,2,train,visible
{MARKET}/bounding_box_train/0007_c3s3_015240_04.jpg,7,3,train,visible
"""


def test_registry_has_every_layout():
    assert sorted(CONVERTERS) == sorted(
        ["market1501", "dukemtmc", "msmt17", "cuhk_sysu", "prw", "sysu_mm01", "regdb"]
    )
    assert CONVERTERS["market1501"] is market1501.convert


def test_market1501(tmp_path, make_files):
    make_files(tmp_path, MARKET_FILES)
    market1501.convert(tmp_path / "data/raw/m", tmp_path / "out", tmp_path)
    assert (tmp_path / "out/index.csv").read_text() == MARKET_INDEX


def test_market1501_found_at_the_raw_folder_itself(tmp_path, make_files):
    make_files(tmp_path, [f.replace("/Market-1501-v15.09.15", "") for f in MARKET_FILES])
    market1501.convert(tmp_path / "data/raw/m", tmp_path / "out", tmp_path)
    expected = MARKET_INDEX.replace("/Market-1501-v15.09.15", "")
    assert (tmp_path / "out/index.csv").read_text() == expected


@pytest.mark.parametrize(
    ("bad_name", "message"),
    [
        ("0002_c1.jpg", "file name does not match"),
        ("0002_c7s1_000451_03.jpg", "camera 7 outside 1..6"),
        ("-2_c1s1_000451_03.jpg", "pid -2 < -1"),
    ],
)
def test_market1501_bad_name_is_named(tmp_path, make_files, bad_name, message):
    make_files(tmp_path, [*MARKET_FILES, f"{MARKET}/query/{bad_name}"])
    with pytest.raises(DataError, match=message) as err:
        market1501.convert(tmp_path / "data/raw/m", tmp_path / "out", tmp_path)
    assert bad_name in str(err.value)
    assert not (tmp_path / "out").exists()


def test_market1501_missing_folder(tmp_path, make_files):
    make_files(tmp_path, [f for f in MARKET_FILES if "/query/" not in f])
    with pytest.raises(DataError, match="no Market-1501 layout found"):
        market1501.convert(tmp_path / "data/raw/m", tmp_path / "out", tmp_path)


def test_market1501_image_decoding_is_an_option(tmp_path, make_files, make_images):
    make_images(tmp_path, [f for f in MARKET_FILES if f.endswith(".jpg")])
    market1501.convert(tmp_path / "data/raw/m", tmp_path / "o1", tmp_path, verify_images=True)
    assert (tmp_path / "o1/index.csv").read_text() == MARKET_INDEX
    broken = f"{MARKET}/query/0003_c1s1_000151_00.jpg"
    make_files(tmp_path, [broken], b"not a jpeg")
    market1501.convert(tmp_path / "data/raw/m", tmp_path / "o2", tmp_path)  # names only
    with pytest.raises(DataError, match="image does not decode") as err:
        market1501.convert(tmp_path / "data/raw/m", tmp_path / "o3", tmp_path, verify_images=True)
    assert broken in str(err.value)


DUKE = "data/raw/d/DukeMTMC-reID"


def test_dukemtmc(tmp_path, make_files):
    make_files(
        tmp_path,
        [
            f"{DUKE}/bounding_box_train/0005_c2_f0046985.jpg",
            f"{DUKE}/bounding_box_train/0005_c8_f0050000.jpg",
            f"{DUKE}/query/0011_c7_f0100000.jpg",
            f"{DUKE}/bounding_box_test/0011_c1_f0090000.jpg",
            f"{DUKE}/bounding_box_test/0012_c6_f0091000.jpg",
            f"{DUKE}/bounding_box_test/Thumbs.db",
        ],
    )
    dukemtmc.convert(tmp_path / "data/raw/d", tmp_path / "out", tmp_path)
    assert (tmp_path / "out/index.csv").read_text() == (
        "path,pid,camera,split,modality\n"
        f"{DUKE}/bounding_box_test/0011_c1_f0090000.jpg,11,1,gallery,visible\n"
        f"{DUKE}/bounding_box_test/0012_c6_f0091000.jpg,12,6,gallery,visible\n"
        f"{DUKE}/query/0011_c7_f0100000.jpg,11,7,query,visible\n"
        f"{DUKE}/bounding_box_train/0005_c2_f0046985.jpg,5,2,train,visible\n"
        f"{DUKE}/bounding_box_train/0005_c8_f0050000.jpg,5,8,train,visible\n"
    )


def test_dukemtmc_rejects_market_names_and_camera_9(tmp_path, make_files):
    base = [f"{DUKE}/bounding_box_train/0005_c2_f0046985.jpg", f"{DUKE}/query/0011_c7_f01.jpg"]
    make_files(tmp_path, [*base, f"{DUKE}/bounding_box_test/0011_c9_f0090000.jpg"])
    with pytest.raises(DataError, match="camera 9 outside 1..8"):
        dukemtmc.convert(tmp_path / "data/raw/d", tmp_path / "out", tmp_path)
    (tmp_path / f"{DUKE}/bounding_box_test/0011_c9_f0090000.jpg").unlink()
    make_files(tmp_path, [f"{DUKE}/bounding_box_test/0002_c1s1_000451_03.jpg"])
    with pytest.raises(DataError, match="0002_c1s1_000451_03.jpg: file name does not match"):
        dukemtmc.convert(tmp_path / "data/raw/d", tmp_path / "out", tmp_path)


MSMT = "data/raw/s/MSMT17_V1"
MSMT_LISTS = {
    "list_train.txt": "0000/0000_000_01_0303morning_0015_0.jpg 0\n"
    "0001/0001_000_05_0303morning_0030_1.jpg 1\n",
    "list_val.txt": "0001/0001_001_12_0303noon_0100_0.jpg 1\n",
    "list_query.txt": "0000/0000_000_15_0303afternoon_0040_0.jpg 0\n",
    "list_gallery.txt": "0000/0000_001_02_0303afternoon_0050_0.jpg 0\n"
    "0001/0001_000_14_0303noon_0060_1.jpg 1\n",
}


def make_msmt(tmp_path, make_files, train="train", test="test", lists=None):
    lists = dict(MSMT_LISTS, **(lists or {}))
    for name, text in lists.items():
        folder = test if name in ("list_query.txt", "list_gallery.txt") else train
        make_files(tmp_path, [f"{MSMT}/{folder}/{line.split()[0]}" for line in text.splitlines()])
        (tmp_path / MSMT / name).write_text(text)


def msmt_index(train: str, test: str) -> str:
    # Train pids 0, 1 -> 1, 2; test pids restart at 0 -> 0 + 1 + 2 = 3, 4.
    return (
        "path,pid,camera,split,modality\n"
        f"{MSMT}/{test}/0000/0000_001_02_0303afternoon_0050_0.jpg,3,2,gallery,visible\n"
        f"{MSMT}/{test}/0001/0001_000_14_0303noon_0060_1.jpg,4,14,gallery,visible\n"
        f"{MSMT}/{test}/0000/0000_000_15_0303afternoon_0040_0.jpg,3,15,query,visible\n"
        f"{MSMT}/{train}/0000/0000_000_01_0303morning_0015_0.jpg,1,1,train,visible\n"
        f"{MSMT}/{train}/0001/0001_000_05_0303morning_0030_1.jpg,2,5,train,visible\n"
        f"{MSMT}/{train}/0001/0001_001_12_0303noon_0100_0.jpg,2,12,train,visible\n"
    )


@pytest.mark.parametrize(("train", "test"), [("train", "test"), ("mask_train_v2", "mask_test_v2")])
def test_msmt17_list_layout(tmp_path, make_files, train, test):
    make_msmt(tmp_path, make_files, train, test)
    msmt17.convert(tmp_path / "data/raw/s", tmp_path / "out", tmp_path)
    assert (tmp_path / "out/index.csv").read_text() == msmt_index(train, test)


@pytest.mark.parametrize(
    ("lists", "message"),
    [
        ({"list_val.txt": "0001/0001_001_12_0303noon_0100_0.jpg\n"}, "list_val.txt:1: expected"),
        ({"list_query.txt": "0000/0000_x.jpg 0\n"}, "list_query.txt:1: no camera"),
        ({"list_query.txt": "0000/0000_000_16_0303_0040_0.jpg 0\n"}, "camera 16 outside"),
        ({"list_gallery.txt": "../0000_001_02_0303_0050_0.jpg 0\n"}, "leaves"),
    ],
)
def test_msmt17_malformed_line_names_file_and_line(tmp_path, make_files, lists, message):
    make_msmt(tmp_path, make_files, lists=lists)
    with pytest.raises(DataError, match=message):
        msmt17.convert(tmp_path / "data/raw/s", tmp_path / "out", tmp_path)


def test_msmt17_missing_list_or_image(tmp_path, make_files):
    make_msmt(tmp_path, make_files)
    (tmp_path / MSMT / "test/0001/0001_000_14_0303noon_0060_1.jpg").unlink()
    with pytest.raises(DataError, match=r"list_gallery.txt:2: image .*0001_000_14.* not found"):
        msmt17.convert(tmp_path / "data/raw/s", tmp_path / "out", tmp_path)
    (tmp_path / MSMT / "list_val.txt").unlink()
    with pytest.raises(DataError, match="list_val.txt: list file not found"):
        msmt17.convert(tmp_path / "data/raw/s", tmp_path / "out", tmp_path)


def test_msmt17_repacked_market_style(tmp_path, make_files):
    root = "data/raw/s/MSMT17"
    make_files(
        tmp_path,
        [
            f"{root}/bounding_box_train/0000_c1_0001.jpg",
            f"{root}/bounding_box_train/0001_c14_0002.jpg",
            f"{root}/bounding_box_train/Thumbs.db",
            f"{root}/query/0000_c15_0003.jpg",
            f"{root}/bounding_box_test/0000_c2_0004.jpg",
            f"{root}/bounding_box_test/0001_c11_0005.jpg",
        ],
    )
    msmt17.convert(tmp_path / "data/raw/s", tmp_path / "out", tmp_path)
    assert (tmp_path / "out/index.csv").read_text() == (
        "path,pid,camera,split,modality\n"
        f"{root}/bounding_box_test/0000_c2_0004.jpg,3,2,gallery,visible\n"
        f"{root}/bounding_box_test/0001_c11_0005.jpg,4,11,gallery,visible\n"
        f"{root}/query/0000_c15_0003.jpg,3,15,query,visible\n"
        f"{root}/bounding_box_train/0000_c1_0001.jpg,1,1,train,visible\n"
        f"{root}/bounding_box_train/0001_c14_0002.jpg,2,14,train,visible\n"
    )


def test_msmt17_no_layout(tmp_path):
    (tmp_path / "data/raw/s/stuff").mkdir(parents=True)
    with pytest.raises(DataError, match="no MSMT17 .* layout found"):
        msmt17.convert(tmp_path / "data/raw/s", tmp_path / "out", tmp_path)
