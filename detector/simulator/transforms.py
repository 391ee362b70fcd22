"""Edits a real client applies to its inputs before it sends them: shifts, gain, re-encoding, smoothing.

Benign kinds use them (a camera's jitter, test-time augmentation, a photo
re-saved as JPEG, a slider in an editing app) and so does query blinding,
whose whole point is to look like them. Every function takes flat inputs
``(n, n_features)`` of a :class:`Dataset` and returns new ones in its valid
range; the image ones need ``data.image_shape``.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dctn, idctn

from detector.simulator.datasets import Dataset

JPEG_LUMINANCE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=float,
)
"""The JPEG standard's luminance quantisation table (Annex K), for quality 50."""


def translate(images: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Shift each image (n, rows, cols) by a sub-pixel (dy, dx), bilinear, zero outside.

    >>> img = np.zeros((1, 3, 3)); img[0, 1, 1] = 1.0
    >>> translate(img, np.array([0.5]), np.array([0.0]))[0].round(2).tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.5, 0.0]]
    """
    n, rows, cols = images.shape
    pad = int(np.ceil(max(np.abs(dy).max(), np.abs(dx).max()))) + 1
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    src_y = np.arange(rows)[None, :] - dy[:, None] + pad
    src_x = np.arange(cols)[None, :] - dx[:, None] + pad
    y0, x0 = np.floor(src_y).astype(int), np.floor(src_x).astype(int)
    wy, wx = (src_y - y0)[:, :, None], (src_x - x0)[:, None, :]
    k = np.arange(n)[:, None, None]

    def at(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        return padded[k, ys[:, :, None], xs[:, None, :]]

    return (
        (1 - wy) * (1 - wx) * at(y0, x0)
        + (1 - wy) * wx * at(y0, x0 + 1)
        + wy * (1 - wx) * at(y0 + 1, x0)
        + wy * wx * at(y0 + 1, x0 + 1)
    )


def shifted(data: Dataset, x: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Flat images moved by sub-pixel offsets (the background is the range's low end).

    >>> from detector.simulator.datasets import dataset
    >>> d = dataset("digits")
    >>> bool(np.allclose(shifted(d, d.x_held_out[:2], np.zeros(2), np.zeros(2)), d.x_held_out[:2]))
    True
    """
    images = (x - data.lo).reshape(len(x), *data.image_shape)
    return data.clip(translate(images, dy, dx).reshape(len(x), -1) + data.lo)


def gain(data: Dataset, x: np.ndarray, contrast: np.ndarray, brightness: np.ndarray) -> np.ndarray:
    """Contrast (a factor around the range's middle) and brightness (a share of the range) per row.

    >>> from detector.simulator.datasets import dataset
    >>> d = dataset("digits")
    >>> gain(d, np.full((1, 64), 12.0), np.array([1.5]), np.array([0.0]))[0, 0].item()
    14.0
    """
    middle = data.lo + data.span / 2
    return data.clip(middle + contrast[:, None] * (x - middle) + brightness[:, None] * data.span)


def smoothed(data: Dataset, x: np.ndarray) -> np.ndarray:
    """Each image blurred by a 3x3 binomial kernel (edges repeated): what a soft brush or a resize does.

    >>> from detector.simulator.datasets import dataset
    >>> d = dataset("digits")
    >>> flat = np.full((1, 64), 5.0)
    >>> bool(np.allclose(smoothed(d, flat), flat))
    True
    """
    images = x.reshape(len(x), *data.image_shape)
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
    kernel = np.array([0.25, 0.5, 0.25])
    rows = sum(w * padded[:, i : i + images.shape[1], :] for i, w in enumerate(kernel))
    both = sum(w * rows[:, :, i : i + images.shape[2]] for i, w in enumerate(kernel))
    return data.clip(both.reshape(len(x), -1))


