"""Gradient walk: the geometry of a client's query sequence.

Query-based attacks explore a model locally. Black-box model inversion with
finite-difference gradients (Fredrikson et al. 2015, MI-Face) and ZOO (Chen et
al. 2017) send pairs ``x + h*e_i`` / ``x - h*e_i`` around a current point;
score-based random search (SimBA, Square attack) changes a small block per
query; decision-based attacks (Boundary, HopSkipJump) line-search along one
direction. All of them leave queries that are near, but not exactly equal, to
earlier ones. Chen, Carlini & Wagner (2020, "Stateful detection of black-box
adversarial attacks") detect this with the mean distance to the k nearest
earlier queries. Real users look different: batch jobs send distinct inputs,
retries resend *identical* ones, video-like clients move by dense small steps.

Per input this featurizer computes one vectorised row of distances from the
new input to the client's window (``client.inputs``) and keeps per-query
series, bounded by the window, which later featurizers read (:func:`walk_series`)
instead of measuring again:

- distance to the previous input and to the nearest and k nearest earlier ones;
- the sparsity of the step from the nearest earlier input (Hoyer 2004), averaged
  over the small steps only;
- the cosine between consecutive steps;
- whether the new input and the previous one are a symmetric probe pair around
  a centre: ``x_t + x_{t-1} ~= 2c`` with ``c`` an earlier input (tested for
  every stored ``c`` at once with the parallelogram law on the distance rows of
  the two events), or with ``c`` the midpoint of the pair before.

Distances are root-mean-square differences of inputs divided by the model's
per-coordinate scale (:meth:`featurizers.input_scale.ModelScale.current`): about 1.4 between two unrelated
inputs of the model's distribution whatever its input size.
"""

from __future__ import annotations

import math

import numpy as np

from featurizers.base import Featurizer, Observation
from featurizers.ring import Ring
from featurizers.state import ClientState, ModelState

NEAR_DISTANCE = 0.1
"""Normalised RMS distance below which two inputs are near-identical (a tenth of a typical coordinate spread)."""

K_NEAREST = 5
"""Neighbours in the k-nearest-neighbour mean distance (Chen, Carlini & Wagner 2020 use a few)."""

SYMMETRY_TOLERANCE = 0.25
"""A pair is symmetric when its midpoint lies within this fraction of the pair's distance from the centre."""

NN_QUANTILE = 0.1

LOCAL_STEP = 0.25
"""Normalised RMS length below which a step between two near-duplicate queries stays in one neighbourhood
(unrelated inputs lie ~1.4 apart): steps across interleaved sessions are longer."""
MIN_TURNS = 4
"""Fewest successive pairs of local steps for ``near_step_cos_mean``: one or two pairs are chance."""

HAIR_DISTANCE = 0.02
"""Normalised RMS distance of inputs "a hair apart": a fiftieth of a typical coordinate spread."""
HAIR_CROWD = 8
"""A query sits in a *crowd* when at least this many other inputs of the window lie within
``HAIR_DISTANCE`` of it (identical ones not counted). A retried request with re-encoding noise
makes groups of 2-5 such copies; a decision-boundary probe cloud makes dozens."""


