"""The download and convert stage scripts, end to end in a scratch repository (subprocesses).

A fake Market-1501 archive is placed by hand under data/archives/ of a temporary
folder with its own params.yaml; the stages run there as DVC runs them
(``python -m stages.<name> <dataset>`` from the repository root).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from stages._main import one_line, run
from tests.e2e.conftest import dump_yaml
from tests.real_config import render_params

REPO = Path(__file__).resolve().parents[2]
TOP = "Market-1501-v15.09.15"
MEMBERS = [
    f"{TOP}/bounding_box_train/0002_c1s1_000451_03.jpg",
    f"{TOP}/bounding_box_train/0007_c3s3_015240_04.jpg",
    f"{TOP}/query/0003_c1s1_000151_00.jpg",
    f"{TOP}/bounding_box_test/-1_c1s1_000401_03.jpg",
    f"{TOP}/bounding_box_test/0000_c6s1_000001_02.jpg",
    f"{TOP}/bounding_box_test/0003_c4s2_002020_01.jpg",
    f"{TOP}/bounding_box_test/Thumbs.db",
]
RAW = f"data/raw/fake_market/{TOP}"
EXPECTED_INDEX = f"""path,pid,camera,split,modality
{RAW}/bounding_box_test/0000_c6s1_000001_02.jpg,0,6,gallery,visible
{RAW}/bounding_box_test/0003_c4s2_002020_01.jpg,3,4,gallery,visible
{RAW}/query/0003_c1s1_000151_00.jpg,3,1,query,visible
{RAW}/bounding_box_train/0002_c1s1_000451_03.jpg,2,1,train,visible
{RAW}/bounding_box_train/0007_c3s3_015240_04.jpg,7,3,train,visible
"""


def params_text(md5: str | None) -> str:
    return f"""seed: 0
datasets:
  fake_market:
    source: archive
    layout: market1501
    url: null
    archive: fake.zip
    sha256: null
    md5: {md5 or "null"}
    access: form
    form: "the fake form (http://example.invalid/form)"
