#!/usr/bin/env bash
# One-command install: creates .venv in the repo root with every dependency at the
# exact version in requirements.lock, the `pipeline` package (editable) and
# detectron2 (scripts/install_detectron2.py). Idempotent; safe to rerun.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install --quiet "pip==26.3"
.venv/bin/python -m pip install --quiet -r requirements.lock
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
.venv/bin/python scripts/install_detectron2.py
.venv/bin/python -m pip check
