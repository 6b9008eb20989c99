"""The int8 route's Gram-matrix search in a process of its own, without oneDNN's ISA cap.

Started by :func:`pipeline.clustering.neighbours._int8_candidates` with a folder
holding ``q.npy`` (the 8-bit rows), ``h.npy`` when the column offsets vary, and
``request.json`` (``kc``, ``show``); writes ``vals.npy`` and ``ids.npy`` there. Its
environment lacks ``ONEDNN_MAX_CPU_ISA``, so torch's int8 matmul uses the CPU's own
integer units. On a CPU whose kernels cannot sum 8-bit products exactly either, it
exits with ``INT8_CHILD_CAPPED`` and the caller searches at 7 bits itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from pipeline.clustering.neighbours import INT8_CHILD_CAPPED, _int8_limit, _int8_search


def main(folder: Path) -> int:
    if _int8_limit() < 127:
        return INT8_CHILD_CAPPED
    request = json.loads((folder / "request.json").read_text())
    q = np.load(folder / "q.npy")
    h = np.load(folder / "h.npy") if (folder / "h.npy").exists() else None
    vals, ids = _int8_search(q, h, int(request["kc"]), bool(request["show"]))
    np.save(folder / "vals.npy", vals)
    np.save(folder / "ids.npy", ids)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
