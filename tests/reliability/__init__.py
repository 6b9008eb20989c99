"""Reliability: kills, resume, tracking failures, bad input, full disks, safe loading (issue 10)."""
