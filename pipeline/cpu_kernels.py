"""Pin the numeric libraries to their AVX2 kernels, so x86 machines agree to the byte.

The libraries under the stages pick their kernels by the CPU they find: OpenBLAS
(numpy, scipy, faiss) its SkylakeX kernels on an AVX-512 machine and its Haswell
ones on an AVX2 machine, numpy AVX-512 loops for float32 ``log1p``/``power``, torch
and oneDNN their AVX-512 convolutions. Each choice is deterministic, but they sum
in different orders, so an AVX-512 machine and an AVX2 one train different models
from the same seed and `dvc.lock` reproduces on one kind only (measured: the SYSU
render differed in 3 of 4,431 JPEGs, and every trained model after it).

Every stage therefore asks each library for its AVX2 kernels (every x86-64 CPU of
the last decade has them), through the environment variables the libraries read
when they load. This must run before numpy or torch is imported:
``stages/__init__.py`` calls :func:`pin_cpu_kernels` first.

``PIPELINE_CPU_ISA=native`` lets every library pick its own kernels (faster on some
CPUs; outputs then match only machines of the same kind). A variable already set in
the environment is left as it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, MutableMapping
from pathlib import Path

CPU_ISA_VARIABLE = "PIPELINE_CPU_ISA"
CPU_ISA_CHOICES = ("avx2", "native")

# numpy's dispatch targets above AVX2 (NPY_DISABLE_CPU_FEATURES names them): numpy 1.26's,
# then numpy 2's (a GPU node's numpy 2.5 dispatches X86_V3, X86_V4, AVX512_ICL, AVX512_SPR).
# A name a numpy does not dispatch costs an ImportWarning only (silent by default).
_NUMPY_AVX512_FEATURES = (
    "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL"
    " X86_V4 AVX512_SPR"
)

# Variable -> value asking that library for its AVX2 kernels.
AVX2_PINS: dict[str, str] = {
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's, scipy's and faiss's OpenBLAS (Zen = Haswell)
    "NPY_DISABLE_CPU_FEATURES": _NUMPY_AVX512_FEATURES,  # numpy's own SIMD loops
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's vectorised CPU kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # torch's oneDNN convolutions
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # torch's MKL BLAS
    "FAISS_SIMD_LEVEL": "AVX2",  # faiss's distance kernels
}


CPUINFO = Path("/proc/cpuinfo")


def cpuinfo_field(name: str, cpuinfo: Path = CPUINFO) -> str | None:
    """The value of the first ``name`` line of Linux's cpuinfo (None elsewhere or when
    unreadable)."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty elsewhere or when unreadable)."""
    return frozenset((cpuinfo_field("flags", cpuinfo) or "").split())


def cpu_model(cpuinfo: Path = CPUINFO) -> str | None:
    """The CPU's model name as Linux lists it ("AMD EPYC"; None elsewhere)."""
    return cpuinfo_field("model name", cpuinfo)


def pin_cpu_kernels(
    environ: MutableMapping[str, str] | None = None,
    flags: Iterable[str] | None = None,
) -> dict[str, str]:
    """Set the variables of :data:`AVX2_PINS` that ``environ`` does not set already.

    Args:
        environ: the environment to edit (default ``os.environ``).
        flags: the CPU's feature flags (default: read from ``/proc/cpuinfo``).

    Returns:
        The variables this call set. Nothing is set on a CPU without AVX2 and FMA
        (not x86-64, or an old one: its kernels are its own anyway), nor under
        ``PIPELINE_CPU_ISA=native``. numpy's AVX-512 features are disabled only where
        the CPU has them (numpy warns about disabling features a CPU lacks).

    Raises:
        ValueError: ``PIPELINE_CPU_ISA`` is neither ``avx2`` nor ``native``.
    """
    environ = os.environ if environ is None else environ
    choice = environ.get(CPU_ISA_VARIABLE, "avx2").strip().lower()
    if choice not in CPU_ISA_CHOICES:
        raise ValueError(
            f"environment variable {CPU_ISA_VARIABLE}={environ[CPU_ISA_VARIABLE]!r}: "
            f"expected one of {', '.join(CPU_ISA_CHOICES)}"
        )
    flags = cpu_flags() if flags is None else frozenset(flags)
    if choice == "native" or not {"avx2", "fma"} <= flags:
        return {}
    applied = {}
    for name, value in AVX2_PINS.items():
        if name == "NPY_DISABLE_CPU_FEATURES" and "avx512f" not in flags:
            continue
        if name not in environ:
            environ[name] = value
            applied[name] = value
    return applied
