"""Colour-histogram baseline descriptor: hand-worked histograms of flat-colour images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.models.color_histogram import color_histogram_features


def _flat(colour: tuple[int, int, int], size=(64, 128)) -> np.ndarray:
    return np.tile(np.asarray(colour, dtype=np.uint8), (size[1], size[0], 1))


def test_pure_red_is_one_bin_per_stripe() -> None:
    # PIL HSV of (255, 0, 0) is (0, 255, 255): hue bin 0, saturation bin 3, value bin 3
    # -> index (0 * 4 + 3) * 4 + 3 = 15 in each of the 6 stripes of 128 bins.
    feature = color_histogram_features([_flat((255, 0, 0))])
    assert feature.shape == (1, 6 * 128) and feature.dtype == np.float32
    expected = np.zeros(6 * 128, dtype=np.float32)
    expected[[15 + 128 * k for k in range(6)]] = 1 / np.sqrt(6)
    np.testing.assert_allclose(feature[0], expected, atol=1e-6)


def test_two_stripes_blue_over_green() -> None:
    image = _flat((0, 255, 0))
    image[:64] = (0, 0, 255)
    # Blue: PIL hue 170 -> bin 170 * 8 // 256 = 5 -> (5 * 4 + 3) * 4 + 3 = 95 (top stripe).
    # Green: hue 85 -> bin 2 -> (2 * 4 + 3) * 4 + 3 = 47, second stripe: 128 + 47.
    feature = color_histogram_features([image], stripes=2)[0]
    assert np.flatnonzero(feature).tolist() == [95, 175]
    np.testing.assert_allclose(feature[[95, 175]], [2**-0.5, 2**-0.5], atol=1e-6)


def test_half_black_half_white_is_square_rooted() -> None:
    image = _flat((0, 0, 0))
    image[:, 32:] = 255
    # One stripe: half the pixels in bin 0 (black), half in bin 3 (white, value 255):
    # sqrt(0.5) each, already of unit norm.
    feature = color_histogram_features([image], stripes=1)[0]
    assert np.flatnonzero(feature).tolist() == [0, 3]
    np.testing.assert_allclose(feature[[0, 3]], [0.5**0.5, 0.5**0.5], atol=1e-6)


def test_paths_pil_images_and_arrays_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (100, 40, 3), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "a.png")
    gray = rng.integers(0, 256, (100, 40), dtype=np.uint8)
    features = color_histogram_features(
        [tmp_path / "a.png", str(tmp_path / "a.png"), Image.fromarray(array), array, gray]
    )
    np.testing.assert_array_equal(features[0], features[1])
    np.testing.assert_array_equal(features[0], features[2])
    np.testing.assert_array_equal(features[0], features[3])
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-6)
    # A gray image has no saturation: only saturation bin 0 is used.
    per_bin = features[4].reshape(6, 8, 4, 4)
    assert per_bin[:, :, 1:, :].sum() == 0


def test_empty_input_and_errors(tmp_path: Path) -> None:
    assert color_histogram_features([]).shape == (0, 768)
    with pytest.raises(ValueError, match="bins"):
        color_histogram_features([_flat((1, 2, 3))], bins=(8, 4))
    with pytest.raises(ValueError, match="stripes=200"):
        color_histogram_features([_flat((1, 2, 3))], stripes=200)
    with pytest.raises(ValueError, match="expected uint8"):
        color_histogram_features([np.zeros((4, 4, 3), dtype=np.float32)])
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    with pytest.raises(ValueError, match="broken.jpg: cannot read the image"):
        color_histogram_features([broken])
