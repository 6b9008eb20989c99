"""Stages ask numpy, OpenBLAS, torch, oneDNN, MKL and faiss for their AVX2 kernels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cpu_kernels import (
    AVX2_PINS,
    CPU_ISA_VARIABLE,
    cpu_flags,
    cpu_model,
    pin_cpu_kernels,
)

REPO = Path(__file__).resolve().parents[1]
AVX512_MACHINE = {"avx2", "fma", "avx512f", "avx512bw"}
AVX2_MACHINE = {"avx2", "fma", "sse4_2"}


def test_avx512_machine_gets_every_pin():
    env: dict[str, str] = {}
    applied = pin_cpu_kernels(env, AVX512_MACHINE)
    assert applied == AVX2_PINS == env
    assert "AVX512_SKX" in env["NPY_DISABLE_CPU_FEATURES"].split()
    assert env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert env["OPENBLAS_CORETYPE"] == "Haswell"


def test_avx2_machine_keeps_numpy_features_it_lacks_anyway():
    env: dict[str, str] = {}
    pin_cpu_kernels(env, AVX2_MACHINE)
    assert "NPY_DISABLE_CPU_FEATURES" not in env  # numpy warns when told to disable absent ones
    assert env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2"


def test_values_already_set_win():
    env = {"ATEN_CPU_CAPABILITY": "default", "OPENBLAS_CORETYPE": "Zen"}
    applied = pin_cpu_kernels(env, AVX512_MACHINE)
    assert env["ATEN_CPU_CAPABILITY"] == "default" and env["OPENBLAS_CORETYPE"] == "Zen"
    assert "ATEN_CPU_CAPABILITY" not in applied and "OPENBLAS_CORETYPE" not in applied
    assert env["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"


@pytest.mark.parametrize(
    ("env", "flags"),
    [
        ({CPU_ISA_VARIABLE: "native"}, AVX512_MACHINE),
        ({CPU_ISA_VARIABLE: " Native "}, AVX512_MACHINE),
        ({}, {"fp", "asimd", "sve"}),  # aarch64
        ({}, {"sse4_2", "avx"}),  # x86 without AVX2
    ],
)
def test_nothing_pinned_when_native_or_no_avx2(env, flags):
    before = dict(env)
    assert pin_cpu_kernels(env, flags) == {}
    assert env == before


def test_unknown_choice_names_the_variable():
    with pytest.raises(ValueError, match=rf"{CPU_ISA_VARIABLE}='avx512'.*avx2, native"):
        pin_cpu_kernels({CPU_ISA_VARIABLE: "avx512"}, AVX512_MACHINE)


def test_cpu_flags_reads_the_flags_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma\nbugs\t\t: spectre\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "fma"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_cpu_model_reads_the_model_name_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel\t\t: 2\nmodel name\t: AMD EPYC 9B45\nflags\t\t: fpu\n"
    )
    assert cpu_model(cpuinfo) == "AMD EPYC 9B45"
    assert cpu_model(tmp_path / "missing") is None


def _stage_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in AVX2_PINS and k != CPU_ISA_VARIABLE}
    env.update(extra)
    return env


@pytest.mark.skipif(not {"avx2", "fma"} <= cpu_flags(), reason="needs an x86-64 CPU with AVX2")
def test_stage_processes_run_avx2_kernels():
    probe = (
        "import stages, torch\n"
        "from numpy._core._multiarray_umath import __cpu_features__ as f\n"
        # numpy 2 names its AVX-512 dispatch level X86_V4 (AVX512F stays the CPU's flag)
        "print(torch.backends.cpu.get_cpu_capability(), f.get('X86_V4', f['AVX512F']), f['AVX2'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=_stage_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["AVX2", "False", "True"]


def test_stage_exits_2_on_an_unknown_choice():
    proc = subprocess.run(
        [sys.executable, "-m", "stages.download", "anything"],
        cwd=REPO,
        env=_stage_env(**{CPU_ISA_VARIABLE: "fast"}),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert f"stages: error: environment variable {CPU_ISA_VARIABLE}='fast'" in proc.stderr