class WalkSeries:
    """Per-input series over the client's input window, one row per logged input.

    Columns (``COLUMNS``) hold NaN where a value does not apply (the first
    input has no predecessor; a repeated input has no step). Later featurizers
    read these instead of measuring distances again.
    """

    COLUMNS = ("dist_prev", "nn", "knn", "cos", "near_cos", "sparsity", "symmetric", "crowd")
    __slots__ = ("width", "rows", "prev_d2", "last_dist_prev", "older_sq", "seen", "near_run")

    def __init__(self, window: int, width: int) -> None:
        self.width = width
        self.rows = Ring(window, width=len(self.COLUMNS))
        self.prev_d2 = np.full(window, np.inf, dtype=np.float32)
        """Squared distances from the previous input to each stored input (storage order)."""
        self.last_dist_prev = math.nan
        """Distance from the newest input to the one before (NaN for a first input)."""
        self.older_sq = math.nan
        """At the newest input t: ``|x_{t-1} - x_{t-2}|^2`` (NaN when unknown)."""
        self.seen = 0
        """Inputs observed so far (a clock for the entries of ``near_run``)."""
        self.near_run: tuple[int, int, int, int, float] | None = None
        """The last two near-duplicate queries: ``(seen, storage slot)`` of the latest, then of the one
        before, and the squared distance between them."""

    def column(self, name: str) -> np.ndarray:
        """One series in storage order (a view; for order-free statistics)."""
        return self.rows.filled()[:, self.COLUMNS.index(name)]

    def ordered(self, name: str) -> np.ndarray:
        """One series, oldest first."""
        return self.rows.ordered()[:, self.COLUMNS.index(name)]

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes + self.prev_d2.nbytes + 64


def walk_series(client: ClientState) -> WalkSeries | None:
    """The client's :class:`WalkSeries`, once it logged an input (for featurizers after ``gradient_walk``)."""
    return client.slots.get(GradientWalk.name)


def novel_input(client: ClientState) -> bool:
    """Whether the client's latest input is unlike its earlier ones: its first, or no nearer than
    ``NEAR_DISTANCE`` to any input in its window. Only such inputs teach the model its input scale:
    otherwise one busy client's near-identical probes (or a health check's single input) would
    shrink the model's scale, so that every other client's inputs would look far apart and the
    prober's own steps large.

    >>> from featurizers.state import StateStore
    >>> store, walk = StateStore(window=8), GradientWalk()
    >>> model = store.model("m")
    >>> seen = []
    >>> for i, x in enumerate([[0.0, 0.0], [5.0, 5.0], [5.0, 5.001], [5.0, 5.0]]):
    ...     client = store.touch("m", "c", float(i))
    ...     client.append(str(i), float(i), np.array(x, dtype=np.float32))
    ...     walk.observe(Observation(str(i), float(i), np.array(x, dtype=np.float32), None, -1, None), client, model)
    ...     seen.append(novel_input(client))
    ...     model.observe_input(np.array(x, dtype=np.float32))
    >>> seen
    [True, True, False, False]
    """
    slot = walk_series(client)
    if slot is None or len(slot.rows) == 0:
        return True
    return not float(slot.rows.last()[1]) < NEAR_DISTANCE  # NaN (no earlier input) is novel


def quantile(ascending: list[float], q: float) -> float:
    """The ``q`` quantile (0..1, linear interpolation like numpy's default) of sorted values.

    >>> quantile([1.0, 2.0, 3.0, 10.0], 0.5), round(quantile([1.0, 2.0, 3.0, 10.0], 0.1), 6)
    (2.5, 1.3)
    """
    at = q * (len(ascending) - 1)
    low = int(at)
    high = min(low + 1, len(ascending) - 1)
    return ascending[low] + (ascending[high] - ascending[low]) * (at - low)


def _mean(values: np.ndarray) -> float:
    """Mean of a non-empty array (np.add.reduce: a fraction of ``ndarray.mean``'s overhead on small arrays)."""
    return float(np.add.reduce(values, dtype=np.float64)) / len(values)


def defined_mean(values: np.ndarray) -> float | None:
    """Mean of the values that are not NaN; None when there are none.

    >>> defined_mean(np.array([1.0, np.nan, 2.0])), defined_mean(np.array([np.nan]))
    (1.5, None)
    """
    values = values[~np.isnan(values)]
    return _mean(values) if len(values) else None


