"""MATLAB v5 files as the real CUHK-SYSU annotations are: structs, cells and char arrays.

``scipy.io.savemat`` writes a numpy structured array as a MATLAB struct array, an
object array as a cell array, a ``str`` as a char row; ``scipy.io.loadmat``
reads them back in the nested form person-search code indexes
(``Img[0, k]['imname'][0]``). Shapes are given explicitly (1xN structs, Nx1
cells, 1x4 doubles), because MATLAB has no 1-d arrays.

``savemat`` stamps the file header with the current time; for byte-identical
renders the 116-byte header text is replaced by a fixed one.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

HEADER_BYTES = 116
HEADER_TEXT = b"MATLAB 5.0 MAT-file, Platform: posix, written by pipeline.data.synthetic"


def struct_array(
    fields: Sequence[str], rows: Sequence[Sequence[Any]], shape: tuple[int, int] | None = None
) -> np.ndarray:
    """A MATLAB struct array (default 1xN) of the given records.

    Args:
        fields: field names, in order.
        rows: one sequence of field values per record.
        shape: MATLAB shape; ``(1, len(rows))`` when None.
    """
    shape = shape or (1, len(rows))
    out = np.empty(shape, dtype=[(name, object) for name in fields])
    flat = out.reshape(-1)
    for index, row in enumerate(rows):
        if len(row) != len(fields):
            raise ValueError(f"struct record {index}: {len(row)} values for fields {list(fields)}")
        for name, value in zip(fields, row, strict=True):
            flat[index][name] = value
    return out


def cell_column(items: Sequence[Any]) -> np.ndarray:
    """A MATLAB Nx1 cell array."""
    out = np.empty((len(items), 1), dtype=object)
    for index, item in enumerate(items):
        out[index, 0] = item
    return out


def double(values: Sequence[float] | float) -> np.ndarray:
    """A MATLAB double row (1xN); an empty sequence gives the 1x0 empty matrix."""
    return np.asarray(values, dtype=np.float64).reshape(1, -1)


def save_mat(path: Path, variables: dict[str, Any]) -> None:
    """Write a MATLAB v5 file with a fixed header (no creation time)."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables, format="5", do_compression=False, oned_as="row")
    data = bytearray(buffer.getvalue())
    data[:HEADER_BYTES] = HEADER_TEXT.ljust(HEADER_BYTES, b" ")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
