"""DVC stage ``download@<dataset>``: params ``datasets.<dataset>`` -> ``data/raw/<dataset>/``.

Synthetic datasets are rendered in their original layout; real ones come from
``data/archives/<archive>`` (hand-placed, or downloaded from the entry's URL),
checksum-verified and safely extracted within ``datasets.<dataset>.limits``. The
output folder is replaced only when complete. Run from the repository root::

    python -m stages.download market1501
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pipeline.data.download import fetch_archive
from pipeline.data.extract import extract_archive
from pipeline.data.sources import SyntheticSource, dataset_source
from pipeline.io import atomic_dir
from pipeline.params import load_params
from stages._main import run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.download", description=__doc__)
    parser.add_argument("dataset", help="a key of `datasets:` in params.yaml")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", help="output folder (default: data/raw/<dataset>)")
    parser.add_argument("--archives", default="data/archives", help="where archives live")
    parser.add_argument("--no-progress", action="store_true", help="no download progress bar")
    args = parser.parse_args(argv)

    source = dataset_source(load_params(args.params), args.dataset)
    out = Path(args.out or Path("data/raw") / args.dataset)
    if isinstance(source, SyntheticSource):
        from pipeline.data.synthetic import render

        with atomic_dir(out) as tmp:
            # The last argument prefixes the keys named in render-settings errors.
            render(source.layout, source.render, tmp, f"datasets.{args.dataset}.render")
        return
    archive = fetch_archive(
        source, Path(args.archives), args.dataset, progressbar=not args.no_progress
    )
    extract_archive(archive, out, source.limits, f"datasets.{args.dataset}.limits")


if __name__ == "__main__":
    run(main, "download")
