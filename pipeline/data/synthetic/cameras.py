"""Cameras of the synthetic world: what makes the same person look different.

Each camera has its own white balance, exposure, tone curve (gamma), optical
blur, sensor noise, native resolution (a low-resolution camera's crops are
upscaled, hence blurry, like Market-1501's SD camera), surroundings
(:class:`~pipeline.data.synthetic.backgrounds.Style`) and viewpoint prior (a
corridor camera sees people mostly from the front or back, a street camera in
profile). Infrared cameras develop a single infrared channel instead
(pipeline.data.synthetic.infrared).

Images are written as baseline JPEG by PIL with a fixed quality and no
metadata, so the same pixels give the same bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from pipeline.data.synthetic.backgrounds import Style, sample_style
from pipeline.data.synthetic.figure import VIEWS
from pipeline.data.synthetic.seeding import categorical

# Standard deviation of the difference of two independent uniform bytes.
TRIANGULAR_STD = float(np.sqrt(2 * (256**2 - 1) / 12))


@dataclass(frozen=True)
class Camera:
    """One camera's imaging and viewing properties."""

    number: int
    infrared: bool
    style: Style
    white_balance: tuple[float, float, float]
    exposure: float
    gamma: float
    blur: float  # Gaussian sigma in output pixels
    noise: float  # sensor noise sigma, fraction of full scale
    resolution: float  # native resolution as a fraction of the output size
    view_prior: tuple[float, float, float, float]  # P(front, back, left, right)
    horizon: float  # where ground meets walls, fraction of the image height
    # Infrared cameras: "thermal" (emitted heat) or "near" (reflected near-infrared light).
    band: str = "thermal"


def sample_camera(
    rng: np.random.Generator,
    number: int,
    indoor: bool,
    infrared: bool = False,
    resolution: tuple[float, float] = (0.55, 1.0),
) -> Camera:
    """Draw one camera.

    Args:
        rng: generator of this camera.
        number: the camera's number in file names.
        indoor: looks at a hall rather than a street.
        infrared: an infrared camera (thermal; see ``Camera.band``).
        resolution: range of the native resolution (fraction of the output size).
    """
    style = sample_style(rng, indoor)
    # A dominant walking direction, plus some of every view.
    prior = 0.12 + rng.dirichlet(np.full(len(VIEWS), 0.7))
    prior = prior / prior.sum()
    if infrared:
        white_balance = (1.0, 1.0, 1.0)
        blur = float(rng.uniform(0.6, 1.1))
        noise = float(rng.uniform(0.015, 0.035))
    else:
        white_balance = (math.exp(rng.normal(0.0, 0.03)), 1.0, math.exp(rng.normal(0.0, 0.03)))
        blur = float(rng.uniform(0.0, 0.7))
        noise = float(rng.uniform(0.006, 0.025))
    return Camera(
        number=number,
        infrared=infrared,
        style=style,
        white_balance=white_balance,
        exposure=math.exp(rng.normal(0.0, 0.06)),
        gamma=float(rng.uniform(0.92, 1.1)),
        blur=blur,
        noise=noise,
        resolution=float(rng.uniform(*resolution)),
        view_prior=tuple(float(p) for p in prior),
        horizon=float(rng.uniform(0.45, 0.65)),
    )


def draw_view(camera: Camera, rng: np.random.Generator) -> str:
    """A viewpoint drawn from the camera's prior."""
    return VIEWS[categorical(rng, camera.view_prior)]


# Pixel maths avoids numpy's vectorised transcendental functions (pow, exp): their
# SIMD versions differ in the last bit between CPUs, which would change a few
# rounded pixels and so the bytes. Curves and kernels come from Python's math,
# rounded, as tables.
TONE_LEVELS = 4096


@lru_cache(maxsize=256)
def _tone_table(gamma: float) -> np.ndarray:
    return np.array(
        [round(math.pow(i / (TONE_LEVELS - 1), gamma), 7) for i in range(TONE_LEVELS)],
        dtype=np.float32,
    )


def tone_curve(x: np.ndarray, gamma: float) -> np.ndarray:
    """``x ** gamma`` for ``x`` in [0, 1], through a table (same bits on every CPU)."""
    index = (x * np.float32(TONE_LEVELS - 1) + np.float32(0.5)).astype(np.int32)
    return np.take(_tone_table(gamma), index)


@lru_cache(maxsize=256)
def gaussian_kernel(sigma: float, truncate: float = 2.5) -> np.ndarray:
    """Normalised 1-d Gaussian weights out to ``truncate`` sigmas (float64)."""
    radius = max(1, int(truncate * sigma + 0.5))
    weights = [round(math.exp(-0.5 * (k / sigma) ** 2), 9) for k in range(-radius, radius + 1)]
    total = sum(weights)
    return np.array([w / total for w in weights], dtype=np.float64)


def finish(
    image: np.ndarray, camera: Camera, rng: np.random.Generator, size: tuple[int, int]
) -> np.ndarray:
    """Blur, resample to the output size and add sensor noise.

    Args:
        image: float (H, W) or (H, W, 3) in [0, 1] at the camera's native resolution.
        camera: the camera.
        rng: generator of this image (noise).
        size: output (width, height).

    Returns:
        uint8 array of the output size.
    """
    # The blur is the lens's, in output pixels; at native resolution it is narrower.
    sigma = camera.blur * image.shape[1] / size[0]
    if sigma > 0.05:
        kernel = gaussian_kernel(sigma)
        image = ndimage.correlate1d(image, kernel, axis=0, mode="reflect")
        image = ndimage.correlate1d(image, kernel, axis=1, mode="reflect")
    pil = Image.fromarray((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    if pil.size != size:
        pil = pil.resize(size, Image.Resampling.BILINEAR)
    out = np.array(pil, dtype=np.float32)
    # Sensor noise: the difference of two uniform bytes is triangular (close to
    # Gaussian) with standard deviation 104.5, and far cheaper to draw.
    a = rng.integers(0, 256, out.shape, dtype=np.uint8)
    b = rng.integers(0, 256, out.shape, dtype=np.uint8)
    out += (a.astype(np.float32) - b) * np.float32(camera.noise * 255.0 / TRIANGULAR_STD)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def develop_rgb(
    rgb: np.ndarray, camera: Camera, rng: np.random.Generator, size: tuple[int, int]
) -> np.ndarray:
    """Scene colours -> the camera's 8-bit image.

    Args:
        rgb: float (H, W, 3) scene colours in [0, 1], native resolution.
        camera: an RGB camera.
        rng: generator of this image (brightness jitter, noise).
        size: output (width, height).

    Returns:
        uint8 (height, width, 3).
    """
    gain = camera.exposure * math.exp(rng.normal(0.0, 0.04))
    balance = np.asarray(camera.white_balance, dtype=np.float32) * np.float32(gain)
    x = tone_curve(np.clip(rgb * balance, 0.0, 1.0), camera.gamma)
    return finish(x, camera, rng, size)


def save_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    """Write a uint8 (H, W) or (H, W, 3) array as baseline JPEG without metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(
        path, format="JPEG", quality=quality, optimize=False, progressive=False
    )
