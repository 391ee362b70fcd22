"""Decision-based (label-only) evasion: the Boundary attack and HopSkipJump.

Both start from an input that is already misclassified, walk along the
decision boundary towards a real held-out sample, and use only the labels
the API returns. Their queries hug the boundary. Distances are measured in
units of each feature's range, as the papers' [0, 1] images are. Both are
untargeted and move on to another sample after a fixed number of steps.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator

import numpy as np

from detector.simulator.api import Answers
from detector.simulator.datasets import Dataset
from detector.simulator.traffic import Probe

Decisions = Generator[np.ndarray, Answers, np.ndarray]
"""A sub-attack that queries and returns which rows were adversarial."""


def _adversarial(batch: np.ndarray, label: int) -> Decisions:
    """Query a batch; which rows the API labels other than ``label``."""
    return (yield batch).labels != label


def _blend(x0: np.ndarray, x: np.ndarray, weight: float) -> np.ndarray:
    return (1.0 - weight) * x0 + weight * x


def _binary_search(x0: np.ndarray, x_adv: np.ndarray, label: int, threshold: float) -> Decisions:
    """The boundary point on the segment from ``x0`` to ``x_adv`` (HopSkipJump's
    ``binary_search_batch`` for L2), to ``threshold`` in the blending weight."""
    low, high = 0.0, 1.0
    while high - low > threshold:
        mid = (low + high) / 2
        if (yield from _adversarial(_blend(x0, x_adv, mid)[None], label))[0]:
            high = mid
        else:
            low = mid
    return _blend(x0, x_adv, high)


def _victim(data: Dataset, rng: np.random.Generator) -> Generator[np.ndarray, Answers, tuple[np.ndarray, int]]:
    """A real held-out sample and the label the API gives it."""
    x0 = data.x_held_out[rng.integers(len(data.x_held_out))]
    return x0, int((yield x0[None]).labels[0])


def _misclassified_start(data: Dataset, label: int, rng: np.random.Generator, noise_tries: int = 50) -> Decisions:
    """A first adversarial input: uniform noise over the valid range (both papers' untargeted
    start); when ``noise_tries`` draws all get ``label`` (a class that owns most of the space),
    real samples until one is labelled otherwise (the papers' targeted start)."""
    for _ in range(noise_tries):
        noise = data.lo + data.span * rng.random(data.n_features)
        if (yield from _adversarial(noise[None], label))[0]:
            return noise
    while True:
        other = data.x_held_out[rng.integers(len(data.x_held_out))]
        if (yield from _adversarial(other[None], label))[0]:
            return other


def _adaptation(rate: float, high: float, low: float, factor: float) -> float:
    """``factor`` when a success rate is above ``high``, its inverse below ``low``, else 1.

    >>> _adaptation(0.6, 0.5, 0.2, 1.5), round(_adaptation(0.1, 0.5, 0.2, 1.5), 3), _adaptation(0.3, 0.5, 0.2, 1.5)
    (1.5, 0.667, 1.0)
    """
    return factor if rate > high else 1 / factor if rate < low else 1.0


def boundary(
    data: Dataset,
    rng: np.random.Generator,
    *,
    spherical_step: float = 0.01,
    source_step: float = 0.01,
    step_adaptation: float = 1.5,
    steps_per_sample: int = 600,
) -> Probe:
    """The Boundary attack (Brendel, Rauber and Bethge, "Decision-Based
    Adversarial Attacks: Reliable Attacks Against Black-Box Machine Learning
    Models", ICLR 2018), untargeted, with the proposal and step-size
    adaptation of the authors' Foolbox implementation.

    Start from an input that is misclassified (uniform noise if possible),
    pulled to the boundary by a binary search towards the original. Each
    step draws a Gaussian direction orthogonal to the source direction,
    scaled to delta * distance (the *spherical* candidate, kept at the same
    distance from the original), then moves it epsilon * distance towards
    the original (the candidate). Both are queried; an adversarial candidate
    that is closer replaces the current point. Every 10 steps, over the last
    30: if more than half of the spherical candidates were adversarial,
    delta and epsilon grow by ``step_adaptation``, below 20% they shrink;
    if more than 25% of candidates were adversarial epsilon grows, below
    10% it shrinks.
    """
    while True:
        x0, label = yield from _victim(data, rng)
        start = yield from _misclassified_start(data, label, rng)
        x = yield from _binary_search(x0, start, label, 1e-3)
        delta, epsilon = spherical_step, source_step
        spherical_stats: deque[bool] = deque(maxlen=30)
        step_stats: deque[bool] = deque(maxlen=30)
        for step in range(1, steps_per_sample + 1):
            source = (x0 - x) / data.span
            distance = float(np.linalg.norm(source))
            direction = source / distance
            perturbation = rng.standard_normal(data.n_features)
            perturbation -= (perturbation @ direction) * direction
            perturbation *= delta * distance / np.linalg.norm(perturbation)
            spherical = data.clip(x0 + (perturbation - source) / np.sqrt(delta**2 + 1) * data.span)
            towards = (x0 - spherical) / data.span
            towards_norm = float(np.linalg.norm(towards))
            length = max(0.0, epsilon * distance + towards_norm - distance) / towards_norm
            candidate = data.clip(spherical + length * towards * data.span)
            is_adversarial = yield from _adversarial(np.stack([spherical, candidate]), label)
            spherical_stats.append(bool(is_adversarial[0]))
            step_stats.append(bool(is_adversarial[1]))
            if is_adversarial[1] and np.linalg.norm((x0 - candidate) / data.span) < distance:
                x = candidate
            if step % 10:
                continue
            if len(spherical_stats) == spherical_stats.maxlen:
                factor = _adaptation(float(np.mean(spherical_stats)), 0.5, 0.2, step_adaptation)
                delta, epsilon = delta * factor, epsilon * factor
                spherical_stats.clear()
            if len(step_stats) == step_stats.maxlen:
                epsilon *= _adaptation(float(np.mean(step_stats)), 0.25, 0.1, step_adaptation)
                step_stats.clear()


def hop_skip_jump(
    data: Dataset,
    rng: np.random.Generator,
    *,
    init_evals: int = 100,
    max_evals: int = 10_000,
    gamma: float = 1.0,
    iterations_per_sample: int = 12,
) -> Probe:
    """HopSkipJumpAttack (Chen, Jordan and Wainwright, "HopSkipJumpAttack: A
    Query-Efficient Decision-Based Attack", IEEE S&P 2020, Algorithm 2), L2,
    untargeted, as in the authors' reference code.

    Start from a misclassified input (uniform noise if possible) and
    binary-search to the boundary (threshold theta = gamma / d^1.5).
    Iteration t: estimate the gradient direction at the boundary point from
    n_t = min(100 sqrt(t), 10^4) random unit directions u_b queried at
    x + delta u_b, with delta = 0.1 at t = 1 and sqrt(d) theta dist_{t-1}
    after, using the decisions minus their mean as baseline; step along it
    with the geometric search (epsilon = dist / sqrt(t), halved until
    adversarial); binary-search back to the boundary.
    """
    d = data.n_features
    theta = gamma / (d * np.sqrt(d))
    while True:
        x0, label = yield from _victim(data, rng)
        start = yield from _misclassified_start(data, label, rng)
        x = yield from _binary_search(x0, start, label, theta)
        distance = float(np.linalg.norm((x - x0) / data.span))
        for t in range(1, iterations_per_sample + 1):
            delta = 0.1 if t == 1 else np.sqrt(d) * theta * distance
            n_evals = int(min(init_evals * np.sqrt(t), max_evals))
            directions = rng.standard_normal((n_evals, d))
            directions /= np.linalg.norm(directions, axis=1, keepdims=True)
            probes = data.clip(x + delta * directions * data.span)
            directions = (probes - x) / data.span / delta
            signs = 2.0 * (yield from _adversarial(probes, label)) - 1.0
            mean = signs.mean()
            weights = signs if abs(mean) == 1.0 else signs - mean
            gradient = (weights[:, None] * directions).mean(axis=0)
            gradient /= np.linalg.norm(gradient)
            epsilon = distance / np.sqrt(t)
            while True:
                stepped = data.clip(x + epsilon * gradient * data.span)
                if (yield from _adversarial(stepped[None], label))[0]:
                    break
                epsilon /= 2.0
            x = yield from _binary_search(x0, stepped, label, theta)
            distance = float(np.linalg.norm((x - x0) / data.span))
