"""benchmarks/bench_gpu.py: its options, and one tiny CPU run end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_gpu  # noqa: E402


def test_every_profile_is_a_real_option_of_its_track():
    for profile in bench_gpu.PROFILES.values():
        assert (REPO / "conf" / profile.track / "dataset" / f"{profile.option}.yaml").is_file()
        tiny = bench_gpu.TINY_OPTION[profile.name]
        assert (REPO / "conf" / profile.track / "dataset" / f"{tiny}.yaml").is_file()
    assert {p.track for p in bench_gpu.PROFILES.values()} == {"dicl", "scl", "dclnet"}


def test_options():
    args = bench_gpu.parse_args(["--device", "cpu", "--tiny", "--profiles", "scl_msmt17"])
    assert args.profiles == ["scl_msmt17"] and args.steps == 3 and args.precision == "fp32"
    assert bench_gpu.parse_args(["--device", "cpu"]).steps == 20
    with pytest.raises(SystemExit):
        bench_gpu.parse_args(["--profiles", "scl_duke"])
    with pytest.raises(SystemExit):
        bench_gpu.parse_args(["--steps", "0"])


def test_tiny_cpu_run_writes_the_figures(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "bench_gpu.py"), "--device", "cpu"]
    cmd += ["--tiny", "--profiles", "scl_market1501", "--steps", "4", "--threads", "1"]
    done = subprocess.run(cmd + ["--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["tiny"] and report["steps"] == 4
    (row,) = report["profiles"]
    assert row["profile"] == "scl_market1501" and row["option"] == "synthetic_market1501"
    assert row["images_per_step"] == bench_gpu.TINY_BATCH
    assert row["losses_finite"] is True and row["it_per_s"] > 0
    assert row["images_per_s"] == pytest.approx(row["it_per_s"] * 2, rel=1e-2)
    assert row["peak_memory_kind"] == "process_peak_rss" and row["peak_memory_gib"] > 0.05
    assert isinstance(row["nondeterministic_ops"], list)
    assert "scl_market1501" in done.stdout


@pytest.mark.slow
def test_tiny_dicl_run_times_its_inference_and_profiles_its_steps(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "bench_gpu.py"), "--device", "cpu"]
    cmd += ["--tiny", "--profiles", "dicl_cuhk_sysu", "--steps", "3", "--threads", "1"]
    cmd += ["--torch-profile", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (row,) = json.loads(out.read_text())["profiles"]
    # The memory initialisation's and the gallery's paths, each timed with its mapper.
    inference = row["inference"]
    assert inference["scenes"] == bench_gpu.TINY_BATCH and inference["batch_images"] == 4
    for part in ("memory_init", "detect"):
        figures = inference[part]
        assert figures["seconds"] > 0 and 0 < figures["mapper_seconds"] < figures["seconds"]
        assert figures["images_per_s"] == pytest.approx(
            inference["scenes"] / figures["seconds"], rel=1e-2
        )
    # The profiler's table beside the JSON; its top rows per step, the costliest first.
    table = tmp_path / "bench_dicl_cuhk_sysu_profile.txt"
    assert row["profile"]["table"] == table.name and "Self CPU" in table.read_text()
    top = row["profile"]["top"]
    assert len(top) == bench_gpu.PROFILE_ROWS and top[0]["self_cpu_ms"] > 0
    assert [r["self_cpu_ms"] for r in top] == sorted((r["self_cpu_ms"] for r in top), reverse=True)
    assert any(r["op"] == "aten::convolution_backward" for r in top)
    assert "memory_init" in done.stdout and "profiler table" in done.stdout
