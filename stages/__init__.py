"""One thin script per DVC stage (run as ``python -m stages.<name>``)."""

import os
import sys
import warnings

from pipeline.cpu_kernels import pin_cpu_kernels

# Before anything loads numpy or torch: the same kernels on every x86 machine, so
# dvc.lock reproduces across CPU kinds (pipeline/cpu_kernels.py).
try:
    pin_cpu_kernels()
except ValueError as exc:
    print(f"stages: error: {exc}", file=sys.stderr)
    sys.exit(2)

from pipeline.tracking import experiment_copy_root, prestart_worker  # noqa: E402


def shares_cores(cwd: str | None = None) -> bool:
    """Whether this stage process may share the cores with other busy processes:
    one rank of several (torchrun), or a queued / temporary DVC experiment, which
    runs in ``.dvc/tmp/exps/`` beside other queue workers."""
    ranks = os.environ.get("LOCAL_WORLD_SIZE", "1")
    queued = experiment_copy_root(cwd or os.getcwd()) is not None
    return (ranks.isdigit() and int(ranks) > 1) or queued


# How idle OpenMP threads wait (no result depends on it; read when torch loads, so set
# before the stage module imports it). A stage alone on its cores runs faster with
# libgomp's default, a short spin before sleeping (benchmarks/bench_dicl.py, 2 threads:
# 2.8 it/s against 2.1 passive). Beside another busy process spinning threads wait on
# descheduled ones (0.8 it/s against 1.8 passive), so processes that share the cores
# wait passively. OMP_WAIT_POLICY in the environment always wins.
if shares_cores():
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Progress bars: a terminal gets tqdm's live bars; a log (CI, `dvc repro > log`, a queued
# experiment) gets one update every TQDM_MININTERVAL seconds, not ten a second (a 5-minute
# training wrote about 2,900 log lines). tqdm reads TQDM_* when it is imported: set it first.
if not sys.stderr.isatty():
    os.environ.setdefault("TQDM_MININTERVAL", "10")

# fvcore and detectron2 call torch.jit.script at import; torch 2.14 warns about it
# on every stage start. The warning is about those libraries, not about this code.
warnings.filterwarnings(
    "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
)

# `python -m stages.<name>` imports this package before the stage module: a stage that
# logs to MLflow (train_*, eval_*) starts its tracking process now, so MLflow's imports
# (about 2.5 s) run on the other core while the stage imports torch.
_command = sys.orig_argv[sys.orig_argv.index("-m") + 1 :] if "-m" in sys.orig_argv else []
if _command and _command[0].startswith(("stages.train_", "stages.eval_")):
    prestart_worker()
