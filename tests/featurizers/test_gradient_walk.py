"""Gradient walk: per-input series against a brute-force reference, and what each query pattern looks like."""

from __future__ import annotations

import math

import numpy as np
import pytest

from featurizers.gradient_walk import (
    HAIR_CROWD,
    HAIR_DISTANCE,
    K_NEAREST,
    LOCAL_STEP,
    NEAR_DISTANCE,
    SYMMETRY_TOLERANCE,
    GradientWalk,
    WalkSeries,
    walk_series,
)
from featurizers.state import ModelState, StateStore
from tests.featurizers.streams import Query, Replay, benign, coordinate_walk, direction_walk, population, video

DIM = 16


def replay(window: int = 64) -> Replay:
    return Replay([GradientWalk()], StateStore(window=window))


def walk_features(xs: np.ndarray, seed: int = 0, scale: float = 1.0, window: int = 64) -> dict[str, float]:
    r = replay(window)
    population(r, np.random.default_rng(seed), xs.shape[1], scale=scale)
    r.inputs("c", xs)
    return r.features("c")


def reference_rows(inputs: np.ndarray, weights: np.ndarray, window: int) -> np.ndarray:
    """The eight per-input series computed from scratch for every input (the slow, obvious way)."""
    rows = []
    near_seen: list[int] = []  # indices of the near-duplicate queries so far
    w = weights.astype(np.float64)

    def dist(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.sqrt((((a - b) * w) ** 2).sum()))

    for t in range(len(inputs)):
        span = inputs[max(0, t - window + 1) : t + 1].astype(np.float64)
        if len(span) == 1:
            rows.append([math.nan] * 8)
            continue
        x, earlier = span[-1], span[:-1]
        d = np.array([dist(e, x) for e in earlier])
        nearest = int(d.argmin())
        sparsity = math.nan
        if d[nearest] > 0:
            step = np.abs((earlier[nearest] - x) * w)
            sparsity = (math.sqrt(len(x)) - step.sum() / math.sqrt((step**2).sum())) / (math.sqrt(len(x)) - 1)
        step_now = x - span[-2]
        cos = symmetric = math.nan
        if d[-1] > 0:
            if len(span) >= 3 and dist(span[-2], span[-3]) > 0:
                a, b = step_now * w, (span[-2] - span[-3]) * w
                cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
            limit = SYMMETRY_TOLERANCE * d[-1]
            around_input = any(dist(x + span[-2], 2 * c) <= limit for c in span[:-2])
            around_pair = (
                len(span) >= 4
                and min(dist(x, span[-3]), dist(x, span[-4]), dist(span[-2], span[-3]), dist(span[-2], span[-4])) > 0
                and dist(span[-3], span[-4]) > 0
                and dist(x + span[-2], span[-3] + span[-4]) <= limit
            )
            symmetric = float(around_input or around_pair)
        near_cos = math.nan
        if 0 < d.min() < NEAR_DISTANCE:
            recent = [i for i in near_seen[-2:] if t - i < window]
            if len(recent) == 2:
                p2, p1 = inputs[recent[0]].astype(np.float64), inputs[recent[1]].astype(np.float64)
                a, b = (x - p1) * w, (p1 - p2) * w
                if 0 < np.linalg.norm(a) < LOCAL_STEP and 0 < np.linalg.norm(b) < LOCAL_STEP:
                    near_cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
            near_seen.append(t)
        crowd = float(np.count_nonzero((d > 0) & (d < HAIR_DISTANCE)) >= HAIR_CROWD)
        rows.append([d[-1], d.min(), np.sort(d)[:K_NEAREST].mean(), cos, near_cos, sparsity, symmetric, crowd])
    return np.array(rows)


