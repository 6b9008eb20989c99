"""DVC stage ``convert@<dataset>``: ``data/raw/<dataset>/`` -> ``data/processed/<dataset>/``.

Picks the converter of the entry's layout (``pipeline.data.converters``), writes
the common format (re-id ``index.csv``; person search ``train.json``,
``test.json``, ``protocol.json``) with paths relative to the repository root,
``raw.md5`` (the md5 of every raw file: ``pipeline.data.manifest``), and the
contact sheet ``plots/datasets/<dataset>.png``. Both outputs are
replaced only when both are complete. Run from the repository root::

    python -m stages.convert market1501
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pipeline.data.contact_sheet import write_contact_sheet
from pipeline.data.converters import CONVERTERS
from pipeline.data.manifest import write_raw_manifest
from pipeline.data.sources import dataset_source
from pipeline.io import atomic_dir
from pipeline.params import load_params
from stages._main import run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.convert", description=__doc__)
    parser.add_argument("dataset", help="a key of `datasets:` in params.yaml")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", help="input folder (default: data/raw/<dataset>)")
    parser.add_argument("--out", help="output folder (default: data/processed/<dataset>)")
    parser.add_argument("--plot", help="contact sheet (default: plots/datasets/<dataset>.png)")
    args = parser.parse_args(argv)

    source = dataset_source(load_params(args.params), args.dataset)
    raw = Path(args.raw or Path("data/raw") / args.dataset)
    out = Path(args.out or Path("data/processed") / args.dataset)
    plot = Path(args.plot or Path("plots/datasets") / f"{args.dataset}.png")
    convert = CONVERTERS[source.layout]

    with atomic_dir(out) as tmp_out:
        # Paths in the outputs are relative to the repository root, the working directory.
        convert(raw, tmp_out, Path.cwd(), verify_images=source.verify_images)
        write_raw_manifest(raw, tmp_out)
        # Written atomically by itself; inside this block, so a failure of either
        # output leaves both previous ones in place.
        write_contact_sheet(tmp_out, plot, path_root=Path.cwd())


if __name__ == "__main__":
    run(main, "convert")
