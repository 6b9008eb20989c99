"""One thin script per DVC stage (run as ``python -m stages.<name>``)."""

import os

# OpenMP threads that spin while waiting make torch 5-10x slower whenever another
# process shares the cores (measured here: 2 threads went from 1.3 s to 15-20 s
# a step). Passive waiting costs little on an idle machine and does not change
# any result. Set before torch is imported by the stage module.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
