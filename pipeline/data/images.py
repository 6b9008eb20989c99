"""Reading dataset images with an error that names the file.

PIL raises OSError, SyntaxError or ValueError depending on the format; a
training run or a conversion should instead stop with the path and the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from pipeline.data.errors import DataError


def load_rgb(path: str | Path) -> Image.Image:
    """Decode an image as 3-channel RGB (grayscale thermal images are replicated).

    Raises:
        DataError: the file is missing or does not decode.
    """
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except Exception as exc:  # PIL's errors differ per format
        raise DataError(f"{path}: image does not decode ({exc})") from None


def verify_images(paths: Iterable[str | Path]) -> int:
    """Decode every image fully; return how many were checked.

    Raises:
        DataError: naming the first file that is missing or does not decode.
    """
    count = 0
    for path in paths:
        load_rgb(path)
        count += 1
    return count