"""


def stage(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), PIPELINE_TRACEBACK="")
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def scratch_repo(tmp_path, make_images) -> Path:
    images = tmp_path / "images"
    make_images(images, [m for m in MEMBERS if m.endswith(".jpg")], size=(32, 64))
    (images / MEMBERS[-1]).write_bytes(b"thumbnail cache")
    archive = tmp_path / "repo/data/archives/fake.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for member in MEMBERS:
            zf.write(images / member, member)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    (tmp_path / "repo/params.yaml").write_text(params_text(md5))
    return tmp_path / "repo"


def test_download_then_convert_end_to_end(scratch_repo):
    done = stage(scratch_repo, "stages.download", "fake_market", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "sha256" in done.stderr and "is not pinned" in done.stderr
    raw = scratch_repo / "data/raw/fake_market"
    assert sorted(snapshot(raw)) == sorted(MEMBERS)

    done = stage(scratch_repo, "stages.convert", "fake_market")
    assert done.returncode == 0, done.stderr
    index = scratch_repo / "data/processed/fake_market/index.csv"
    assert index.read_text() == EXPECTED_INDEX
    assert (scratch_repo / "plots/datasets/fake_market.png").read_bytes()[
        :8
    ] == b"\x89PNG\r\n\x1a\n"
    # a rerun writes the same bytes
    first = (index.read_bytes(), (scratch_repo / "plots/datasets/fake_market.png").read_bytes())
    assert stage(scratch_repo, "stages.convert", "fake_market").returncode == 0
    assert first == (
        index.read_bytes(),
        (scratch_repo / "plots/datasets/fake_market.png").read_bytes(),
    )
    # the processed folder pins the raw bytes: new pixels under the same names change it
    manifest = scratch_repo / "data/processed/fake_market/raw.md5"
    assert len(manifest.read_text().splitlines()) == len(MEMBERS)
    before = manifest.read_text()
    image = next(p for p in sorted(raw.rglob("*.jpg")))
    image.write_bytes(image.read_bytes() + b"\0")
    assert stage(scratch_repo, "stages.convert", "fake_market").returncode == 0
    assert index.read_text() == EXPECTED_INDEX
    changed = set(manifest.read_text().splitlines()) - set(before.splitlines())
    assert [line.split("  ", 1)[1] for line in changed] == [image.relative_to(raw).as_posix()]
    # nothing left behind by the atomic writes
    assert sorted(p.name for p in (scratch_repo / "data/processed").iterdir()) == ["fake_market"]
    assert sorted(p.name for p in (scratch_repo / "plots/datasets").iterdir()) == [
        "fake_market.png"
    ]


def test_bad_input_exits_2_with_one_line_and_keeps_previous_output(scratch_repo):
    done = stage(scratch_repo, "stages.download", "fake_market", "--no-progress")
    assert done.returncode == 0, done.stderr
    raw = scratch_repo / "data/raw/fake_market"
    before = snapshot(raw)
    archive = scratch_repo / "data/archives/fake.zip"

    # unknown dataset name: the known ones are listed
    done = stage(scratch_repo, "stages.download", "market")
    assert done.returncode == 2
    assert "download: error: datasets.market: unknown dataset 'market'" in done.stderr
    assert "known datasets: fake_market" in done.stderr

    # wrong checksum: the archive is named, the previous extraction stays
    good = archive.read_bytes()
    archive.write_bytes(good[:-10] + b"0123456789")
    done = stage(scratch_repo, "stages.download", "fake_market", "--no-progress")
    assert done.returncode == 2
    assert f"{Path('data/archives/fake.zip')}: md5 checksum mismatch" in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(raw) == before

    # a crafted archive (unpinned) that tries to write outside its target
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"{TOP}/query/0003_c1s1_000151_00.jpg", b"x")
        zf.writestr("../../escape.txt", b"x")
    (scratch_repo / "params.yaml").write_text(params_text(None))
    done = stage(scratch_repo, "stages.download", "fake_market", "--no-progress")
    assert done.returncode == 2
    assert "member '../../escape.txt' points outside the target" in done.stderr
    assert snapshot(raw) == before
    assert not list(scratch_repo.parent.rglob("escape.txt"))
    assert sorted(p.name for p in (scratch_repo / "data/raw").iterdir()) == ["fake_market"]

    # a dataset behind a form with no archive: the form and the folder are named
    archive.unlink()
    done = stage(scratch_repo, "stages.download", "fake_market", "--no-progress")
    assert done.returncode == 2
    assert "the fake form (http://example.invalid/form)" in done.stderr
    assert str(Path("data/archives/fake.zip")) in done.stderr


def test_zip_bomb_exits_2_naming_the_member_and_keeps_previous_output(scratch_repo):
    assert stage(scratch_repo, "stages.download", "fake_market", "--no-progress").returncode == 0
    raw = scratch_repo / "data/raw/fake_market"
    before = snapshot(raw)
    with zipfile.ZipFile(scratch_repo / "data/archives/fake.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{TOP}/query/0003_c1s1_000151_00.jpg", b"x")
        zf.writestr(f"{TOP}/zeros.bin", bytes(20 << 20))
    (scratch_repo / "params.yaml").write_text(params_text(None))
    done = stage(scratch_repo, "stages.download", "fake_market", "--no-progress")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(
        f"download: error: {Path('data/archives/fake.zip')}: refused at member '{TOP}/zeros.bin'"
    )
    assert errors[0].endswith(
        "(a zip bomb?), over datasets.fake_market.limits.max_ratio = 100; nothing was "
        "extracted (raise the limit if the archive is genuine)"
    )
    assert snapshot(raw) == before
    assert sorted(p.name for p in (scratch_repo / "data/raw").iterdir()) == ["fake_market"]


def test_convert_error_keeps_previous_output(scratch_repo):
    assert stage(scratch_repo, "stages.download", "fake_market", "--no-progress").returncode == 0
    processed = scratch_repo / "data/processed/fake_market"
    processed.mkdir(parents=True)
    (processed / "index.csv").write_text("previous\n")
    bad = scratch_repo / RAW / "query/0003_c9s1_000151_00.jpg"
    bad.write_bytes(b"")
    done = stage(scratch_repo, "stages.convert", "fake_market")
    assert done.returncode == 2, done.stderr
    assert "0003_c9s1_000151_00.jpg: camera 9 outside 1..6" in done.stderr
    assert snapshot(processed) == {"index.csv": b"previous\n"}
    assert sorted(p.name for p in processed.parent.iterdir()) == ["fake_market"]


def test_synthetic_dataset_through_both_stages(tmp_path):
    """A `source: synthetic` entry is rendered by the download stage, then converted."""
    render = render_params(
        "sysu_mm01",
        {
            "seed": 1,
            "num_train_ids": 2,
            "num_val_ids": 1,
            "num_test_ids": 2,
            "min_images_per_camera": 1,
            "max_images_per_camera": 1,
        },
    )
    entry = {"source": "synthetic", "layout": "sysu_mm01", "render": render}
    dump_yaml({"datasets": {"synth_vi": entry}}, tmp_path / "params.yaml")
    for name in ("stages.download", "stages.convert"):
        done = stage(tmp_path, name, "synth_vi")
        assert done.returncode == 0, done.stderr
    rows = (tmp_path / "data/processed/synth_vi/index.csv").read_text().splitlines()
    assert rows[0] == "path,pid,camera,split,modality"
    assert all(r.startswith("data/raw/synth_vi/") for r in rows[1:])
    assert {r.split(",")[3] for r in rows[1:]} == {"train", "query", "gallery"}
    assert (tmp_path / "plots/datasets/synth_vi.png").is_file()


def test_run_helper_exit_codes(capsys):
    def bad_params(argv):
        raise ValueError("invalid params:\n  datasets.x.url: value 1 not allowed")

    with pytest.raises(SystemExit) as exit_info:
        run(bad_params, "demo", [])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "demo: error: invalid params: datasets.x.url: value 1 not allowed\n"
    )
    with pytest.raises(SystemExit) as exit_info:
        run(lambda argv: None, "demo", [])
    assert exit_info.value.code == 0
    with pytest.raises(KeyError):  # a bug keeps its traceback
        run(lambda argv: {}["missing"], "demo", [])


def test_one_line():
    assert one_line(FileNotFoundError("a\n\n  b  ")) == "a; b"
    assert one_line(OSError()) == "OSError"
    text = "invalid params:\n  a.b: value True not allowed\n  c: unknown key"
    assert (
        one_line(ValueError(text)) == "invalid params: a.b: value True not allowed; c: unknown key"
    )


@pytest.mark.parametrize(
    ("body", "code", "stderr_tail"),
    [
        ("print('half a line', end='')", 0, ""),
        (
            "print('half a line', end=''); raise ValueError('bad key x')",
            2,
            "demo: error: bad key x\n",
        ),
    ],
)
def test_stage_process_exit_flushes_what_it_printed_and_logged(body, code, stderr_tail):
    """A stage process skips the interpreter's teardown, not its buffered output."""
    script = (
        "import logging, sys\n"
        "from stages._main import run\n"
        "def main(argv):\n"
        "    logging.getLogger('demo').info('logged line')\n"
        "    sys.stderr.write('no newline yet')\n"
        f"    {body}\n"
        "run(main, 'demo', [])\n"
        "raise SystemExit(99)  # never reached\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # pipes buffer
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == code
    assert proc.stdout == "half a line"
    assert proc.stderr.startswith("demo: INFO: logged line\nno newline yet")
    assert proc.stderr.endswith(stderr_tail)
