"""The four synthetic layouts: determinism, the real file layouts, and params errors."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from pipeline.data.synthetic import render
from pipeline.data.synthetic.matfile import HEADER_BYTES, HEADER_TEXT
from pipeline.data.synthetic.parallel import PROCESSES_ENV, default_processes, ordered_map
from pipeline.params import ParamsError
from tests.real_config import render_params

TINY = {
    "market1501": {
        "num_train_ids": 2,
        "num_test_ids": 3,
        "min_images_per_camera": 1,
        "max_images_per_camera": 2,
        "num_distractors": 2,
        "num_junk": 2,
        "num_val_ids": 0,
    },
    "cuhk_sysu": {
        "num_train_scenes": 4,
        "num_test_scenes": 4,
        "num_train_ids": 2,
        "num_test_ids": 2,
        "gallery_sizes": [2, 3],
        "num_zero_size_boxes": 1,
    },
    "sysu_mm01": {
        "num_train_ids": 1,
        "num_val_ids": 1,
        "num_test_ids": 2,
        "min_images_per_camera": 1,
        "max_images_per_camera": 2,
    },
    "regdb": {"num_ids": 4, "images_per_id": 2},
}
MARKET_NAME = re.compile(r"(-1|\d{4})_c([1-6])s([1-6])_(\d{6})_(\d{2})\.jpg")
REGDB_NAME = re.compile(r"(female|male)_(front|back)_([vt])_(\d{5})_(\d+)\.bmp")


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("layout", sorted(TINY))
def test_processes_change_nothing_but_the_time(
    layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Units render on forked workers; the files and counts equal a one-process render."""
    monkeypatch.setenv(PROCESSES_ENV, "1")
    alone = render(layout, render_params(layout, {"seed": 5, **TINY[layout]}), tmp_path / "one")
    monkeypatch.setenv(PROCESSES_ENV, "3")
    shared = render(layout, render_params(layout, {"seed": 5, **TINY[layout]}), tmp_path / "three")
    assert shared == alone
    assert _digest(tmp_path / "three") == _digest(tmp_path / "one")


def test_ordered_map_keeps_input_order_and_raises_a_unit_error() -> None:
    squares = ordered_map(lambda n: n * n, range(40), processes=2)
    assert squares == [n * n for n in range(40)]

    def fail_on_seven(n: int) -> int:
        if n == 7:
            raise RuntimeError("unit 7 failed")
        return n

    with pytest.raises(RuntimeError, match="unit 7 failed"):
        ordered_map(fail_on_seven, range(10), processes=2)


def test_bad_process_count_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROCESSES_ENV, "zero")
    with pytest.raises(ValueError, match=PROCESSES_ENV):
        default_processes()


@pytest.mark.parametrize("layout", sorted(TINY))
def test_same_seed_same_bytes_other_seed_differs(layout: str, tmp_path: Path) -> None:
    first = render(layout, render_params(layout, {"seed": 3, **TINY[layout]}), tmp_path / "a")
    again = render(layout, render_params(layout, {"seed": 3, **TINY[layout]}), tmp_path / "b")
    render(layout, render_params(layout, {"seed": 4, **TINY[layout]}), tmp_path / "c")
    assert first == again
    digest_a, digest_b, digest_c = (_digest(tmp_path / n) for n in "abc")
    assert digest_a == digest_b
    assert len(digest_a) > 5
    # Another seed changes the images (names may coincide, content must not).
    shared = set(digest_a) & set(digest_c)
    assert digest_a != digest_c
    assert sum(digest_a[k] != digest_c[k] for k in shared) >= len(shared) // 2


def test_market_layout_names_sizes_and_counts(tmp_path: Path) -> None:
    counts = render(
        "market1501", render_params("market1501", {"seed": 0, **TINY["market1501"]}), tmp_path
    )
    folders = {
        name: sorted((tmp_path / name).iterdir())
        for name in ("bounding_box_train", "bounding_box_test", "query")
    }
    assert (tmp_path / "bounding_box_test" / "Thumbs.db").is_file()
    parsed = {}
    for name, paths in folders.items():
        jpgs = [p for p in paths if p.suffix == ".jpg"]
        for p in jpgs:
            match = MARKET_NAME.fullmatch(p.name)
            assert match, p.name
            with Image.open(p) as img:
                assert img.size == (64, 128) and img.mode == "RGB"
        parsed[name] = [int(MARKET_NAME.fullmatch(p.name).group(1)) for p in jpgs]
    train, test, query = parsed["bounding_box_train"], parsed["bounding_box_test"], parsed["query"]
    assert len(train) == counts["train"]
    assert len(query) == counts["query"]
    assert test.count(0) == counts["distractors"] == 2
    assert test.count(-1) == counts["junk"] == 2
    assert len(test) == counts["gallery"] + 4
    assert len(set(train)) == counts["train_ids"] == 2
    test_ids = {p for p in test if p > 0}
    assert len(test_ids) == counts["test_ids"] == 3
    assert not set(train) & test_ids
    assert set(query) == test_ids