class GradientWalk(Featurizer):
    """Distances, steps and probe symmetry of the client's recent inputs.

    A finite-difference walk (pairs around a centre, one coordinate at a time)
    against retried identical inputs, on a model whose other clients' inputs
    are standard normal:

    >>> from featurizers.state import StateStore
    >>> rng = np.random.default_rng(0)
    >>> def replay(inputs):
    ...     store, f = StateStore(window=32), GradientWalk()
    ...     model = store.model("m")
    ...     for x in rng.normal(size=(200, 8)).astype(np.float32):
    ...         model.observe_input(x)
    ...     for i, x in enumerate(np.asarray(inputs, dtype=np.float32)):
    ...         client = store.touch("m", "c", float(i))
    ...         client.append(str(i), float(i), x)
    ...         f.observe(Observation(str(i), float(i), x, None, -1, None), client, model)
    ...         model.observe_input(x)
    ...     return f.compute(client, model)
    >>> centre, eye, walk = rng.normal(size=8), np.eye(8), []
    >>> for _ in range(3):  # estimate the gradient with 8 pairs x +- h*e_i, then step
    ...     walk += [centre + s * 0.01 * eye[i] for i in range(8) for s in (1, -1)]
    ...     centre = centre + 0.05 * rng.normal(size=8)
    >>> w = replay(walk)
    >>> [round(w[k], 2) for k in ("symmetric_pair_frac", "step_sparsity_mean", "near_dup_frac", "step_cos_mean")]
    [0.44, 0.76, 1.0, -0.61]
    >>> r = replay([centre] * 20)
    >>> r["exact_dup_frac"], r["near_dup_frac"], "nn_distance_p10" in r
    (1.0, 0.0, False)
    """

    name = "gradient_walk"
    FEATURES = {
        "dist_prev_median": "median distance from each input to the one before (normalised RMS units, "
        "~1.4 between unrelated inputs); small for walks and for video frames",
        "nn_distance_p10": "10th percentile of each input's distance to its nearest earlier input in the "
        "window, exact duplicates left out (normalised RMS); near 0 when probes cluster",
        "nn_distance_median": "median distance to the nearest earlier input, exact duplicates left out "
        "(normalised RMS)",
        "knn_distance_mean": "mean over queries of the mean distance to the 5 nearest earlier inputs "
        "(normalised RMS; Chen, Carlini & Wagner 2020), exact duplicates left out",
        "near_dup_frac": "fraction of queries whose nearest earlier input is near (< 0.1) but not identical "
        "(0..1); the probing signature",
        "exact_dup_frac": "fraction of queries identical to an earlier input in the window (0..1); "
        "retries and health checks, benign-looking",
        "hair_crowd_frac": f"fraction of queries with at least {HAIR_CROWD} other inputs of the window within "
        f"{HAIR_DISTANCE} (normalised RMS), identical ones not counted (0..1); a probe cloud on the decision "
        "boundary or around a point, where retried requests with re-encoding noise make groups of 2-5",
        "step_cos_mean": "mean cosine between consecutive steps (-1..1); about -0.5 for unrelated inputs, "
        "-0.7 for +-h probe pairs, near 1 for line searches, positive for smooth drift",
        "step_cos_abs_mean": "mean absolute cosine between consecutive steps (0..1); high for line "
        "searches and probe pairs",
        "near_step_cos_mean": "mean cosine between successive steps of the client's near-duplicate queries "
        f"(other queries in between skipped) where both steps are local (< {LOCAL_STEP}), over {MIN_TURNS} or "
        "more such pairs (-1..1): whether probing turns back (+-h probes, undone proposals: negative), moves "
        "on (a form filled field by field: about 0) or sweeps on (a slider: positive); neither cover queries "
        "nor unrelated sessions interleaved under one key dilute it, as they do step_cos_mean",
        "step_sparsity_mean": "mean Hoyer sparsity of the small steps: from each near-duplicate query to its "
        "nearest earlier input (0 = every coordinate moved equally .. 1 = one coordinate); coordinate-wise "
        "finite differences, ZOO and block searches are sparse, shifted frames and noise dense; unaffected "
        "by unrelated cover queries in between",
        "symmetric_pair_frac": "fraction of queries forming a symmetric probe pair with the previous one "
        "(x_t + x_{t-1} ~= 2c around an earlier input or the previous pair's midpoint) (0..1); "
        "central finite differences",
    }

    def observe(self, obs: Observation, client: ClientState, model: ModelState) -> None:
        inputs = client.inputs
        if obs.x is None or inputs is None:
            return
        width = inputs.data.shape[1]
        slot = client.slots.get(self.name)
        if slot is None or len(inputs) == 1 or slot.width != width:
            slot = client.slots[self.name] = WalkSeries(client.window, width)
        n, cap = len(inputs), inputs.capacity
        if n == 1:
            slot.rows.append(np.nan)
            return
        cur = (inputs.head - 1) % cap
        prev, prev2, prev3 = (cur - 1) % cap, (cur - 2) % cap, (cur - 3) % cap
        scale = model.scale.current(width)
        diff = inputs.filled() - inputs.data[cur]
        np.square(diff, out=diff)
        d2 = diff @ scale.squared
        d2[cur] = np.inf
        nearest = int(d2.argmin())
        kk = min(K_NEAREST, n - 1)
        closest = np.partition(d2, kk - 1)[:kk].tolist()  # the kk smallest, in no order (fsum is exact)
        nn_sq, knn = float(d2[nearest]), math.fsum(map(math.sqrt, closest)) / kk
        hair = int(np.count_nonzero(d2 < HAIR_DISTANCE**2)) - int(np.count_nonzero(d2 == 0))
        crowd = float(hair >= HAIR_CROWD)
        sparsity = math.nan
        if nn_sq > 0 and width > 1:
            root = math.sqrt(width)
            l1_over_l2 = float(np.sqrt(diff[nearest]) @ scale.weights) / math.sqrt(nn_sq)
            sparsity = (root - l1_over_l2) / (root - 1.0)
        step_sq = float(d2[prev])
        older_sq = float(slot.prev_d2[prev2]) if n >= 3 else math.nan  # |x_{t-1} - x_{t-2}|^2
        near_cos = self._near_cos(slot, d2, cur, cap) if 0 < nn_sq < NEAR_DISTANCE**2 else math.nan
        cos = symmetric = math.nan
        if step_sq > 0:
            if 0 < older_sq < math.inf:  # the steps' dot product from the three distances
                dot = (float(d2[prev2]) - step_sq - older_sq) / 2.0
                cos = max(-1.0, min(1.0, dot / math.sqrt(step_sq * older_sq)))
            limit = step_sq * SYMMETRY_TOLERANCE**2
            # parallelogram law: |x_t + x_{t-1} - 2c|^2 = 2|x_t - c|^2 + 2|x_{t-1} - c|^2 - |x_t - x_{t-1}|^2
            around_input = 2.0 * float((d2 + slot.prev_d2[:n]).min()) - step_sq <= limit
            around_pair = n >= 4 and _pairs_share_midpoint(slot, d2, step_sq, prev2, prev3, limit)
            symmetric = float(around_input or around_pair)
        slot.prev_d2[:n] = d2
        slot.seen += 1
        slot.older_sq = older_sq
        slot.last_dist_prev = dist_prev = math.sqrt(step_sq)
        slot.rows.append((dist_prev, math.sqrt(nn_sq), knn, cos, near_cos, sparsity, symmetric, crowd))

    @staticmethod
    def _near_cos(slot: WalkSeries, d2: np.ndarray, cur: int, cap: int) -> float:
        """Cosine between the steps joining the client's last three near-duplicate queries, the newest
        being the current one (other queries in between skipped), when both steps are local (shorter
        than ``LOCAL_STEP``) and all three are still in the window; records the current one in
        ``slot.near_run``."""
        cos, run = math.nan, slot.near_run
        if run is not None and slot.seen - run[0] < cap:
            step_sq = float(d2[run[1]])
            small = 0 < step_sq < LOCAL_STEP**2 and 0 < run[4] < LOCAL_STEP**2
            if small and slot.seen - run[2] < cap:
                dot = (float(d2[run[3]]) - step_sq - run[4]) / 2.0
                cos = max(-1.0, min(1.0, dot / math.sqrt(step_sq * run[4])))
            slot.near_run = (slot.seen, cur, run[0], run[1], step_sq)
        else:
            slot.near_run = (slot.seen, cur, -cap, 0, math.nan)
        return cos

    def compute(self, client: ClientState, model: ModelState) -> dict[str, float]:
        slot = walk_series(client)
        if slot is None:
            return {}
        rows = slot.rows.filled()
        has_history = ~np.isnan(rows[:, 1])
        if not has_history.any():
            return {}
        rows = rows[has_history]
        dist_prev, nn, knn, cos, near_cos, sparsity, symmetric, crowd = rows.T
        exact = nn == 0
        distinct = ~exact
        near = distinct & (nn < NEAR_DISTANCE)
        feats = {
            "dist_prev_median": quantile(np.sort(dist_prev).tolist(), 0.5),
            "exact_dup_frac": int(np.count_nonzero(exact)) / len(exact),
            "near_dup_frac": int(np.count_nonzero(near)) / len(near),
            "hair_crowd_frac": int(np.count_nonzero(crowd == 1.0)) / len(crowd),
        }
        if distinct.any():
            ascending = np.sort(nn[distinct]).tolist()
            feats["nn_distance_p10"] = quantile(ascending, NN_QUANTILE)
            feats["nn_distance_median"] = quantile(ascending, 0.5)
            feats["knn_distance_mean"] = _mean(knn[distinct])
        for name, values in (
            ("step_cos_mean", cos),
            ("step_cos_abs_mean", np.abs(cos)),
            ("step_sparsity_mean", sparsity[near]),
            ("symmetric_pair_frac", symmetric),
        ):
            value = defined_mean(values)
            if value is not None:
                feats[name] = value
        if np.count_nonzero(~np.isnan(near_cos)) >= MIN_TURNS:
            feats["near_step_cos_mean"] = defined_mean(near_cos)
        return feats

    def series(self, client: ClientState, model: ModelState) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``nn_distance`` and ``dist_prev`` of each input in the window, by input time."""
        slot = walk_series(client)
        if slot is None:
            return {}
        out = {}
        for name, column in (("nn_distance", "nn"), ("dist_prev", "dist_prev")):
            times, values = aligned_series(client, slot.ordered(column))
            keep = ~np.isnan(values)
            if keep.any():
                out[name] = (times[keep], values[keep].astype(np.float64))
        return out


def _pairs_share_midpoint(slot: WalkSeries, d2: np.ndarray, a_b: float, prev2: int, prev3: int, limit: float) -> bool:
    """Whether ``x_t + x_{t-1} ~= x_{t-2} + x_{t-3}`` for four distinct inputs (central differences
    that never query the centre itself), from squared distances only:
    ``|a+b-c-e|^2 = |a-c|^2 + |b-e|^2 + |a-e|^2 + |b-c|^2 - |a-b|^2 - |c-e|^2``."""
    a_c, a_e = float(d2[prev2]), float(d2[prev3])
    b_c, b_e = float(slot.prev_d2[prev2]), float(slot.prev_d2[prev3])
    c_e = slot.older_sq  # still the previous input's: |x_{t-2} - x_{t-3}|^2
    if not (min(a_c, a_e, b_c, b_e, c_e) > 0 and max(b_c, b_e) < math.inf):
        return False
    return a_c + b_e + a_e + b_c - a_b - c_e <= limit


def aligned_series(client: ClientState, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A per-input series (oldest first) with the input times it belongs to.

    Per-input series grow once per logged input, like ``client.input_ts``; a
    series that started later holds only the newest inputs' values.
    """
    if client.input_ts is None or len(values) == 0:
        return np.empty(0), values[:0]
    times = client.input_ts.ordered()[-len(values):]
    return times, values[-len(times):]
