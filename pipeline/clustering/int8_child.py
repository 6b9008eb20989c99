"""The int8 route's candidate search in a process of its own, without oneDNN's ISA cap.

Started by :func:`pipeline.clustering.neighbours._int8_candidates` with a folder
holding ``x.npy``, ``sq.npy`` and ``request.json`` (``kc``, ``show``); writes
``vals.npy``, ``ids.npy`` and ``answer.json`` (``scale``, ``shift``)
there. Its environment lacks ``ONEDNN_MAX_CPU_ISA``, so torch's int8 matmul uses
the CPU's own integer units: exact int32 sums of 8-bit products.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from pipeline.clustering.neighbours import _int8_candidates_here


def main(folder: Path) -> None:
    request = json.loads((folder / "request.json").read_text())
    x = np.load(folder / "x.npy")
    sq = np.load(folder / "sq.npy")
    vals, ids, scale, shift = _int8_candidates_here(x, sq, int(request["kc"]), request["show"])
    np.save(folder / "vals.npy", vals)
    np.save(folder / "ids.npy", ids)
    answer = {"scale": scale, "shift": shift}
    (folder / "answer.json").write_text(json.dumps(answer))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
