"""Benign clients: the traffic a detector must stay quiet on.

Each kind is a function ``(data, rng, remaining_s, owner) -> Traffic``: how
many queries the client sends in all, and a stream of ``(gaps_s, inputs)``
chunks holding at least that many (endless for some kinds), real samples
with the kind's timing (gaps shorter than ``traffic.MIN_GAP_S`` are raised
to it when served). ``remaining_s`` is the time left in the scenario (a
health check lives until its end); ``owner`` is the served model's class
probabilities as its owner computes them offline (only the active-learning
labeller, which is the owner's own tool, uses it).

Every kind draws its parameters per client over a wide range (a kind at one
setting teaches a threshold nothing), and most are deliberately close to an
attack:

- ``retry``, ``heavy-retry``, ``reencode``: copies of a point, identical or
  within float noise, re-encoding or resizing of it (near-duplicate bursts,
  blinded probes);
- ``augment``, ``tta``: small perturbations or augmented views of a few
  samples (probe clouds, blinding);
- ``editing``: dense smooth steps in one direction (a gradient walk);
- ``typeahead``: one coordinate changing at a time (coordinate-wise probing);
- ``video``: near-identical consecutive inputs (noisy inversion);
- ``batch``, ``rescoring``: thousands of distinct records at machine cadence,
  and exact repeats of them (extraction);
- ``healthcheck``: one fixed input forever;
- ``drift``, ``shifted``: inputs off the training distribution;
- ``shadow``: many unrelated sessions behind one key (a mixed key);
- ``labeller``: the model's least confident records (active-learning extraction).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from detector.simulator.datasets import Dataset
from detector.simulator.traffic import Cadence, Chunk
from detector.simulator.transforms import gain, jpeg_like, rounded, shifted, smoothed, zoomed

CHUNK = 64
"""Queries generated at a time (bounds a client's memory)."""

Scorer = Callable[[np.ndarray], np.ndarray]
"""Inputs (n, n_features) -> class probabilities (n, n_classes)."""


class Traffic(NamedTuple):
    """A benign client's total number of queries and its chunk stream."""

    n_events: int
    chunks: Iterator[Chunk]


BenignKind = Callable[[Dataset, np.random.Generator, float, Scorer], Traffic]


def played(traffic: Traffic) -> Chunk:
    """All of a client's (gaps, inputs), cut at its number of events.

    >>> from detector.simulator.datasets import dataset
    >>> gaps, inputs = played(interactive(dataset("digits"), np.random.default_rng(0), 60.0, None))
    >>> len(gaps) == len(inputs) > 0
    True
    """
    gaps, inputs, count = [], [], 0
    for g, x in traffic.chunks:
        gaps.append(g)
        inputs.append(x)
        count += len(g)
        if count >= traffic.n_events:
            break
    return np.concatenate(gaps)[: traffic.n_events], np.vstack(inputs)[: traffic.n_events]


def _chunked(gaps: np.ndarray, inputs: np.ndarray) -> Iterator[Chunk]:
    """Precomputed traffic as a stream of chunks."""
    for start in range(0, len(gaps), CHUNK):
        yield gaps[start : start + CHUNK], inputs[start : start + CHUNK]


def _samples(data: Dataset, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random real held-out samples."""
    return data.x_held_out[rng.integers(len(data.x_held_out), size=n)]


def _session_length(rng: np.random.Generator) -> int:
    """Queries in a person's session: tens to a few hundred (lognormal, median 60)."""
    return int(np.clip(rng.lognormal(np.log(60), 0.8), 10, 300))


def _think_times(rng: np.random.Generator, median_s: float, n: int) -> np.ndarray:
    """A person's pauses: lognormal around ``median_s``."""
    return median_s * rng.lognormal(0.0, 1.0, n)


def _person(data: Dataset, rng: np.random.Generator) -> Iterator[Chunk]:
    """Real held-out samples sent by a person: lognormal think times of seconds (median 3-15 s)."""
    median_s = rng.uniform(3.0, 15.0)
    while True:
        yield _think_times(rng, median_s, CHUNK), _samples(data, rng, CHUNK)


def interactive(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """A person using an app: random held-out samples, lognormal think-time gaps."""
    return Traffic(_session_length(rng), _person(data, rng))


def _with_copies(
    requests: Iterator[Chunk], copies: Callable[[], int], waits: Callable[[int], np.ndarray], copy: Callable[[np.ndarray], np.ndarray]
) -> Iterator[Chunk]:
    """Each request followed by ``copies()`` more of it (``copy`` makes them), ``waits(k)`` apart."""
    for gaps, rows in requests:
        out_gaps, out_rows = [], []
        for gap, row in zip(gaps, rows):
            k = copies()
            out_gaps.append([gap, *waits(k)])
            out_rows.append(np.vstack([row[None], copy(np.repeat(row[None], k, axis=0))]) if k else row[None])
        yield np.concatenate(out_gaps), np.vstack(out_rows)


def retry(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """A person behind a flaky network: like ``interactive``, but some requests
    (5-25%) are resent identically 1-3 times within about a second."""
    resend_share = rng.uniform(0.05, 0.25)
    chunks = _with_copies(
        _person(data, rng),
        lambda: int(rng.integers(1, 4)) if rng.random() < resend_share else 0,
        lambda k: rng.uniform(0.05, 0.3, k),
        lambda rows: rows,
    )
    return Traffic(_session_length(rng), chunks)


def heavy_retry(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """A bad mobile network or an impatient user: most requests (50-95%) re-sent 2-5 more times,
    the first copy 0.2-1.5 s later and each next one a back-off factor of 1-1.6 after that; per client
    the copies are identical, carry uniform float noise of 1e-4 to 2e-3 of the range (a re-encoding
    or resize upstream), or are written with 3-5 significant digits (JSON float formatting)."""
    resend_share = rng.uniform(0.5, 0.95)
    first_wait_s, backoff = rng.uniform(0.2, 1.5), rng.uniform(1.0, 1.6)
    style = rng.choice(["identical", "noise", "digits"])
    amplitude, digits = rng.uniform(1e-4, 2e-3), int(rng.integers(3, 6))

    def copy(rows: np.ndarray) -> np.ndarray:
        if style == "noise":
            return data.clip(rows + amplitude * data.span * rng.uniform(-1.0, 1.0, rows.shape))
        if style == "digits":
            return data.clip(rounded(rows, digits))
        return rows

    chunks = _with_copies(
        _person(data, rng),
        lambda: int(rng.integers(2, 6)) if rng.random() < resend_share else 0,
        lambda k: first_wait_s * backoff ** np.arange(k) * rng.uniform(0.8, 1.2, k),
        copy,
    )
    return Traffic(int(_session_length(rng) * (1.0 + 3.5 * resend_share)), chunks)


def reencode(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """The same photo uploaded again after the client re-saved it: unrelated real samples (think time
    median 5-30 s), each with probability 0.3-0.9 followed by 1-3 re-uploads 2-120 s apart, each
    re-encoded from the original. Images: a JPEG re-save at quality 50-95 (per client), for some
    clients after a resize by 0.95-1.05 and a crop shift of up to 0-0.15 px (on 8x8 images a pixel is
    a lot); records: re-exported with 2-4 significant digits (per client). 20-200 points."""
    reupload_share, median_s = rng.uniform(0.3, 0.9), rng.uniform(5.0, 30.0)
    quality, digits = rng.uniform(50.0, 95.0), int(rng.integers(2, 5))
    resize = rng.uniform(0.95, 1.05) if rng.random() < 0.5 else None
    max_shift_px = rng.uniform(0.0, 0.15)

    def copy(rows: np.ndarray) -> np.ndarray:
        if data.image_shape is None:
            return data.clip(rounded(rows, digits))
        n = len(rows)
        moved = shifted(data, rows, rng.uniform(-max_shift_px, max_shift_px, n), rng.uniform(-max_shift_px, max_shift_px, n))
        return jpeg_like(data, moved if resize is None else zoomed(data, moved, resize), quality)

    def points() -> Iterator[Chunk]:
        while True:
            yield _think_times(rng, median_s, CHUNK), _samples(data, rng, CHUNK)

    chunks = _with_copies(
        points(),
        lambda: int(rng.integers(1, 4)) if rng.random() < reupload_share else 0,
        lambda k: rng.uniform(2.0, 120.0, k),
        copy,
    )
    return Traffic(int(rng.integers(20, 201) * (1.0 + 2.0 * reupload_share)), chunks)


def batch(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
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


def rescoring(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """A nightly job scoring the same batch again: 100-600 distinct real records at a machine
    cadence (period 20-200 ms, 5% jitter), then the very same records 1-2 more times, 20-90 min
    apart, in the same order or reshuffled (per client)."""
    pool = data.x_all
    records = pool[rng.permutation(len(pool))[: int(rng.integers(100, min(600, len(pool)) + 1))]]
    runs, period_s = int(rng.integers(2, 4)), rng.uniform(0.02, 0.2)
    interval_s, reshuffle = rng.uniform(1200.0, 5400.0), bool(rng.random() < 0.5)

    def chunks() -> Iterator[Chunk]:
        for run in range(runs):
            rows = records[rng.permutation(len(records))] if reshuffle and run else records
            gaps = period_s * (1.0 + 0.05 * rng.standard_normal(len(rows)))
            if run:
                gaps[0] = interval_s
            yield from _chunked(gaps, rows)

    return Traffic(runs * len(records), chunks())


def healthcheck(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """A liveness probe: one fixed real sample every 10-60 s, very regular, until the scenario ends."""
    period_s = float(rng.choice([10.0, 15.0, 30.0, 60.0]))
    sample = data.x_held_out[rng.integers(len(data.x_held_out))]

    def chunks() -> Iterator[Chunk]:
        while True:
            yield period_s + 0.02 * rng.standard_normal(CHUNK), np.tile(sample, (CHUNK, 1))

    return Traffic(max(3, int(remaining_s / period_s)), chunks())


def video(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """Frames from a camera at 1-30 fps (log-uniform) for 10-180 s: a real sample slowly moving and
    changing exposure, cut to another sample every 2-30 s (mean per client, at least 5 frames). The
    motion (images: a sub-pixel shift and a brightness walk; records: a walk of every feature) is a
    mean-reverting random walk whose per-frame step shrinks with the frame rate (a per-client speed);
    sensor noise of 0.2-3% of the range is correlated from frame to frame (AR(1), 0-0.8) and, on
    images, grows with the pixel's brightness."""
    fps = float(np.exp(rng.uniform(np.log(1.0), np.log(30.0))))
    n = int(fps * rng.uniform(10.0, 180.0))
    mean_cut_s = rng.uniform(2.0, 30.0)
    noise, correlation = rng.uniform(0.002, 0.03), rng.uniform(0.0, 0.8)
    image = data.image_shape is not None
    step = (rng.uniform(0.05, 0.3) if image else rng.uniform(0.004, 0.02)) / np.sqrt(fps)
    pull = 1.0 - np.exp(-1.0 / (fps * rng.uniform(2.0, 10.0)))
    state = {"motion": np.zeros(3 if image else data.n_features), "noise": rng.standard_normal(data.n_features)}

    def frames(base: np.ndarray, count: int) -> np.ndarray:
        walk = _slow_walk(rng, state["motion"], count, step, pull)
        state["motion"] = walk[-1]
        if not image:
            return base + walk * data.span
        moved = shifted(data, np.repeat(base[None], count, axis=0), walk[:, 0], walk[:, 1])
        return gain(data, moved, np.ones(count), 0.1 * walk[:, 2])

    def sensor(inputs: np.ndarray) -> np.ndarray:
        shocks = rng.standard_normal(inputs.shape)
        series = np.empty_like(inputs)
        previous = state["noise"]
        for i in range(len(inputs)):
            previous = correlation * previous + np.sqrt(1.0 - correlation**2) * shocks[i]
            series[i] = previous
        state["noise"] = previous
        level = np.sqrt(0.1 + 0.9 * (inputs - data.lo) / data.span) if image else 1.0
        return data.clip(inputs + noise * data.span * level * series)

    def chunks() -> Iterator[Chunk]:
        while True:
            base = data.x_held_out[rng.integers(len(data.x_held_out))]
            count = max(5, int(fps * rng.exponential(mean_cut_s)))
            for start in range(0, count, CHUNK):
                size = min(CHUNK, count - start)
                yield (1.0 + 0.02 * rng.standard_normal(size)) / fps, sensor(frames(base, size))

    return Traffic(n, chunks())


def _slow_walk(rng: np.random.Generator, start: np.ndarray, n: int, step: float, pull: float = 0.02) -> np.ndarray:
    """``n`` states of a slow mean-reverting random walk (AR(1)) continuing from ``start``."""
    states = np.empty((n, *start.shape))
    state = start
    for i in range(n):
        state = (1.0 - pull) * state + step * rng.standard_normal(start.shape)
        states[i] = state
    return states


def drift(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
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
            samples = _samples(data, rng, CHUNK)
            inputs = data.clip(samples * (1.0 + final_gain * progress) + final_offset * progress)
            yield rng.exponential(mean_gap_s, CHUNK), inputs

    return Traffic(n, chunks())


def shifted_population(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """Another site's population (another scanner, hospital or country): real samples under one fixed,
    coherent change for the client's whole life, and noisier. Images: contrast x0.7-0.9 or x1.1-1.3, brightness
    +-2-10% of the range, a blur of 0-100%; records: every feature moved along one random direction
    (root-mean-square 5-30% of its range) and scaled by 0.8-1.2 around the mean. Then noise of 1-6% of
    the range; 100-800 queries, Poisson arrivals with a mean gap of 0.5-10 s."""
    n, mean_gap_s = int(rng.integers(100, 800)), rng.uniform(0.5, 10.0)
    noise = rng.uniform(0.01, 0.06)
    contrast = 1.0 + rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.3)
    brightness = rng.choice([-1.0, 1.0]) * rng.uniform(0.02, 0.1)
    blur = rng.uniform(0.0, 1.0)
    direction = rng.standard_normal(data.n_features)
    offset = rng.uniform(0.05, 0.3) * data.span * direction / np.sqrt(np.mean(direction**2))
    scale, centre = rng.uniform(0.8, 1.2), data.x_train.mean(axis=0)

    def changed(samples: np.ndarray) -> np.ndarray:
        if data.image_shape is None:
            return centre + scale * (samples - centre) + offset
        toned = gain(data, samples, np.full(len(samples), contrast), np.full(len(samples), brightness))
        return (1.0 - blur) * toned + blur * smoothed(data, toned)

    def chunks() -> Iterator[Chunk]:
        for _ in range(0, n, CHUNK):
            inputs = changed(_samples(data, rng, CHUNK))
            yield rng.exponential(mean_gap_s, CHUNK), data.clip(inputs + noise * data.span * rng.standard_normal(inputs.shape))

    return Traffic(n, chunks())


def augment(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """A QA or robustness check: 3-20 real samples, each sent as is and then as
    2-12 noised variants (noise 1-6% of the range, per client), by a script
    (mean gap 0.1-2 s)."""
    samples = data.x_held_out[rng.choice(len(data.x_held_out), int(rng.integers(3, 21)), replace=False)]
    variants = rng.integers(2, 13, len(samples))
    sigma = rng.uniform(0.01, 0.06)
    cadence = Cadence(rng.uniform(0.1, 2.0), 0.3)

    def chunks() -> Iterator[Chunk]:
        for sample, count in zip(samples, variants):
            noisy = data.clip(sample + sigma * data.span * rng.standard_normal((count, data.n_features)))
            yield cadence.gaps(rng, count + 1), np.vstack([sample, noisy])

    return Traffic(int((variants + 1).sum()), chunks())


def tta(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """Test-time augmentation: for each of 5-40 unrelated real inputs the client sends 4-16 (per client)
    augmented views in one burst (5-50 ms apart) and averages the answers, then thinks (median 2-20 s).
    Images: each view a random draw of the client's augmentations (a shift of up to 0.2-0.6 px, contrast
    and brightness within 5-20%, noise of 0-2% of the range; no flips, which handwriting does not
    survive), the first view the input itself for some clients; records: noise of 0.5-3% of the range
    per feature."""
    inputs, views = int(rng.integers(5, 41)), int(rng.integers(4, 17))
    burst_s, median_s = rng.uniform(0.005, 0.05), rng.uniform(2.0, 20.0)
    identity_first = bool(rng.random() < 0.5)
    max_shift_px, tone, noise = rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.2), rng.uniform(0.0, 0.02)
    record_noise = rng.uniform(0.005, 0.03)

    def augmented(x: np.ndarray) -> np.ndarray:
        copies = np.repeat(x[None], views, axis=0)
        if data.image_shape is None:
            out = data.clip(copies + record_noise * data.span * rng.standard_normal(copies.shape))
        else:
            out = shifted(data, copies, rng.uniform(-max_shift_px, max_shift_px, views), rng.uniform(-max_shift_px, max_shift_px, views))
            out = gain(data, out, 1.0 + rng.uniform(-tone, tone, views), rng.uniform(-tone, tone, views))
            out = data.clip(out + noise * data.span * rng.standard_normal(out.shape))
        if identity_first:
            out[0] = x
        return out

    def chunks() -> Iterator[Chunk]:
        for x, pause in zip(_samples(data, rng, inputs), _think_times(rng, median_s, inputs)):
            gaps = rng.uniform(0.5, 1.5, views) * burst_s
            gaps[0] = pause
            yield gaps, augmented(x)

    return Traffic(inputs * views, chunks())


EDITS = ("brightness", "contrast", "blur", "pan")
"""The sliders of an image editor."""


def _eased(steps: int) -> np.ndarray:
    """Slider positions in (0, 1] over a drag, smooth at both ends.

    >>> _eased(4).round(2).tolist()
    [0.15, 0.5, 0.85, 1.0]
    """
    return (1.0 - np.cos(np.pi * np.arange(1, steps + 1) / steps)) / 2.0


def _drag(data: Dataset, rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """One slider drag on image ``x``: 5-60 re-scored positions of one edit, moving in one direction."""
    t = _eased(int(rng.integers(5, 61)))
    n, edit, sign = len(t), EDITS[rng.integers(len(EDITS))], rng.choice([-1.0, 1.0])
    copies = np.repeat(x[None], n, axis=0)
    if edit == "brightness":
        return gain(data, copies, np.ones(n), sign * rng.uniform(0.1, 0.4) * t)
    if edit == "contrast":
        return gain(data, copies, 1.0 + sign * rng.uniform(0.1, 0.5) * t, np.zeros(n))
    if edit == "blur":
        return data.clip(copies + rng.uniform(0.3, 1.0) * t[:, None] * (smoothed(data, x[None]) - x))
    angle, length = rng.uniform(0.0, 2.0 * np.pi), rng.uniform(0.5, 2.0)
    return shifted(data, copies, length * np.sin(angle) * t, length * np.cos(angle) * t)


def _what_if(data: Dataset, rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """One what-if sweep on record ``x``: one or two features moved together in 5-30 equal steps of 1-5%
    of their range, each in its own direction (clipped to the range)."""
    features = rng.choice(data.n_features, int(rng.integers(1, 3)), replace=False)
    steps = np.arange(1, int(rng.integers(5, 31)) + 1)[:, None]
    delta = rng.choice([-1.0, 1.0], len(features)) * rng.uniform(0.01, 0.05, len(features)) * data.span[features]
    out = np.repeat(x[None], len(steps), axis=0)
    out[:, features] = x[features] + steps * delta
    return data.clip(out)


def editing(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """An editing session re-scored after every change: 1-3 sessions (1-10 min apart) on a real sample
    each, of 1-5 moves. Images: a move is a slider drag (brightness, contrast, blur or pan) over 5-60
    positions 30-250 ms apart, smooth and in one direction, and the edit stays for the next drag (the
    app scores every pixel of the edited photo). Records: a what-if sweep of one or two features in
    5-30 equal steps 0.2-2 s apart, after which the user keeps the result or resets to the record.
    Moves are 1-10 s apart."""
    image = data.image_shape is not None
    step_s = rng.uniform(0.03, 0.25) if image else rng.uniform(0.2, 2.0)
    keep_share = rng.uniform(0.0, 1.0)
    gaps, inputs = [], []
    for session in range(int(rng.integers(1, 4))):
        record = x = _samples(data, rng, 1)[0]
        for move in range(int(rng.integers(1, 6))):
            rows = _drag(data, rng, x) if image else _what_if(data, rng, x)
            pauses = step_s * rng.uniform(0.7, 1.3, len(rows))
            pauses[0] = rng.uniform(60.0, 600.0) if session and not move else rng.uniform(1.0, 10.0)
            gaps.append(pauses)
            inputs.append(rows)
            x = rows[-1] if image or rng.random() < keep_share else record
    gaps_s, rows = np.concatenate(gaps), np.vstack(inputs)
    return Traffic(len(rows), _chunked(gaps_s, rows))


def _stroke_order(image: np.ndarray) -> np.ndarray:
    """The drawn pixels (above the background) of a flat image in drawing order: from the top-most one,
    always on to the nearest pixel not drawn yet (a pen following the strokes).

    >>> img = np.zeros((3, 3)); img[0, 0] = img[2, 2] = img[0, 1] = 1.0
    >>> _stroke_order(img).tolist()
    [0, 1, 8]
    """
    drawn = np.flatnonzero(image.ravel() > 0)
    where = np.stack(np.unravel_index(drawn, image.shape), axis=1).astype(float)
    order, left = [0], list(range(1, len(drawn)))
    while left:
        distances = np.linalg.norm(where[left] - where[order[-1]], axis=1)
        order.append(left.pop(int(np.argmin(distances))))
    return drawn[order]


def typeahead(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """A form scored on every change, filled field by field: each form starts from its defaults (the
    training median of every field; a blank canvas for images) and sets one field at a time to a real
    record's value, each field once, and it stays. Records: fields in the form's order (fixed per client,
    the natural order for some), 0-20% left at their default, 0.5-8 s a field (median per client);
    images: a drawing pad scoring after every pixel of a real digit drawn along its strokes, 0.05-0.5 s
    a pixel. 1-8 forms, 10-120 s apart."""
    image = data.image_shape is not None
    defaults = data.lo.copy() if image else np.median(data.x_train, axis=0)
    layout = np.arange(data.n_features) if rng.random() < 0.5 else rng.permutation(data.n_features)
    skip_share = 0.0 if image else rng.uniform(0.0, 0.2)
    median_s = rng.uniform(0.05, 0.5) if image else rng.uniform(0.5, 8.0)
    gaps, inputs = [], []
    for record in _samples(data, rng, int(rng.integers(1, 9))):
        if image:
            fields = _stroke_order((record - data.lo).reshape(data.image_shape))
        else:
            fields = layout[(record[layout] != defaults[layout]) & (rng.random(data.n_features) >= skip_share)]
        if not len(fields):
            continue
        form = np.repeat(defaults[None], len(fields), axis=0)
        for step, field in enumerate(fields):
            form[step:, field] = record[field]
        pauses = median_s * rng.lognormal(0.0, 0.5, len(fields))
        pauses[0] = rng.uniform(10.0, 120.0)
        gaps.append(pauses)
        inputs.append(form)
    gaps_s, rows = np.concatenate(gaps), np.vstack(inputs)
    return Traffic(len(rows), _chunked(gaps_s, rows))


SHADOW_SESSIONS = ("interactive", "interactive", "interactive", "retry", "heavy-retry", "tta", "reencode", "editing", "typeahead")
"""What the sessions mirrored under a shadow key are (people, mostly)."""


def shadow(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """A/B shadow traffic: a router mirrors 5-20 production sessions (people using the app, some of them
    retrying, augmenting, editing or filling in forms) under one service key, each session starting at a
    random time within 20-180 min (at most the time left): many normal sessions, interleaved."""
    life_s = max(60.0, min(rng.uniform(1200.0, 10800.0), remaining_s))
    sessions = [BENIGN_KINDS[str(rng.choice(SHADOW_SESSIONS))](data, rng, life_s, owner) for _ in range(rng.integers(5, 21))]
    starts = rng.uniform(0.0, life_s, len(sessions))

    def chunks() -> Iterator[Chunk]:
        played_sessions = [played(session) for session in sessions]
        times = np.concatenate([start + np.cumsum(gaps) for start, (gaps, _) in zip(starts, played_sessions)])
        rows = np.vstack([inputs for _, inputs in played_sessions])
        order = np.argsort(times, kind="stable")
        yield from _chunked(np.diff(times[order], prepend=0.0), rows[order])

    return Traffic(sum(session.n_events for session in sessions), chunks())


def labeller(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """An active-learning labelling tool: from a random 30-100% of the owner's pool (every real record),
    the 50-500 records (at most a quarter of them, or 50) the model is least sure of (smallest margin
    between its top two scores, by the owner's own scoring), each sent once, least sure first, in rounds of 10-50 at a tool's pace (0.05-0.5 s
    apart) while annotators work (rounds 1-10 min apart)."""
    pool = data.x_all[rng.random(len(data.x_all)) < rng.uniform(0.3, 1.0)]
    scores = np.sort(owner(pool), axis=1)
    volume = min(int(rng.integers(50, 501)), max(50, len(pool) // 4))
    least_sure = np.argsort(scores[:, -1] - scores[:, -2], kind="stable")[:volume]
    rows, pace_s, per_round = pool[least_sure], rng.uniform(0.05, 0.5), int(rng.integers(10, 51))
    gaps = pace_s * rng.uniform(0.8, 1.2, len(rows))
    gaps[::per_round] = rng.uniform(60.0, 600.0, len(gaps[::per_round]))
    return Traffic(len(rows), _chunked(gaps, rows))


BENIGN_KINDS: dict[str, BenignKind] = {
    "interactive": interactive,
    "batch": batch,
    "healthcheck": healthcheck,
    "retry": retry,
    "video": video,
    "drift": drift,
    "augment": augment,
    "heavy-retry": heavy_retry,
    "reencode": reencode,
    "tta": tta,
    "editing": editing,
    "typeahead": typeahead,
    "rescoring": rescoring,
    "shifted": shifted_population,
    "shadow": shadow,
    "labeller": labeller,
}
"""Benign client kinds by name."""
