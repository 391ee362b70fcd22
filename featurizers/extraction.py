"""Extraction: query sets that cover the input space and the classes the way a copying attacker does.

Model extraction (Tramer et al. 2016 equation solving, Papernot et al. 2017
Jacobian-based augmentation, Orekondy et al. 2019 Knockoff nets) needs many
queries spread over the input space and over the classes, often synthetic
(perturbations of a few seeds) or out of the model's usual distribution.
PRADA (Juuti et al. 2019) observed that for benign clients the distance of
each new query to the nearest earlier one is roughly normally distributed,
while synthetic query generation makes it markedly non-normal; it tests that
with the Shapiro-Wilk statistic.

This featurizer measures, over the client's window:

- PRADA's Shapiro-Wilk ``W`` of the nearest-earlier-input distances (kept per
  query by ``gradient_walk``; exact repeats are left out, as retries are benign);
- class-coverage entropy of the top labels (kept by ``confidence_climb``);
- the input-space spread relative to the model's, and the fraction of inputs
  far from the model's usual inputs.

It keeps no state of its own: everything comes from the two featurizers before it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np

from featurizers.base import Featurizer, Observation
from featurizers.confidence_climb import LABEL, ConfidenceClimb
from featurizers.gradient_walk import walk_series
from featurizers.state import ClientState, ModelState

MIN_SHAPIRO_POINTS = 20
"""Distances needed before the normality test (PRADA waits for a similar number)."""

OOD_DISTANCE = 3.0
"""RMS z-score from the model's mean input beyond which an input is out of distribution (in-distribution ~1)."""


SHAPIRO_POLY_A1 = (-2.706056, 4.434685, -2.07119, -0.147981, 0.221157, 0.0)
SHAPIRO_POLY_A2 = (-3.582633, 5.682633, -1.752461, -0.293762, 0.042981, 0.0)
"""Royston's (1995, AS R94) polynomials in ``1/sqrt(n)`` for the two largest coefficients, highest power first."""


@lru_cache(maxsize=64)
def shapiro_coefficients(n: int) -> np.ndarray:
    """The Shapiro-Wilk coefficients for ``n`` sorted values (Royston 1995, AS R94, as scipy's ``swilk``),
    antisymmetric: ``-a_1 .. -a_k, [0,] a_k .. a_1``. Cached: they depend only on ``n`` (at least 3).

    >>> shapiro_coefficients(3).round(4).tolist(), shapiro_coefficients(6).round(4).tolist()
    ([-0.7071, 0.0, 0.7071], [-0.643, -0.2807, -0.0883, 0.0883, 0.2807, 0.643])
    """
    half = n // 2
    if n == 3:
        a = np.array([math.sqrt(0.5)])
    else:
        m = np.array([NormalDist().inv_cdf((i + 1 - 0.375) / (n + 0.25)) for i in range(half)])
        summ2 = 2.0 * float(m @ m)
        ssumm2, rsn = math.sqrt(summ2), 1.0 / math.sqrt(n)
        a = -m
        a[0] = np.polyval(SHAPIRO_POLY_A1, rsn) - m[0] / ssumm2
        if n > 5:
            a[1] = np.polyval(SHAPIRO_POLY_A2, rsn) - m[1] / ssumm2
            fac = math.sqrt((summ2 - 2 * m[0] ** 2 - 2 * m[1] ** 2) / (1 - 2 * a[0] ** 2 - 2 * a[1] ** 2))
            a[2:] /= fac
        else:
            fac = math.sqrt((summ2 - 2 * m[0] ** 2) / (1 - 2 * a[0] ** 2))
            a[1:] /= fac
    middle = [0.0] if n % 2 else []
    return np.concatenate([-a, middle, a[::-1]])


def shapiro_w(values: np.ndarray) -> float:
    """Shapiro-Wilk W of at least 3 values: the squared correlation of the sorted values with
    :func:`shapiro_coefficients` (scipy's ``stats.shapiro`` statistic, without its per-call overhead);
    1.0 when the values are all equal (nothing non-normal to see).

    >>> round(shapiro_w(np.array([0.1, 0.4, 0.35, 0.2, 0.3, 0.9, 0.25])), 4), shapiro_w(np.ones(5))
    (0.817, 1.0)
    """
    y = np.sort(values.astype(np.float64))
    if y[-1] - y[0] <= 1e-12 * max(abs(float(y[-1])), 1e-30):
        return 1.0
    y -= float(np.add.reduce(y)) / len(y)
    a = shapiro_coefficients(len(y))
    return float(a @ y) ** 2 / (float(a @ a) * float(y @ y))


def coverage_entropy(labels: np.ndarray, n_classes: int) -> float | None:
    """Entropy of the label histogram over the most it can be for this many labels: ``log(min(K, n))``.

    1 means the labels are spread as evenly as possible over the classes;
    None when fewer than two labels or classes make it meaningless.

    >>> round(coverage_entropy(np.arange(40) % 10, 10), 3), round(coverage_entropy(np.r_[[0] * 36, 1, 2, 3, 4], 10), 3)
    (1.0, 0.201)
    """
    n = len(labels)
    most = min(n_classes, n)
    if most < 2:
        return None
    p = np.unique(labels, return_counts=True)[1] / n  # class indexes may be 24-bit label hashes
    return float(-(p * np.log(p)).sum() / math.log(most))


