"""DVC stage ``report``: every track's metrics -> ``reports/summary.md`` + ``reports/comparison.png``.

Each track's metrics sit beside its baselines, the reproduced paper's figure and
the strongest peers' (``pipeline/report/reference_numbers.yaml``); numbers from
the synthetic world are marked as such. Each track's learning check holds its
metrics to the floors of ``metrics/expected.yaml``; the seed sweep's table comes from
``reports/seed_sweep.json`` when there is one. Run from the repository root::

    python -m stages.report
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from pipeline.data.sources import SyntheticSource, dataset_source
from pipeline.io import write_bytes, write_text
from pipeline.params import load_params
from pipeline.report import TrackResult, build_summary, comparison_plot
from pipeline.report.expectations import EXPECTATIONS_FILE, load_expectations
from pipeline.report.seed_sweep import SWEEP_FILE, load_sweep
from pipeline.report.summary import TRACK_OF_SECTION
from stages._main import run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.report", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--metrics", default="metrics", help="folder of <track>.json files")
    parser.add_argument("--out", default="reports", help="folder for summary.md and comparison.png")
    parser.add_argument("--expected", default=str(EXPECTATIONS_FILE), help="floors per track")
    parser.add_argument("--sweep", default=str(SWEEP_FILE), help="the seed sweep (may be absent)")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    expectations = load_expectations(args.expected)
    sweep = load_sweep(args.sweep)
    results = []
    for section, name in TRACK_OF_SECTION.items():
        dataset = (params.get(section) or {}).get("dataset")
        source = dataset_source(params, dataset)
        path = Path(args.metrics) / f"{name}.json"
        with path.open(encoding="utf-8") as fh:
            metrics = json.load(fh)
        results.append(
            TrackResult(
                section=section,
                dataset=dataset,
                layout=source.layout,
                synthetic=isinstance(source, SyntheticSource),
                metrics=metrics,
                expectation=expectations[name],
            )
        )
    out = Path(args.out)
    write_text(out / "summary.md", build_summary(results, sweep))
    write_bytes(out / "comparison.png", comparison_plot(results))


if __name__ == "__main__":
    run(main, "report")
