"""The report: metrics beside baselines and published figures, synthetic marked."""

from __future__ import annotations

from pipeline.report import TrackResult, build_summary, comparison_plot


def results():
    return [
        TrackResult(
            section="scl",
            dataset="synthetic_market1501",
            layout="market1501",
            synthetic=True,
            metrics={
                "mAP": 0.61234,
                "rank1": 0.8,
                "init_mAP": 0.1,
                "init_rank1": 0.2,
                "hist_mAP": 0.3,
            },
        ),
        TrackResult(
            section="person_search",
            dataset="prw",
            layout="prw",
            synthetic=False,
            metrics={"mAP": 0.2, "top1": 0.7, "init_mAP": 0.01, "init_top1": 0.05},
        ),
    ]


def test_summary_rows_and_marks():
    text = build_summary(results())
    lines = text.splitlines()
    scl_header = next(line for line in lines if line.startswith("| metric | this run"))
    assert scl_header == (
        "| metric | this run | untrained | colour histogram | SCL (+ DBSCAN pseudo labels) paper"
        " (market1501) | SpCL | Cluster Contrast | PPLR | ISE |"
    )
    assert "| mAP | 61.2 | 10.0 | 30.0 | 50.7 | 73.1 | 82.1 | 81.5 | 84.7 |" in lines
    assert "| rank-1 | 80.0 | 20.0 | – | 78.9 | 88.1 | 92.3 | 92.8 | 94.0 |" in lines
    assert "**synthetic** data (`synthetic_market1501`, market1501 layout)" in text
    # The real-data track has no histogram baseline column and no synthetic mark.
    assert "| mAP | 20.0 | 1.0 | 35.5 | 16.2 | 21.2 | 33.9 | 41.7 |" in lines
    assert "dataset `prw`." in text


def test_plot_is_deterministic_png():
    first = comparison_plot(results())
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert comparison_plot(results()) == first
