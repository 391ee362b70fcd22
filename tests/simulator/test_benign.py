"""Each benign kind sends real samples with its own recognisable timing and shape."""

from __future__ import annotations

import numpy as np
import pytest

from detector.simulator.benign import BENIGN_KINDS, Traffic
from detector.simulator.datasets import Dataset, dataset

DATASETS = ["digits", "breast-cancer"]


def sent(traffic: Traffic) -> tuple[np.ndarray, np.ndarray]:
    """All (gaps, inputs) of a client's traffic, cut at its number of events."""
    gaps, inputs = [], []
    for g, x in traffic.chunks:
        gaps.append(g)
        inputs.append(x)
        if sum(len(c) for c in gaps) >= traffic.n_events:
            break
    return np.concatenate(gaps)[: traffic.n_events], np.vstack(inputs)[: traffic.n_events]


def play(kind: str, name: str, seed: int = 0, remaining_s: float = 3600.0) -> tuple[np.ndarray, np.ndarray, Dataset]:
    data = dataset(name)
    gaps, inputs = sent(BENIGN_KINDS[kind](data, np.random.default_rng(seed), remaining_s))
    return gaps, inputs, data


def is_real(inputs: np.ndarray, data: Dataset) -> np.ndarray:
    return np.array([(data.x_all == row).all(axis=1).any() for row in inputs])


def typical_distance(data: Dataset) -> float:
    """Median distance between two different real samples."""
    return float(np.median(np.linalg.norm(np.diff(data.x_held_out, axis=0), axis=1)))


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("kind", sorted(BENIGN_KINDS))
def test_every_kind_stays_in_the_valid_range_and_sends_its_count(kind: str, name: str) -> None:
    data = dataset(name)
    traffic = BENIGN_KINDS[kind](data, np.random.default_rng(1), 7200.0)
    gaps, inputs = sent(traffic)
    assert len(inputs) == len(gaps) == traffic.n_events > 0
    assert np.all((inputs >= data.lo) & (inputs <= data.hi)) and np.all(np.isfinite(gaps))


@pytest.mark.parametrize("name", DATASETS)
def test_interactive_people_send_real_samples_seconds_apart(name: str) -> None:
    gaps, inputs, data = play("interactive", name)
    assert 10 <= len(inputs) <= 300 and is_real(inputs, data).all()
    assert 1.0 < np.median(gaps) < 30.0


def test_healthcheck_repeats_one_input_like_clockwork() -> None:
    gaps, inputs, _ = play("healthcheck", "digits", remaining_s=3600.0)
    assert (inputs == inputs[0]).all()
    period = round(gaps.mean())
    assert period in (10, 15, 30, 60) and abs(gaps.mean() - period) < 0.01
    assert gaps.std() / gaps.mean() < 0.01 and len(inputs) == 3600 // period


@pytest.mark.parametrize("name", DATASETS)
def test_batch_jobs_send_distinct_real_samples_at_a_regular_cadence(name: str) -> None:
    gaps, inputs, data = play("batch", name)
    assert len(inputs) >= 500 and is_real(inputs, data).all()
    assert len(np.unique(inputs, axis=0)) == len(inputs)  # the datasets hold no duplicate rows
    assert gaps.std() / gaps.mean() < 0.1 and gaps.mean() < 0.25


def test_retries_resend_identically_within_a_second() -> None:
    gaps, inputs, _ = play("retry", "digits", seed=4)
    repeated = (np.diff(inputs, axis=0) == 0).all(axis=1)
    assert repeated.any()
    assert np.all(gaps[1:][repeated] < 0.35)
    assert np.median(gaps[1:][~repeated]) > 1.0


@pytest.mark.parametrize("name", DATASETS)
def test_video_frames_are_near_identical_in_a_fast_stream(name: str) -> None:
    gaps, inputs, data = play("video", name)
    steps = np.linalg.norm(np.diff(inputs, axis=0), axis=1)
    assert np.median(steps) < 0.15 * typical_distance(data)
    assert 1 / 31 < np.median(gaps) < 1 / 9
    assert not is_real(inputs[:50], data).any()


def test_video_scene_cuts_jump_to_another_sample() -> None:
    _, inputs, data = play("video", "digits", seed=2)
    steps = np.linalg.norm(np.diff(inputs, axis=0), axis=1)
    assert 0 < np.sum(steps > 0.5 * typical_distance(data)) < len(steps) / 30


@pytest.mark.parametrize("name", DATASETS)
def test_drift_moves_the_input_distribution_steadily(name: str) -> None:
    for seed in range(3):
        _, inputs, data = play("drift", name, seed=seed)
        fifth = len(inputs) // 5
        shift = (inputs[-fifth:].mean(axis=0) - inputs[:fifth].mean(axis=0)) / data.span
        assert abs(shift.mean()) > 0.01


def test_augment_sends_samples_each_followed_by_mild_variants() -> None:
    _, inputs, data = play("augment", "digits")
    real = is_real(inputs, data)
    assert 3 <= real.sum() <= 10 and real[0]
    originals = np.flatnonzero(real)
    for start, end in zip(originals, list(originals[1:]) + [len(inputs)]):
        assert 3 <= end - start - 1 <= 8
        variants = inputs[start + 1 : end]
        assert np.all(np.linalg.norm(variants - inputs[start], axis=1) < 0.5 * typical_distance(data))
