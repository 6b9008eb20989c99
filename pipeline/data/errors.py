"""The error every data step raises for bad input (archive, annotation, image).

A ``ValueError`` subclass, so stage scripts report it like a params error: one
line naming the file and the problem, exit code 2, no partial output.
"""

from __future__ import annotations


class DataError(ValueError):
    """An input file is missing, corrupt, unsafe or malformed; the message names it."""
