"""One thin script per DVC stage (run as ``python -m stages.<name>``)."""

import os
import sys
import warnings

from pipeline.tracking import prestart_worker

# OpenMP threads that spin while waiting make torch 5-10x slower whenever another
# process shares the cores (measured here: 2 threads went from 1.3 s to 15-20 s
# a step). Passive waiting costs little on an idle machine and does not change
# any result. Set before torch is imported by the stage module.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
