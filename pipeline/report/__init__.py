"""The pipeline's report: every track's metrics beside baselines, paper and peers."""

from pipeline.report.summary import TrackResult, build_summary, comparison_plot

__all__ = ["TrackResult", "build_summary", "comparison_plot"]