def jpeg_like(data: Dataset, x: np.ndarray, quality: float) -> np.ndarray:
    """Images re-saved as JPEG at ``quality`` (1-100): 8-bit levels, 8x8 block DCT, the standard table
    scaled as libjpeg scales it, rounded coefficients, back. Images whose sides are not multiples of 8
    are padded with their edge.

    >>> from detector.simulator.datasets import dataset
    >>> d = dataset("digits")
    >>> x = d.x_held_out[:20]
    >>> errors = [float(np.abs(jpeg_like(d, x, q) - x).mean()) for q in (95, 50, 20)]
    >>> errors == sorted(errors) and errors[0] < 0.3 < errors[2]
    True
    """
    rows, cols = data.image_shape
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    table = np.maximum(np.floor((JPEG_LUMINANCE * scale + 50.0) / 100.0), 1.0)
    levels = np.round((x - data.lo) / data.span * 255.0).reshape(len(x), rows, cols) - 128.0
    tall, wide = -rows % 8, -cols % 8
    padded = np.pad(levels, ((0, 0), (0, tall), (0, wide)), mode="edge")
    blocks = padded.reshape(len(x), padded.shape[1] // 8, 8, padded.shape[2] // 8, 8)
    coefficients = dctn(blocks, axes=(2, 4), norm="ortho")
    quantised = np.round(coefficients / table[None, None, :, None, :]) * table[None, None, :, None, :]
    restored = idctn(quantised, axes=(2, 4), norm="ortho").reshape(padded.shape)[:, :rows, :cols]
    pixels = np.clip(np.round(restored + 128.0), 0.0, 255.0).reshape(len(x), -1)
    return data.clip(data.lo + pixels / 255.0 * data.span)


def zoomed(data: Dataset, x: np.ndarray, factor: float) -> np.ndarray:
    """Images scaled by ``factor`` about their centre, bilinear, zero outside: a client-side resize or
    crop (a factor near 1 on these small images; 1 leaves them as they are).

    >>> from detector.simulator.datasets import dataset
    >>> d = dataset("digits")
    >>> x = d.x_held_out[:5]
    >>> bool(np.allclose(zoomed(d, x, 1.0), x)), bool(0 < np.abs(zoomed(d, x, 0.95) - x).mean() < 1.0)
    (True, True)
    """
    rows, cols = data.image_shape
    images = np.pad((x - data.lo).reshape(len(x), rows, cols), ((0, 0), (1, 1), (1, 1)))
    ys = np.clip((np.arange(rows) - (rows - 1) / 2) / factor + (rows - 1) / 2 + 1, 0, rows + 1 - 1e-9)
    xs = np.clip((np.arange(cols) - (cols - 1) / 2) / factor + (cols - 1) / 2 + 1, 0, cols + 1 - 1e-9)
    y0, x0 = np.minimum(np.floor(ys).astype(int), rows), np.minimum(np.floor(xs).astype(int), cols)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]

    def at(dy: int, dx: int) -> np.ndarray:
        return images[:, (y0 + dy)[:, None], (x0 + dx)[None, :]]

    out = (1 - wy) * (1 - wx) * at(0, 0) + (1 - wy) * wx * at(0, 1) + wy * (1 - wx) * at(1, 0) + wy * wx * at(1, 1)
    return data.clip(out.reshape(len(x), -1) + data.lo)


def rounded(x: np.ndarray, digits: int) -> np.ndarray:
    """Values written with ``digits`` significant digits: a record re-typed or re-exported by another tool.

    >>> rounded(np.array([[1.23456, -0.0098765]]), 3).tolist()
    [[1.23, -0.00988]]
    """
    magnitude = np.floor(np.log10(np.abs(x), out=np.zeros_like(x), where=x != 0))
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.round(x * scale) / scale


def near_invariant(
    data: Dataset, x: np.ndarray, rng: np.random.Generator, *, shift_px: float, contrast: float, noise: float
) -> np.ndarray:
    """One fresh random edit per row that a model barely notices: a sub-pixel shift of up to ``shift_px``
    (images), contrast and brightness within +-``contrast``, and Gaussian noise of ``noise`` x the range.

    >>> from detector.simulator.datasets import dataset
    >>> d = dataset("digits")
    >>> x = np.repeat(d.x_held_out[:1], 4, axis=0)
    >>> y = near_invariant(d, x, np.random.default_rng(0), shift_px=0.5, contrast=0.03, noise=0.005)
    >>> len(np.unique(y, axis=0)), round(float(np.abs(y - x).mean()), 1)  # distinct copies, ~1.4 of 16 per pixel
    (4, 1.4)
    """
    n = len(x)
    if data.image_shape is not None and shift_px > 0:
        x = shifted(data, x, rng.uniform(-shift_px, shift_px, n), rng.uniform(-shift_px, shift_px, n))
    x = gain(data, x, 1.0 + rng.uniform(-contrast, contrast, n), rng.uniform(-contrast, contrast, n))
    return data.clip(x + noise * data.span * rng.standard_normal(x.shape))
