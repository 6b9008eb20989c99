"""Run a stage's ``main()`` and turn the project's expected errors into one line and exit 2.

Expected errors are bad input the user can fix: params (``ParamsError``), data
(``DataError``: checksum, unsafe archive, malformed annotation, ...), files that
are missing or unreadable, a tracking server that is required but unreachable.
They print ``<stage>: error: <message>`` on stderr (no traceback) and exit with
code 2; set ``PIPELINE_TRACEBACK=1`` to see the traceback. Anything else is a bug
and keeps Python's traceback and exit code 1.

Usage, at the end of a stage script::

    if __name__ == "__main__":
        run(main, "download")
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import NoReturn

from pipeline.tracking import TrackingUnavailable

# ValueError covers ParamsError and DataError; OSError covers missing/unreadable files.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, TrackingUnavailable)
EXIT_EXPECTED_ERROR = 2
EXIT_INTERRUPTED = 130


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (multi-line params errors joined with '; ').

    A line ending in ':' introduces the next: ``invalid params: a.b: ...; c: ...``.
    """
    text = str(exc) or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [type(exc).__name__]
    joined = lines[0]
    for previous, line in pairwise(lines):
        joined += (" " if previous.endswith(":") else "; ") + line
    return joined


def run(
    main: Callable[[Sequence[str] | None], object],
    stage: str,
    argv: Sequence[str] | None = None,
) -> None:
    """Configure logging, call ``main(argv)`` and exit with 0, 2 (expected error) or 130.

    Args:
        main: the stage's entry point; it parses ``argv`` (None: ``sys.argv[1:]``).
        stage: the stage's name, printed in front of an error message.
        argv: arguments for ``main``.
    """
    logging.basicConfig(level=logging.INFO, format=f"{stage}: %(levelname)s: %(message)s")
    # A stage process (`python -m stages.<name>`: its main lives in __main__) skips the
    # interpreter's teardown; a caller that imported the stage gets SystemExit as usual.
    leave = exit_process if main.__module__ == "__main__" else sys.exit
    try:
        main(argv)
    except EXPECTED_ERRORS as exc:
        if os.environ.get("PIPELINE_TRACEBACK"):
            raise
        print(f"{stage}: error: {one_line(exc)}", file=sys.stderr)
        leave(EXIT_EXPECTED_ERROR)
    except KeyboardInterrupt:
        print(f"{stage}: interrupted", file=sys.stderr)
        leave(EXIT_INTERRUPTED)
    leave(0)


def exit_process(code: int) -> NoReturn:
    """Flush the output streams and logging, then end the process without its teardown.

    Unloading torch, torchvision, scikit-learn and matplotlib takes about 2 s after a
    stage has finished (7.4 s against 5.4 s for importing them and exiting). By now
    every output is complete: files are written to a temporary path, closed and renamed,
    and the MLflow process has answered its last message.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)
