"""One converter per original dataset layout, picked by ``datasets.<name>.layout``.

Call contract of every entry of :data:`CONVERTERS`::

    convert(raw_dir: Path, out_dir: Path, path_root: Path, *, verify_images=False) -> None

``raw_dir`` is the extracted (or rendered) dataset folder; the converter finds the
dataset's top folder inside it. It writes the common format into ``out_dir``
(re-id: ``index.csv``; person search: ``train.json``, ``test.json``,
``protocol.json``) with every path relative to ``path_root``, POSIX style, and
raises a ``ValueError`` subclass naming the file on bad input. The synthetic
world writes the same layouts, so the same converters read it.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.data.converters import (
    cuhk_sysu,
    dukemtmc,
    market1501,
    msmt17,
    prw,
    regdb,
    sysu_mm01,
)

Converter = Callable[..., None]

CONVERTERS: dict[str, Converter] = {
    "market1501": market1501.convert,
    "dukemtmc": dukemtmc.convert,
    "msmt17": msmt17.convert,
    "cuhk_sysu": cuhk_sysu.convert,
    "prw": prw.convert,
    "sysu_mm01": sysu_mm01.convert,
    "regdb": regdb.convert,
}

__all__ = ["CONVERTERS", "Converter"]
