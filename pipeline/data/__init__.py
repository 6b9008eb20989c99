"""Datasets: sources, download and safe extraction, one converter per original
layout, the common re-id index, torch datasets, transforms and samplers.

Submodules are imported where they are used (torch is not needed to
download or convert a dataset).
"""
