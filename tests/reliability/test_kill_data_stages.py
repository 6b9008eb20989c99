"""SIGKILL the download and convert stages mid-write (issue 10).

A killed download keeps its ``<archive>.part``; the rerun resumes it with an HTTP
Range request from a loopback server, verifies the pinned sha256 and extracts. A
killed conversion leaves no partial output (the previous one, if any, intact);
the rerun starts clean, removes the dead run's hidden temporary and writes the
same bytes as a conversion that was never interrupted.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import stages.download
from pipeline.params import load_params
from stages._main import run as run_stage
from tests.e2e.conftest import REPO_ROOT, dump_yaml, run
from tests.reliability.conftest import PYTHON, hidden_leftovers, tree_md5

pytestmark = pytest.mark.slow

CHUNK = 32 * 1024


def make_zip() -> bytes:
    """A small Market-1501-like zip, stored uncompressed so its size is known (~1.2 MB)."""
    rng = np.random.default_rng(7)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(12):
            zf.writestr(f"Market/bounding_box_train/{i:04d}_c1s1_000001_00.jpg", rng.bytes(100_000))
    return buffer.getvalue()


class SlowRangeServer:
    """Serves one payload in small timed chunks and honours ``Range: bytes=N-``."""

    def __init__(self, payload: bytes, delay: float = 0.02) -> None:
        self.payload = payload
        self.delay = delay
        self.ranges: list[str | None] = []
        state = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                header = self.headers.get("Range")
                state.ranges.append(header)
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", header or "")
                if match:
                    start = int(match[1])
                    self.send_response(206)
                    total = len(state.payload)
                    self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
                else:
                    self.send_response(200)
                body = state.payload[start:]
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for offset in range(0, len(body), CHUNK):
                        self.wfile.write(body[offset : offset + CHUNK])
                        self.wfile.flush()
                        time.sleep(state.delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/Market.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SlowRangeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_until(condition, proc: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the stage exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def write_params_served_by(server: SlowRangeServer, payload: bytes, path: Path) -> None:
    """The project's params with ``market1501`` downloaded from ``server``, sha256 pinned."""
    params = load_params(REPO_ROOT / "params.yaml")
    params["datasets"]["market1501"] = {
        "source": "archive",
        "layout": "market1501",
        "url": server.url,
        "archive": "Market.zip",
        "sha256": hashlib.sha256(payload).hexdigest(),
        "access": "public",
    }
    dump_yaml(params, path)


def test_killed_download_resumes_with_range_and_verifies(tmp_path):
    payload = make_zip()
    rng = random.Random(404)
    with SlowRangeServer(payload) as server:
        write_params_served_by(server, payload, tmp_path / "params.yaml")
        archives, out = tmp_path / "archives", tmp_path / "raw" / "market1501"
        command = [PYTHON, "-m", "stages.download", "market1501", "--no-progress"]
        command += ["--params", str(tmp_path / "params.yaml")]
        command += ["--archives", str(archives), "--out", str(out)]
        part = archives / "Market.zip.part"

        proc = subprocess.Popen(command, cwd=REPO_ROOT, stderr=subprocess.DEVNULL)
        try:
            wait_until(
                lambda: part.is_file() and part.stat().st_size > len(payload) // 4,
                proc,
                "a quarter of the archive arrived",
            )
            time.sleep(rng.uniform(0.0, 0.2))
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        kept = part.stat().st_size
        assert 0 < kept < len(payload)
        assert not (archives / "Market.zip").exists()  # only a verified archive gets the name
        assert not out.exists()

        run(command, REPO_ROOT, dict(os.environ))
    assert server.ranges[0] is None
    resumed_from = int(server.ranges[-1].removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_from == kept  # resumed where the killed run stopped
    assert (archives / "Market.zip").read_bytes() == payload
    assert not part.exists()
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        for name in zf.namelist():
            assert (out / name).read_bytes() == zf.read(name), name
    assert hidden_leftovers(out.parent) == []


def test_killed_conversion_leaves_no_partial_output_and_restarts_clean(tiny, tmp_path):
    tiny.dvc("repro", "download@synthetic_market1501")
    rng = random.Random(505)
    dataset = "synthetic_market1501"

    def command(out_root: Path) -> list[str]:
        return [
            PYTHON,
            *("-m", "stages.convert", dataset),
            *("--out", str(out_root / "processed" / dataset)),
            *("--plot", str(out_root / "plots" / f"{dataset}.png")),
        ]

    def kill_mid_write(out_root: Path) -> None:
        """Kill once the stage's hidden temporary exists; retry if it finished first."""
        processed = out_root / "processed"
        had_output = (processed / dataset).exists()
        for _ in range(8):
            proc = subprocess.Popen(command(out_root), cwd=tiny.root, stderr=subprocess.DEVNULL)
            mine = re.compile(rf"\.{dataset}\.{proc.pid}\.\w+\.tmp")
            try:
                wait_until(
                    lambda p=processed, m=mine: (
                        p.is_dir() and any(m.fullmatch(x.name) for x in p.iterdir())
                    ),
                    proc,
                    "the conversion started writing",
                )
                time.sleep(rng.uniform(0.0, 0.1))
                proc.send_signal(signal.SIGKILL)
            finally:
                proc.wait(timeout=30)
            if proc.returncode == -signal.SIGKILL and hidden_leftovers(processed):
                return
            # The kill landed after the temporary was renamed into place (the stage was
            # still finishing its contact sheet): a complete write, not the case under test.
            if not had_output:
                shutil.rmtree(processed / dataset, ignore_errors=True)
                (out_root / "plots" / f"{dataset}.png").unlink(missing_ok=True)
        pytest.fail("the conversion always finished before the kill")

    first, reference = tmp_path / "first", tmp_path / "reference"
    kill_mid_write(first)  # no previous output: nothing appears at the final path
    assert not (first / "processed" / dataset).exists()
    assert not (first / "plots" / f"{dataset}.png").exists()

    run(command(first), tiny.root, tiny.stage_env())  # clean restart
    run(command(reference), tiny.root, tiny.stage_env())  # never interrupted
    outputs = tree_md5(first / "processed", first / "plots")
    assert outputs == tree_md5(reference / "processed", reference / "plots")
    assert hidden_leftovers(first / "processed") == []  # the dead run's temporary is gone

    kill_mid_write(first)  # a previous output exists: it stays byte-identical
    assert tree_md5(first / "processed", first / "plots", skip_hidden=True) == outputs


def test_resumed_download_with_corrupt_partial_bytes_fails_the_checksum(
    tmp_path, monkeypatch, capsys
):
    """A resume trusts the partial file; the pinned sha256 catches it when it was damaged."""
    payload = make_zip()
    with SlowRangeServer(payload, delay=0.0) as server:
        write_params_served_by(server, payload, tmp_path / "params.yaml")
        archives, out = tmp_path / "archives", tmp_path / "raw" / "market1501"
        archives.mkdir()
        damaged = bytearray(payload[: len(payload) // 2])
        damaged[1000] ^= 0xFF
        (archives / "Market.zip.part").write_bytes(bytes(damaged))
        argv = ["market1501", "--no-progress", "--params", str(tmp_path / "params.yaml")]
        argv += ["--archives", str(archives), "--out", str(out)]
        with pytest.raises(SystemExit) as exit_info:
            run_stage(stages.download.main, "download", argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("download: error:")]
    assert len(lines) == 1 and "Market.zip" in lines[0] and "hash" in lines[0].lower(), err
    assert server.ranges[-1] == f"bytes={len(payload) // 2}-"  # it did resume
    assert not (archives / "Market.zip").exists() and not out.exists()
