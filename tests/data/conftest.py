"""Fixtures of the data tests: fake dataset files, tiny images, a loopback HTTP server.

Helpers are handed out as fixtures (not imported) so the test folders stay free
of package markers.
"""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_files(root: Path, names: Iterable[str], content: bytes = b"") -> None:
    """Create each file (relative POSIX name under ``root``), parents included."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def write_images(root: Path, names: Iterable[str], size: tuple[int, int] = (8, 16)) -> None:
    """Tiny real images (format from the suffix), each a different flat colour."""
    for i, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        colour = tuple(int(v) for v in np.array([40, 90, 160]) + 7 * i)
        Image.new("RGB", size, colour).save(path)


@pytest.fixture
def make_files() -> Callable[..., None]:
    return write_files


@pytest.fixture
def make_images() -> Callable[..., None]:
    return write_images


@dataclass
class FakeServer:
    """What the loopback server serves and what it saw."""

    payload: bytes = b""
    content_type: str = "application/zip"
    # "full": whole body; "half": announce the full length, send half, drop the connection;
    # "range": honour Range requests; "half_once": "half" for the first request, then
    # "range"; "status": answer with ``status`` only.
    mode: str = "full"
    status: int = 200
    requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""


def _handler(server_state: FakeServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            state = server_state
            state.requests.append(dict(self.headers.items()))
            body = state.payload
            if state.mode == "status":
                self.send_response(state.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            dropping = state.mode in ("half", "half_once")
            if state.mode == "half_once":
                state.mode = "range"
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if state.mode == "range" and match:
                start = int(match[1])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", state.content_type)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if dropping:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body[start:])

    return Handler


@pytest.fixture
def http_server() -> Iterator[FakeServer]:
    """A loopback HTTP server on 127.0.0.1 in a daemon thread, stopped after the test."""
    state = FakeServer()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/archive.zip"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def previous_output(tmp_path) -> Path:
    """An earlier good extraction that a refused archive must leave as it is."""
    out = tmp_path / "raw" / "ds"
    out.mkdir(parents=True)
    (out / "old.txt").write_text("previous good output")
    return out
