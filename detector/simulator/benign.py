"""Benign clients: the traffic a detector must stay quiet on.

Each kind is a function ``(data, rng, remaining_s) -> Traffic``: how many
queries the client sends in all, and a stream of ``(gaps_s, inputs)``
chunks holding at least that many (endless for most kinds), real samples
with the kind's timing (gaps shorter than ``traffic.MIN_GAP_S`` are raised
to it when served).
``remaining_s`` is the time left in the scenario (a health check lives until
its end). Several kinds are deliberately close to attacks: ``video`` sends
near-identical consecutive inputs, ``augment`` small perturbations of a few
samples, ``batch`` thousands of queries at machine cadence, ``drift`` a slow
steady walk of the input distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from detector.simulator.datasets import Dataset
from detector.simulator.traffic import Cadence, Chunk

CHUNK = 64
"""Queries generated at a time (bounds a client's memory)."""


class Traffic(NamedTuple):
    """A benign client's total number of queries and its chunk stream."""

    n_events: int
    chunks: Iterator[Chunk]


BenignKind = Callable[[Dataset, np.random.Generator, float], Traffic]


def _session_length(rng: np.random.Generator) -> int:
    """Queries in a person's session: tens to a few hundred (lognormal, median 60)."""
    return int(np.clip(rng.lognormal(np.log(60), 0.8), 10, 300))


def _person(data: Dataset, rng: np.random.Generator) -> Iterator[Chunk]:
    """Real held-out samples sent by a person: lognormal think times of seconds (median 3-15 s)."""
    median_s = rng.uniform(3.0, 15.0)
    while True:
        yield median_s * rng.lognormal(0.0, 1.0, CHUNK), data.x_held_out[rng.integers(len(data.x_held_out), size=CHUNK)]


def interactive(data: Dataset, rng: np.random.Generator, remaining_s: float) -> Traffic:
    """A person using an app: random held-out samples, lognormal think-time gaps."""
    return Traffic(_session_length(rng), _person(data, rng))


def retry(data: Dataset, rng: np.random.Generator, remaining_s: float) -> Traffic:
    """A person behind a flaky network: like ``interactive``, but some requests
    (5-25%) are resent identically 1-3 times within about a second."""
    resend_share = rng.uniform(0.05, 0.25)

    def chunks() -> Iterator[Chunk]:
        for gaps, requests in _person(data, rng):
            copies = 1 + np.where(rng.random(CHUNK) < resend_share, rng.integers(1, 4, CHUNK), 0)
            first = np.concatenate([[0], np.cumsum(copies)[:-1]])
            all_gaps = rng.uniform(0.05, 0.3, int(copies.sum()))
            all_gaps[first] = gaps
            yield all_gaps, np.repeat(requests, copies, axis=0)

    return Traffic(_session_length(rng), chunks())


def batch(data: Dataset, rng: np.random.Generator, remaining_s: float) -> Traffic:
    """A scoring job: hundreds to thousands of distinct real samples (each sent
    once) at a regular machine cadence (period 20-200 ms, 5% jitter)."""
    pool = data.x_all
    n = int(rng.integers(min(500, len(pool)), len(pool) + 1))
    order = rng.permutation(len(pool))[:n]
    period_s = rng.uniform(0.02, 0.2)

    def chunks() -> Iterator[Chunk]:
        for start in range(0, n, CHUNK):
            rows = order[start : start + CHUNK]
            yield period_s * (1.0 + 0.05 * rng.standard_normal(len(rows))), pool[rows]

    return Traffic(n, chunks())


def healthcheck(data: Dataset, rng: np.random.Generator, remaining_s: float) -> Traffic:
    """A liveness probe: one fixed real sample every 10-60 s, very regular, until the scenario ends."""
    period_s = float(rng.choice([10.0, 15.0, 30.0, 60.0]))
    sample = data.x_held_out[rng.integers(len(data.x_held_out))]

    def chunks() -> Iterator[Chunk]:
        while True:
            yield period_s + 0.02 * rng.standard_normal(CHUNK), np.tile(sample, (CHUNK, 1))

    return Traffic(max(3, int(remaining_s / period_s)), chunks())


def _translate(images: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Shift each image (n, rows, cols) by a sub-pixel (dy, dx), bilinear, zero outside.

    >>> img = np.zeros((1, 3, 3)); img[0, 1, 1] = 1.0
    >>> _translate(img, np.array([0.5]), np.array([0.0]))[0].round(2).tolist()
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


def _slow_walk(rng: np.random.Generator, start: np.ndarray, n: int, step: float, pull: float = 0.02) -> np.ndarray:
    """``n`` states of a slow mean-reverting random walk (AR(1)) continuing from ``start``."""
    states = np.empty((n, *start.shape))
    state = start
    for i in range(n):
        state = (1.0 - pull) * state + step * rng.standard_normal(start.shape)
        states[i] = state
    return states


def video(data: Dataset, rng: np.random.Generator, remaining_s: float) -> Traffic:
    """Frames from a camera at 10-30 fps for 15-120 s: a real sample slowly
    moving and flickering, with sensor noise, cut to another sample every
    3-15 s; consecutive inputs are near-identical. Images move by a
    sub-pixel walk and a brightness walk; tabular records (a monitoring feed)
    by a slow walk of every feature."""
    fps = rng.uniform(10.0, 30.0)
    n = int(fps * rng.uniform(15.0, 120.0))
    noise = 0.01 * data.span

    def frames(base: np.ndarray, count: int, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if data.image_shape is None:
            walk = _slow_walk(rng, motion, count, 0.002)
            return base + walk * data.span, walk[-1]
        walk = _slow_walk(rng, motion, count, 0.04)  # (dy, dx, brightness) in pixels, pixels, share
        images = _translate(np.repeat(base.reshape(1, *data.image_shape), count, axis=0), walk[:, 0], walk[:, 1])
        return images.reshape(count, -1) * (1.0 + 0.1 * walk[:, 2:3]), walk[-1]

    def chunks() -> Iterator[Chunk]:
        motion = np.zeros(data.n_features if data.image_shape is None else 3)
        while True:
            base = data.x_held_out[rng.integers(len(data.x_held_out))]
            count = max(1, int(fps * rng.uniform(3.0, 15.0)))
            for start in range(0, count, CHUNK):
                size = min(CHUNK, count - start)
                inputs, motion = frames(base, size, motion)
                inputs = data.clip(inputs + noise * rng.standard_normal(inputs.shape))
                yield (1.0 + 0.02 * rng.standard_normal(size)) / fps, inputs

    return Traffic(n, chunks())


def drift(data: Dataset, rng: np.random.Generator, remaining_s: float) -> Traffic:
    """A production feed whose inputs drift: real samples under a gain and an
    offset (same direction, like a sensor's brightness and contrast) that
    grow linearly from none to their final size (gain +-10-40%, offset
    +-2-10% of the range) over the client's life; Poisson arrivals with a
    mean gap of 0.5-5 s."""
    n = int(rng.integers(200, 1500))
    direction = rng.choice([-1.0, 1.0])
    final_gain = direction * rng.uniform(0.1, 0.4)
    final_offset = direction * rng.uniform(0.02, 0.1) * data.span
    mean_gap_s = rng.uniform(0.5, 5.0)

    def chunks() -> Iterator[Chunk]:
        for start in range(0, n, CHUNK):
            progress = (start + np.arange(CHUNK))[:, None] / n
            samples = data.x_held_out[rng.integers(len(data.x_held_out), size=CHUNK)]
            inputs = data.clip(samples * (1.0 + final_gain * progress) + final_offset * progress)
            yield rng.exponential(mean_gap_s, CHUNK), inputs

    return Traffic(n, chunks())


def augment(data: Dataset, rng: np.random.Generator, remaining_s: float) -> Traffic:
    """A QA or robustness check: 3-10 real samples, each sent as is and then as
    3-8 mildly noised variants (noise 2-5% of the range), by a script."""
    samples = data.x_held_out[rng.choice(len(data.x_held_out), int(rng.integers(3, 11)), replace=False)]
    variants = rng.integers(3, 9, len(samples))
    sigma = rng.uniform(0.02, 0.05)
    cadence = Cadence(rng.uniform(0.2, 1.0), 0.3)

    def chunks() -> Iterator[Chunk]:
        for sample, count in zip(samples, variants):
            noisy = data.clip(sample + sigma * data.span * rng.standard_normal((count, data.n_features)))
            yield cadence.gaps(rng, count + 1), np.vstack([sample, noisy])

    return Traffic(int((variants + 1).sum()), chunks())


BENIGN_KINDS: dict[str, BenignKind] = {
    "interactive": interactive,
    "batch": batch,
    "healthcheck": healthcheck,
    "retry": retry,
    "video": video,
    "drift": drift,
    "augment": augment,
}
"""Benign client kinds by name."""