def alternate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` and ``b`` query by query (equal lengths)."""
    out = np.empty((2 * len(a), a.shape[1]))
    out[0::2], out[1::2] = a, b
    return out


def test_series_match_a_brute_force_reference_across_window_wraps() -> None:
    rng = np.random.default_rng(7)
    window = 16
    parts = [
        coordinate_walk(rng, DIM, 3, pairs=4),
        benign(rng, 10, DIM),
        direction_walk(rng, DIM, 2, pairs=3),
        np.repeat(benign(rng, 3, DIM), 3, axis=0),  # retries
        coordinate_walk(rng, DIM, 3, pairs=5),
    ]
    inputs = np.concatenate(parts).astype(np.float32)
    r = replay(window)
    population(r, rng, DIM, n=1024)  # the model's scale has settled
    history = []
    for x in inputs:
        r.inputs("c", [x])
        history.append(walk_series(r.client("c")).rows.last().copy())
    weights = r.model().scale.current(DIM).weights
    expected = reference_rows(inputs, weights, window)
    np.testing.assert_allclose(np.array(history), expected, rtol=2e-3, atol=2e-5)
    assert np.count_nonzero(expected[:, 4] < -0.5) > 3, "the sequence must contain near steps turning back to test them"
    assert np.nansum(expected[:, 6]) > 5, "the sequence must contain symmetric pairs to test them"
    assert np.nansum(expected[:, 7]) > 5, "the sequence must contain crowds of near-identical probes to test them"


def test_finite_difference_walk_is_symmetric_sparse_and_near_but_not_exact() -> None:
    rng = np.random.default_rng(1)
    walk = walk_features(coordinate_walk(rng, DIM, 8))
    users = walk_features(benign(rng, 128, DIM))
    assert walk["symmetric_pair_frac"] > 0.35 and users["symmetric_pair_frac"] == 0.0
    assert walk["step_sparsity_mean"] > 0.6 and "step_sparsity_mean" not in users  # users take no small steps
    assert walk["near_dup_frac"] > 0.95 and walk["exact_dup_frac"] == 0.0
    assert users["near_dup_frac"] == 0.0 and users["nn_distance_p10"] > 0.5
    assert walk["nn_distance_p10"] < 0.02 and walk["knn_distance_mean"] < 0.1 < 1.0 < users["knn_distance_mean"]
    assert walk["step_cos_mean"] < -0.55 and walk["step_cos_abs_mean"] > 0.6


def test_cover_queries_do_not_dilute_the_sparsity_of_small_steps() -> None:
    rng = np.random.default_rng(3)
    probes = coordinate_walk(rng, DIM, 4)
    alone = walk_features(probes)
    covered = walk_features(alternate(probes, benign(rng, len(probes), DIM)))  # every other query a real input
    assert covered["near_dup_frac"] < 0.6 * alone["near_dup_frac"]
    assert covered["step_sparsity_mean"] > 0.6
    assert abs(covered["step_sparsity_mean"] - alone["step_sparsity_mean"]) < 0.1
    frames = walk_features(video(rng, 64, DIM))
    assert frames["near_dup_frac"] > 0.9 and frames["step_sparsity_mean"] < 0.4


def form_sessions(rng: np.random.Generator, sessions: int, fields: int) -> np.ndarray:
    """Forms filled field by field (each query changes one more feature, by a small amount), the
    sessions interleaved in bursts of 1-6 queries, as under one shadow key."""
    rows = []
    for _ in range(sessions):
        x, session = rng.standard_normal(DIM), []
        for i in rng.choice(DIM, size=fields, replace=False):
            x = x.copy()
            x[i] += 0.02 * rng.choice([-1.0, 1.0])
            session.append(x)
        rows.append(session[::-1])
    out = []
    while any(rows):
        session = rows[rng.choice([i for i, left in enumerate(rows) if left])]
        out += [session.pop() for _ in range(min(len(session), int(rng.integers(1, 7))))]
    return np.array(out)


def test_only_probing_turns_back_whatever_is_interleaved() -> None:
    rng = np.random.default_rng(6)
    forms = form_sessions(rng, sessions=3, fields=16)
    shadow = walk_features(alternate(forms, benign(rng, len(forms), DIM)))  # and people's unrelated queries
    assert shadow["near_dup_frac"] > 0.15 and shadow["step_sparsity_mean"] > 0.8, "forms make sparse small steps"
    assert shadow["step_cos_mean"] < -0.4, "consecutive steps between unrelated queries look like turning back"
    assert abs(shadow["near_step_cos_mean"]) < 0.1, "each session moves on: successive local steps are orthogonal"
    probes = coordinate_walk(rng, DIM, 4)
    assert walk_features(alternate(probes, benign(rng, len(probes), DIM)))["near_step_cos_mean"] < -0.4
    assert "near_step_cos_mean" not in walk_features(benign(rng, 64, DIM)), "no near-duplicates, no turns"


def test_probes_around_a_queried_centre_are_symmetric_pairs() -> None:
    rng = np.random.default_rng(2)
    feats = walk_features(direction_walk(rng, DIM, 8))
    assert feats["symmetric_pair_frac"] > 0.35
    assert feats["step_sparsity_mean"] < 0.4, "random directions are dense steps"


def test_identical_retries_are_exact_duplicates_not_near_ones() -> None:
    rng = np.random.default_rng(3)
    feats = walk_features(np.repeat(rng.standard_normal((1, DIM)), 40, axis=0))
    assert feats["exact_dup_frac"] == 1.0 and feats["near_dup_frac"] == 0.0
    assert feats["dist_prev_median"] == 0.0
    assert not {"nn_distance_p10", "knn_distance_mean", "step_sparsity_mean", "symmetric_pair_frac"} & feats.keys()


def test_video_frames_are_near_but_dense_and_not_symmetric() -> None:
    rng = np.random.default_rng(4)
    feats = walk_features(video(rng, 128, DIM))
    assert feats["near_dup_frac"] > 0.9
    assert feats["step_sparsity_mean"] < 0.35 and feats["symmetric_pair_frac"] < 0.05


def test_cover_queries_interleaved_with_a_walk_do_not_hide_its_near_duplicates() -> None:
    rng = np.random.default_rng(5)
    feats = walk_features(alternate(coordinate_walk(rng, DIM, 4), benign(rng, 64, DIM)))
    assert 0.4 < feats["near_dup_frac"] < 0.6
    assert feats["step_sparsity_mean"] > 0.45, "steps are taken from the nearest earlier input, not the previous"


def test_distances_are_scale_free() -> None:
    rng = np.random.default_rng(6)
    walk = coordinate_walk(rng, DIM, 4)
    small = walk_features(walk, seed=9)
    large = walk_features(walk * 1000.0, seed=9, scale=1000.0)
    assert large.keys() == small.keys()
    for name, value in small.items():
        assert large[name] == pytest.approx(value, rel=1e-3, abs=1e-6), name


def test_inputs_of_any_size_give_comparable_distances() -> None:
    rng = np.random.default_rng(8)
    narrow = walk_features(benign(rng, 64, 8))
    wide = walk_features(benign(rng, 64, 512))
    assert narrow["dist_prev_median"] == pytest.approx(math.sqrt(2), rel=0.25)
    assert wide["dist_prev_median"] == pytest.approx(math.sqrt(2), rel=0.05)


def test_a_first_input_has_no_features_and_events_without_input_change_nothing() -> None:
    r = replay()
    r.inputs("c", [np.ones(DIM)])
    assert r.features("c") == {}
    slot_before = walk_series(r.client("c")).rows.ordered()
    r.send(Query("c", 99.0, scores=np.array([0.5, 0.5])))
    np.testing.assert_array_equal(walk_series(r.client("c")).rows.ordered(), slot_before)


def test_the_scale_snapshot_refreshes_when_the_model_input_count_doubles() -> None:
    model = ModelState("m")
    versions = []
    for i in range(20):
        model.observe_input(np.full(4, float(i), dtype=np.float32))
        versions.append(model.scale.current(4).version)
    assert versions == [0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4]


def test_series_are_bounded_by_the_window() -> None:
    rng = np.random.default_rng(10)
    r = replay(window=16)
    r.inputs("c", benign(rng, 200, DIM))
    slot = walk_series(r.client("c"))
    assert isinstance(slot, WalkSeries) and len(slot.rows) == 16
    times, values = GradientWalk().series(r.client("c"), r.model())["nn_distance"]
    assert len(times) == len(values) == 16 and np.all(np.diff(times) > 0)


def test_a_busy_prober_does_not_shrink_the_model_scale() -> None:
    rng = np.random.default_rng(4)
    r = replay(64)
    r.inputs("user", benign(rng, 200, DIM))
    before = r.model().scale.current(DIM).weights.copy()
    r.inputs("prober", coordinate_walk(rng, DIM, 125))  # 2,000 near-identical probes, ten times the user's traffic
    after = r.model().scale.current(DIM).weights
    np.testing.assert_allclose(after, before, rtol=0.25)
