"""Two tracks' expectations as metrics/expected.yaml states them, for the report and sweep tests."""

from __future__ import annotations

from pipeline.report.expectations import Floor, Headline, TrackExpectation

SCL = TrackExpectation(
    name="scl",
    metrics_file="metrics/scl.json",
    headline=Headline(metric="mAP", expected=0.3, tolerance=0.03),
    floors=(
        Floor(metric="mAP", over="init_mAP", margin=0.15),
        Floor(metric="mAP", over="hist_mAP", margin=0.05),
    ),
)
DICL = TrackExpectation(
    name="dicl",
    metrics_file="metrics/dicl.json",
    headline=Headline(metric="mAP", expected=0.35, tolerance=0.03),
    floors=(
        Floor(metric="mAP", over="init_mAP", margin=0.15),
        Floor(metric="det_recall", at_least=0.8),
    ),
)