class Extraction(Featurizer):
    """PRADA normality, class coverage, input-space coverage and out-of-distribution share.

    A Jacobian-augmentation-like client (tight clusters around a few seeds,
    every class) against a benign one (independent inputs of the model's
    distribution, mostly two classes):

    >>> from featurizers.state import StateStore
    >>> from featurizers.gradient_walk import GradientWalk
    >>> rng = np.random.default_rng(3)
    >>> def replay(inputs, labels):
    ...     store, fs = StateStore(window=64), [GradientWalk(), ConfidenceClimb(), Extraction()]
    ...     model = store.model("m")
    ...     _ = model.class_of(9)  # a 10-class model
    ...     for x in rng.normal(size=(300, 16)).astype(np.float32):
    ...         model.observe_input(x)
    ...     for i, (x, y) in enumerate(zip(np.asarray(inputs, dtype=np.float32), labels)):
    ...         client = store.touch("m", "c", float(i))
    ...         client.append(str(i), float(i), x)
    ...         for f in fs:
    ...             f.observe(Observation(str(i), float(i), x, None, model.class_of(int(y)), 0.9), client, model)
    ...         model.observe_input(x)
    ...     return fs[-1].compute(client, model)
    >>> seeds = rng.normal(size=(4, 16)) * 2.5
    >>> synthetic = np.concatenate([s + 0.05 * rng.normal(size=(16, 16)) for s in seeds])
    >>> a = replay(synthetic, np.arange(64) % 10)
    >>> {k: round(v, 2) for k, v in sorted(a.items())}
    {'class_coverage_entropy': 1.0, 'input_coverage': 2.32, 'ood_frac': 0.25, 'prada_shapiro_w': 0.23}
    >>> b = replay(rng.normal(size=(64, 16)), rng.integers(0, 2, 64))
    >>> {k: round(v, 2) for k, v in sorted(b.items())}
    {'class_coverage_entropy': 0.3, 'input_coverage': 1.04, 'ood_frac': 0.0, 'prada_shapiro_w': 0.96}
    """

    name = "extraction"
    requires = ("gradient_walk", "confidence_climb")
    FEATURES = {
        "prada_shapiro_w": "Shapiro-Wilk W of each query's distance to its nearest earlier input, exact "
        "repeats left out (0..1; PRADA, Juuti et al. 2019); near 1 for benign clients, lower for synthetic "
        "query sets; needs 20 distances",
        "class_coverage_entropy": "entropy of the top labels in the window over its maximum log(min(classes, "
        "queries)) (0..1); extraction covers every class evenly, most users do not",
        "input_coverage": "RMS per-coordinate spread of the window's inputs in units of the model's spread "
        "(1.0 = as spread as all the model's traffic); attackers probing one point are near 0, random or "
        "synthetic extraction queries at or above 1",
        "ood_frac": "fraction of the window's inputs whose RMS z-score from the model's mean input exceeds 3 "
        "(0..1); synthetic and random extraction queries fall off the data distribution",
    }

    def observe(self, obs: Observation, client: ClientState, model: ModelState) -> None:
        """Nothing to do: the distances and labels are kept by ``gradient_walk`` and ``confidence_climb``."""

    def compute(self, client: ClientState, model: ModelState) -> dict[str, float]:
        feats: dict[str, float] = {}
        walk = walk_series(client)
        if walk is not None:
            nn = walk.column("nn")
            nn = nn[~np.isnan(nn) & (nn > 0)]
            if len(nn) >= MIN_SHAPIRO_POINTS:
                feats["prada_shapiro_w"] = shapiro_w(nn)
        confidence = client.slots.get(ConfidenceClimb.name)
        if confidence is not None:
            labels = confidence.rows.filled()[:, LABEL]
            labels = labels[labels >= 0].astype(np.int64)
            entropy = coverage_entropy(labels, max(model.n_classes, confidence.n_scores))
            if entropy is not None:
                feats["class_coverage_entropy"] = entropy
        if client.inputs is not None and len(client.inputs) >= 2:
            feats.update(self._coverage(client.inputs.filled(), model))
        return feats

    @staticmethod
    def _coverage(inputs: np.ndarray, model: ModelState) -> dict[str, float]:
        """Spread of the window relative to the model's, and the share of inputs far from the model's mean."""
        width = inputs.shape[1]
        scale = model.scale.current(width)
        known_mean = scale.count >= 2
        # z-scores from the model's mean over sqrt(dim): a row's squared norm is its mean squared z-score
        z = (inputs - scale.centre) * scale.weights if known_mean else inputs * scale.weights.astype(np.float64)
        squared = np.square(z).sum(axis=1)
        centre = z.sum(axis=0) / len(z)
        spread = float(squared.sum()) / len(z) - float(centre @ centre)
        feats = {"input_coverage": math.sqrt(max(spread, 0.0))}
        if known_mean:
            feats["ood_frac"] = float(np.count_nonzero(squared > OOD_DISTANCE**2)) / len(z)
        return feats