def test_market_validation_ids_are_added_and_change_nothing_else(tmp_path: Path) -> None:
    plain = render(
        "market1501", render_params("market1501", {"seed": 0, **TINY["market1501"]}), tmp_path / "a"
    )
    counts = render(
        "market1501",
        render_params("market1501", {"seed": 0, **TINY["market1501"], "num_val_ids": 2}),
        tmp_path / "b",
    )
    before, after = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert {k: after[k] for k in before} == before  # every other image byte-identical
    added = sorted(set(after) - set(before))
    assert added and all(k.startswith("bounding_box_train/") for k in added)
    # Their own numbers after the train and test ids (2 + 3): 6 and 7.
    assert {int(MARKET_NAME.fullmatch(Path(k).name).group(1)) for k in added} == {6, 7}
    assert counts["val_ids"] == 2 and plain["val_ids"] == 0
    assert counts["train"] == plain["train"] + len(added)


def test_sysu_layout_ids_cameras_and_infrared(tmp_path: Path) -> None:
    counts = render(
        "sysu_mm01", render_params("sysu_mm01", {"seed": 0, **TINY["sysu_mm01"]}), tmp_path
    )
    ids = {}
    for split in ("train", "val", "test"):
        text = (tmp_path / "exp" / f"{split}_id.txt").read_text()
        assert "\n" not in text.strip()
        ids[split] = [int(v) for v in text.split(",")]
    assert [len(ids[s]) for s in ("train", "val", "test")] == [1, 1, 2]
    assert len(set(ids["train"] + ids["val"] + ids["test"])) == 4
    images = 0
    for pid in ids["train"] + ids["val"] + ids["test"]:
        cams = {c for c in range(1, 7) if (tmp_path / f"cam{c}" / f"{pid:04d}").is_dir()}
        # Every identity: two RGB cameras at least, one infrared at least.
        assert len(cams & {1, 2, 4, 5}) >= 2 and cams & {3, 6}
        for cam in cams:
            names = sorted(p.name for p in (tmp_path / f"cam{cam}" / f"{pid:04d}").iterdir())
            assert names == [f"{n:04d}.jpg" for n in range(1, len(names) + 1)]
            images += len(names)
            with Image.open(tmp_path / f"cam{cam}" / f"{pid:04d}" / names[0]) as img:
                pixels = np.asarray(img.convert("RGB")).astype(int)
            equal = (
                np.abs(pixels[..., 0] - pixels[..., 1]).max() <= 1
                and np.abs(pixels[..., 1] - pixels[..., 2]).max() <= 1
            )
            assert equal == (cam in (3, 6)), (cam, pid)
    assert images == sum(v for k, v in counts.items() if not k.endswith("_ids"))


def test_sysu_rand_perm_cam_has_the_real_files_structure(tmp_path: Path) -> None:
    render("sysu_mm01", render_params("sysu_mm01", {"seed": 0, **TINY["sysu_mm01"]}), tmp_path)
    raw = scipy.io.loadmat(tmp_path / "exp" / "rand_perm_cam.mat")["rand_perm_cam"]
    # As wuancong/SYSU-MM01 evaluation/data_split/rand_perm_cam.mat: a 6x1 cell of Nx1 cells
    # (N: the camera's largest identity) of 10 x n uint8 permutations, 10 x 0 where unseen.
    assert raw.shape == (6, 1) and raw.dtype == object
    for cam in range(1, 7):
        seen = {int(p.name): p for p in (tmp_path / f"cam{cam}").iterdir()}
        cell = raw[cam - 1, 0]
        assert cell.dtype == object and cell.shape == (max(seen, default=0), 1)
        for pid in range(1, cell.shape[0] + 1):
            entry = cell[pid - 1, 0]
            count = len(list(seen[pid].iterdir())) if pid in seen else 0
            assert entry.dtype == np.uint8 and entry.shape == (10, count)
            assert (np.sort(entry, axis=1) == np.arange(1, count + 1)).all()
            if count > 2:  # the trials differ
                assert len({tuple(row) for row in entry}) > 1


