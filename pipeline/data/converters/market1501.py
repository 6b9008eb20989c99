"""Market-1501 -> the common re-id index.

Dataset: Zheng et al., "Scalable Person Re-identification: A Benchmark", ICCV
2015. 1,501 identities seen by 6 cameras; 12,936 training images (751 ids),
3,368 queries and 19,732 gallery images (750 ids plus 2,793 distractors with pid
0000 and 3,819 junk boxes with pid -1). Names:
``{pid:04d}_c{cam}s{seq}_{frame:06d}_{box:02d}.jpg`` (junk: ``-1_c...``).
Output: ``index.csv`` (docs/design.md, "Re-id index"): junk dropped, distractors kept
with pid 0. ``gt_bbox/`` and ``gt_query/`` (hand-drawn boxes) are not used.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.data.converters.market_style import convert_market_style

NAME = re.compile(r"(?P<pid>-?\d+)_c(?P<cam>\d)s\d+_\d+_\d+\.jpg")
NUM_CAMERAS = 6


def convert(raw_dir: Path, out_dir: Path, path_root: Path, *, verify_images: bool = False) -> None:
    """Write ``out_dir/index.csv`` for the Market-1501 folder found in ``raw_dir``.

    Args:
        raw_dir: the extracted archive (the ``Market-1501-v15.09.15/`` folder may be inside).
        out_dir: where ``index.csv`` goes.
        path_root: paths in the index are relative to it (the repository root).
        verify_images: decode every image (slow at full scale); names are always checked.

    Raises:
        DataError: no Market layout, a malformed file name, or an image that does not decode.
    """
    convert_market_style(
        raw_dir,
        out_dir,
        path_root,
        pattern=NAME,
        num_cameras=NUM_CAMERAS,
        dataset="Market-1501",
        verify_images=verify_images,
    )
