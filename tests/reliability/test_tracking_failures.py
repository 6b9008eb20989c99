"""A tracking server that is down or fails mid-run never changes a stage's outputs (issue 10).

The DCLNet training stage (the cheapest) runs on the tiny copy three ways: with a
server that cannot be reached, with one that starts the run and then answers 503
to every metric batch (mid-training), and with ``tracking.required: true`` and no
server. The first two finish with outputs byte-identical to a run tracked in a
local store and print exactly one warning; the third stops with exit code 2
before any training state exists. The URIs carry ``user:password``, which never
appears in any output.
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading

import pytest

from pipeline.checkpoint import resume_dir
from pipeline.params import load_params
from tests.e2e.conftest import dump_yaml
from tests.reliability.conftest import TinyRepo, tree_md5

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-pw"
WARNING_MARK = "The stage continues without tracking"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FailingMlflowServer:
    """Answers MLflow's REST calls for starting a run, then 503 to every metrics batch."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.failed = 0
        state = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                state.paths.append(self.path)
                if "/experiments/get-by-name" in self.path:
                    experiment = {
                        "experiment_id": "1",
                        "name": "dclnet",
                        "artifact_location": "mlflow-artifacts:/1",
                        "lifecycle_stage": "active",
                    }
                    self.reply(200, {"experiment": experiment})
                else:
                    self.reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": self.path})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                state.paths.append(self.path)
                if self.path.endswith("/runs/create"):
                    info = {
                        "run_id": "r1",
                        "run_uuid": "r1",
                        "experiment_id": "1",
                        "status": "RUNNING",
                        "start_time": 0,
                        "artifact_uri": "mlflow-artifacts:/1/r1/artifacts",
                        "lifecycle_stage": "active",
                    }
                    self.reply(200, {"run": {"info": info, "data": {}}})
                elif self.path.endswith("/runs/log-batch") and body.get("metrics"):
                    state.failed += 1
                    self.reply(503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "down"})
                else:
                    self.reply(200, {})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FailingMlflowServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def train(tiny: TinyRepo, out, uri: str, params: str = "params.yaml"):
    """The DCLNet training stage writing under ``out``, tracking to ``uri``."""
    env = tiny.stage_env(MLFLOW_TRACKING_URI=uri)
    command = [*tiny.train_command("dclnet", out), "--params", params]
    return subprocess.run(command, cwd=tiny.root, env=env, capture_output=True, text=True)


def assert_one_warning(proc) -> None:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert output.count(WARNING_MARK) == 1, output[-3000:]
    assert SECRET not in output


def test_unreachable_server_warns_once_and_changes_nothing(tiny, tmp_path):
    reference = tiny.reference("dclnet")
    proc = train(tiny, tmp_path, f"http://bob:{SECRET}@127.0.0.1:{closed_port()}")
    assert_one_warning(proc)
    assert "http://***@127.0.0.1" in proc.stderr
    assert tree_md5(tmp_path / "models" / "dclnet", tmp_path / "plots" / "dclnet" / "train") == (
        reference
    )


def test_server_failing_mid_run_warns_once_and_changes_nothing(tiny, tmp_path):
    reference = tiny.reference("dclnet")
    with FailingMlflowServer() as server:
        proc = train(tiny, tmp_path, f"http://bob:{SECRET}@127.0.0.1:{server.port}")
    assert_one_warning(proc)
    assert any(p.endswith("/runs/create") for p in server.paths)  # the run did start
    assert server.failed >= 1  # ... and the first epoch's metrics were refused
    assert "log metrics" in proc.stderr
    assert tree_md5(tmp_path / "models" / "dclnet", tmp_path / "plots" / "dclnet" / "train") == (
        reference
    )


def test_required_tracking_fails_before_training_starts(tiny, tmp_path):
    tiny.ensure_data("dclnet")
    params = load_params(tiny.root / "params.yaml")
    params["tracking"] = {**params["tracking"], "required": True}
    dump_yaml(params, tmp_path / "params.yaml")
    proc = train(
        tiny,
        tmp_path,
        f"http://bob:{SECRET}@127.0.0.1:{closed_port()}",
        params=str(tmp_path / "params.yaml"),
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("train_dclnet: error:")]
    assert len(errors) == 1 and "tracking.required is true" in errors[0], proc.stderr[-3000:]
    assert "http://***@127.0.0.1" in errors[0]
    assert SECRET not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    # Nothing was trained: no outputs, no epoch checkpoint.
    assert not (tmp_path / "models").exists()
    assert not resume_dir(tmp_path / "models" / "dclnet").exists()
