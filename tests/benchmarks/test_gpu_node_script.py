"""benchmarks/gpu_node.sh: the one command of a GPU node asks its scripts for what they offer."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_node.sh"
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_clustering  # noqa: E402
import bench_gpu  # noqa: E402


def _python_lines(name: str) -> list[list[str]]:
    """The script's ``python benchmarks/<name>`` command lines, continuations joined."""
    text = SCRIPT.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [shlex.split(line)[2:] for line in lines if line.startswith(f"python benchmarks/{name}")]


def test_the_script_is_valid_bash_and_executable():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    assert SCRIPT.stat().st_mode & 0o111


def test_both_bench_gpu_runs_parse_with_a_rehearsals_arguments():
    # shlex leaves "$@" as $@: the script's own arguments, here a CPU rehearsal's.
    runs = [[w for w in words if w != "$@"] for words in _python_lines("bench_gpu.py")]
    assert len(runs) == 2
    for words in runs:
        args = bench_gpu.parse_args(words)
        assert args.device == "cuda" and args.profiles == list(bench_gpu.PROFILES)
        rehearsal = bench_gpu.parse_args(words + ["--device", "cpu", "--tiny"])
        assert rehearsal.device == "cpu" and rehearsal.tiny
    assert {bench_gpu.parse_args(words).precision for words in runs} == {"fp32", "bf16"}
    assert bench_gpu.parse_args(runs[0]).torch_profile


def test_the_clustering_round_names_known_cases_and_routes():
    default = re.search(r"CLUSTER_CASES:-([^}]*)}", SCRIPT.read_text(encoding="utf-8"))
    cases = default.group(1).split() + ["smoke"]
    assert cases[:2] == ["cuhk-256", "msmt-256"]  # 55,272 boxes is the target round
    assert all(c in bench_clustering.CASES for c in cases)
    (round_words, table_words) = _python_lines("bench_clustering.py")
    routes = round_words[round_words.index("--route") + 1 :][:2]
    assert routes == ["exact", "torch"] and set(routes) <= set(bench_clustering.ROUTES)
    assert "--table" in table_words