def test_regdb_layout_pairs_names_and_splits(tmp_path: Path) -> None:
    counts = render(
        "regdb", render_params("regdb", {"seed": 0, "num_ids": 6, "images_per_id": 3}), tmp_path
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Thermal", "Visible", "idx"]
    pairs = {}
    for folder, letter, size in (("Visible", "v", (64, 128)), ("Thermal", "t", (56, 112))):
        assert sorted(int(p.name) for p in (tmp_path / folder).iterdir()) == list(range(1, 7))
        for path in sorted((tmp_path / folder).glob("*/*")):
            match = REGDB_NAME.fullmatch(path.name)
            assert match and match[3] == letter and match[5] == path.parent.name, path
            with Image.open(path) as img:
                assert img.format == "BMP" and img.size == size and img.mode == "RGB"
                pixels = np.asarray(img).astype(int)
            # Thermal: one channel copied into three.
            assert (pixels == pixels[..., :1]).all() == (folder == "Thermal"), path
            pairs.setdefault(match[4], []).append((match[1], match[2], int(match[5])))
    # A dual camera: each serial is one visible and one thermal image of one shot.
    assert len(pairs) == counts["visible"] == counts["thermal"] == 18
    assert all(len(shot) == 2 and shot[0] == shot[1] for shot in pairs.values())
    shots: dict[int, list[tuple[str, str]]] = {}
    for serial in sorted(pairs):
        gender, view, pid = pairs[serial][0]
        shots.setdefault(pid, []).append((gender, view))
    assert sorted(shots) == list(range(1, 7))
    for walk in shots.values():
        views = [view for _, view in walk]
        # Toward the camera first, then away: front views, then back views.
        assert views[0] == "front" and views[-1] == "back" and views == sorted(views, reverse=True)
        assert len({gender for gender, _ in walk}) == 1
    names = sorted((tmp_path / "idx").iterdir())
    assert [p.name for p in names] == sorted(
        f"{part}_{modality}_{k}.txt"
        for part in ("train", "test")
        for modality in ("visible", "thermal")
        for k in range(1, 11)
    )
    halves = set()
    for k in range(1, 11):
        lists = {}
        for part in ("train", "test"):
            for modality, folder in (("visible", "Visible"), ("thermal", "Thermal")):
                lines = (tmp_path / "idx" / f"{part}_{modality}_{k}.txt").read_text().splitlines()
                rows = [(line.split()[0], int(line.split()[1])) for line in lines]
                assert all(path.startswith(f"{folder}/") for path, _ in rows)
                assert all((tmp_path / path).is_file() for path, _ in rows)
                labels = {int(path.split("/")[1]): label for path, label in rows}
                # Labels rank the list's identities: 0..N-1 in identity order.
                assert list(labels.values()) == list(range(len(labels)))
                assert list(labels) == sorted(labels)
                lists[part, modality] = labels
        assert lists["train", "visible"] == lists["train", "thermal"]
        assert lists["test", "visible"] == lists["test", "thermal"]
        train, test = set(lists["train", "visible"]), set(lists["test", "visible"])
        assert len(train) == len(test) == counts["train_ids"] == 3
        assert train | test == set(range(1, 7))
        halves.add(frozenset(train))
    assert len(halves) > 1


def test_cuhk_mat_files_read_like_the_real_ones(tmp_path: Path) -> None:
    counts = render(
        "cuhk_sysu", render_params("cuhk_sysu", {"seed": 0, **TINY["cuhk_sysu"]}), tmp_path
    )
    ann = tmp_path / "annotation"
    raw = (ann / "Images.mat").read_bytes()
    assert raw[:HEADER_BYTES] == HEADER_TEXT.ljust(HEADER_BYTES, b" ")
    img = scipy.io.loadmat(ann / "Images.mat")["Img"]
    assert img.shape == (1, 8) and img.dtype.names == ("imname", "nAppear", "box")
    boxes = {}
    for rec in img[0]:
        name = str(rec["imname"][0])
        assert (tmp_path / "Image" / "SSM" / name).is_file()
        box = rec["box"]
        assert box.shape[0] == 1 and box.dtype.names == ("idlocate", "ishard")
        assert int(rec["nAppear"][0, 0]) == box.shape[1]
        boxes[name] = [tuple(b["idlocate"][0]) for b in box[0]]
    zero = [b for bs in boxes.values() for b in bs if b[2] == 0 or b[3] == 0]
    assert len(zero) == counts["zero_size_boxes"] == 1
    pool = scipy.io.loadmat(ann / "pool.mat")["pool"]
    assert pool.shape == (4, 1)
    pool_names = {str(p[0]) for p in pool[:, 0]}
    train = scipy.io.loadmat(tmp_path / "annotation/test/train_test/Train.mat")["Train"]
    assert train.shape == (2, 1)
    train_ids = set()
    for cell in train[:, 0]:
        assert cell.shape == (1, 1) and cell.dtype.names == ("idname", "nAppear", "scene")
        idname, n_appear, scene = cell[0, 0]
        train_ids.add(str(idname[0]))
        assert scene.shape == (1, int(n_appear[0, 0])) and scene.shape[1] >= 2
        for name, box, _ in scene[0]:
            assert str(name[0]) not in pool_names
            assert tuple(box[0]) in boxes[str(name[0])]
    galleries = {}
    for size in (2, 3):
        test = scipy.io.loadmat(tmp_path / f"annotation/test/train_test/TestG{size}.mat")[
            f"TestG{size}"
        ]
        assert test.shape == (1, 2) and test.dtype.names == ("Query", "Gallery")
        for query, gallery in test[0]:
            assert query.shape == (1, 1) and gallery.shape == (1, size)
            qname, qbox, _, idname = query[0, 0]
            assert str(idname[0]) not in train_ids
            assert str(qname[0]) in pool_names and tuple(qbox[0]) in boxes[str(qname[0])]
            present = [g[1].size > 0 for g in gallery[0]]
            # Images holding the person first, then images without it (1x0 idlocate).
            assert present == sorted(present, reverse=True) and present[0]
            for name, box, _ in gallery[0]:
                assert str(name[0]) in pool_names and str(name[0]) != str(qname[0])
                assert box.shape in ((1, 4), (1, 0))
                if box.size:
                    assert tuple(box[0]) in boxes[str(name[0])]
            galleries.setdefault(str(idname[0]), []).append([str(g[0][0]) for g in gallery[0]])
    # Galleries of all sizes share the queries, the smaller nested in the larger.
    for small, large in galleries.values():
        assert large[: len(small)] == small


def test_render_reports_bad_params_under_the_prefix(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match=r"datasets\.x\.render: layout 'prw' cannot be rendered"):
        render("prw", {}, tmp_path, prefix="datasets.x.render")
    # No defaults in code: the sizes come from conf/ (tests/test_defaults.py).
    with pytest.raises(
        ParamsError, match=r"datasets\.x\.render\.num_junk: required key is missing"
    ):
        render("market1501", {"seed": 0}, tmp_path, prefix="datasets.x.render")
    with pytest.raises(ParamsError, match=r"datasets\.x\.render\.num_cams: unknown key"):
        render(
            "market1501",
            render_params("market1501", {"num_cams": 3}),
            tmp_path,
            prefix="datasets.x.render",
        )
    with pytest.raises(
        ParamsError, match=r"min_cameras_per_id \(5\) is larger than max_cameras_per_id \(4\)"
    ):
        render(
            "market1501",
            render_params("market1501", {"min_cameras_per_id": 5}),
            tmp_path,
            prefix="datasets.x.render",
        )
    with pytest.raises(ParamsError, match=r"datasets\.x\.render\.seed: value -1 not allowed"):
        render(
            "sysu_mm01",
            render_params("sysu_mm01", {"seed": -1}),
            tmp_path,
            prefix="datasets.x.render",
        )
    with pytest.raises(
        ParamsError, match=r"gallery_sizes: 150 must lie in 1\.\.num_test_scenes-1 \(149\)"
    ):
        render(
            "cuhk_sysu",
            render_params("cuhk_sysu", {"gallery_sizes": [50, 150]}),
            tmp_path,
            prefix="datasets.x.render",
        )
    with pytest.raises(ParamsError, match=r"num_train_ids x max_appearances \(400 x 3\) exceeds"):
        render(
            "cuhk_sysu",
            render_params("cuhk_sysu", {"num_train_ids": 400}),
            tmp_path,
            prefix="datasets.x.render",
        )
    with pytest.raises(
        ParamsError, match=r"datasets\.x\.render\.num_ids: .*num_ids \(13\) must be even"
    ):
        render(
            "regdb", render_params("regdb", {"num_ids": 13}), tmp_path, prefix="datasets.x.render"
        )
    with pytest.raises(ParamsError, match=r"datasets\.x\.render\.jpeg_quality: .*BMP"):
        render(
            "regdb",
            render_params("regdb", {"jpeg_quality": 90}),
            tmp_path,
            prefix="datasets.x.render",
        )
    with pytest.raises(ParamsError, match=r"num_ids x images_per_id \(10000 x 10\) exceeds 99999"):
        render(
            "regdb",
            render_params("regdb", {"num_ids": 10000}),
            tmp_path,
            prefix="datasets.x.render",
        )
