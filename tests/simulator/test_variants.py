"""Each attacker variant does what defines it, to any attack's queries and to the answers the attack sees."""

from __future__ import annotations

import numpy as np
import pytest

from detector.simulator.api import Answers, ModelAPI
from detector.simulator.models import target_model
from detector.simulator.traffic import Probe
from detector.simulator.variants import (
    BLIND_COPIES,
    MIXED_BENIGN_PER_QUERY,
    SLOW_MIN_GAP_S,
    SLOW_SPLIT_MIN_KEY_GAP_S,
    Blinded,
    averaged,
    disguise,
    relay,
    schedule,
)

DIGITS = "digits-classifier:1"


def constant_attack(batch: np.ndarray, seen: list[Answers]) -> Probe:
    """Sends ``batch`` for ever and keeps the answers it is given."""
    while True:
        seen.append((yield batch))


def exchange(variant: str, batch: np.ndarray, rounds: int = 3, seed: int = 0) -> tuple[list[np.ndarray], list[Answers], ModelAPI]:
    """What a disguised constant attack sends to the digits model, and the answers it sees."""
    model = target_model(DIGITS)
    api, seen = ModelAPI(model), []
    rng = np.random.default_rng(seed)
    probe = relay(constant_attack(batch, seen), disguise(variant, model.data, rng, model.proba))
    sent = [next(probe)]
    for _ in range(rounds - 1):
        sent.append(probe.send(api.answer(sent[-1])))
    return sent, seen, api


def probes() -> np.ndarray:
    return target_model(DIGITS).data.x_held_out[:4]


@pytest.mark.parametrize("seed", range(5))
def test_probe_noise_is_iid_gaussian_of_half_to_two_percent_of_the_range(seed: int) -> None:
    grey = np.full((4, 64), 8.0)  # mid-range: no noise is clipped
    sent, seen, api = exchange("noise", grey, rounds=50, seed=seed)
    for batch in sent:
        assert batch.shape == grey.shape and np.all(batch != grey)
    noise = (np.vstack(sent) - 8.0) / 16.0
    assert 0.004 < noise.std() < 0.022 and abs(noise.mean()) < 0.002
    assert abs(np.corrcoef(noise[:, 0], noise[:, 1])[0, 1]) < 0.3  # independent from coordinate to coordinate
    for batch, answers in zip(sent, seen):  # the attack sees the answers to what was sent
        assert np.allclose(answers.scores, api.answer(batch).scores)


@pytest.mark.parametrize("seed", range(5))
def test_blinding_sends_m_fresh_near_invariant_copies_per_probe_and_averages_their_answers(seed: int) -> None:
    sent, seen, api = exchange("blind", probes(), seed=seed)
    copies = len(sent[0]) // len(probes())
    assert BLIND_COPIES[0] <= copies <= BLIND_COPIES[1] and len(sent[0]) == copies * len(probes())
    typical = np.median(np.linalg.norm(np.diff(target_model(DIGITS).data.x_held_out, axis=0), axis=1))
    for batch, answers in zip(sent, seen):
        groups = batch.reshape(len(probes()), copies, -1)
        assert all(len(np.unique(group, axis=0)) == copies for group in groups)  # every copy freshly edited
        assert np.all(np.linalg.norm(groups - probes()[:, None], axis=2) < 0.5 * typical)
        expected = api.answer(batch).scores.reshape(len(probes()), copies, -1).mean(axis=1)
        assert len(answers) == len(probes()) and np.allclose(answers.scores, expected)
    assert not np.array_equal(sent[0], sent[1])  # fresh edits every time the probe is sent


def test_averaging_a_top1_api_keeps_labels_and_confidences_only() -> None:
    model = target_model(DIGITS)
    rng = np.random.default_rng(0)
    blinded = Blinded(model.data, 4, 0.3, 0.03, 0.005, rng)
    sent, reduce = blinded(probes())
    answers = reduce(ModelAPI(model, top1=True).answer(sent))
    assert answers.scores is None and len(answers) == len(probes())
    truth = model.proba(probes())
    sure = truth.max(axis=1) > 0.9
    assert sure.sum() >= 2 and np.array_equal(answers.labels[sure], truth.argmax(axis=1)[sure])
    one = averaged(Answers(None, np.array([3, 3]), np.array([0.9, 0.7]), 10), 2)
    assert one.labels.tolist() == [3] and np.isclose(one.confidence[0], 0.8)


@pytest.mark.parametrize("variant", ["cover", "mixed"])
def test_cover_and_mixed_keys_add_benign_queries_per_attack_query_and_hide_them_from_the_attack(variant: str) -> None:
    marker = np.full((5, 64), 0.5)  # no real or benign input is 0.5 everywhere
    sent, seen, _ = exchange(variant, marker, rounds=40)
    per_query = 1 if variant == "cover" else MIXED_BENIGN_PER_QUERY
    data = target_model(DIGITS).data
    for batch, answers in zip(sent, seen):
        own = (batch == 0.5).all(axis=1)
        assert own.sum() == 5 and len(batch) == 5 * (1 + per_query) and len(answers) == 5
    everything = np.vstack(sent)
    others = everything[~(everything == 0.5).all(axis=1)]
    assert np.all((others >= data.lo) & (others <= data.hi))
    positions = np.concatenate([np.flatnonzero((b == 0.5).all(axis=1)) for b in sent])
    assert len(set(positions.tolist())) > 3  # interleaved at random places, not always first
    if variant == "cover":  # the attacker's own real samples
        assert all((data.x_held_out == row).all(axis=1).any() for row in others)


def test_slow_spreads_queries_over_hours_well_under_one_a_second() -> None:
    rng = np.random.default_rng(0)
    plan = schedule("slow", 3000, 4 * 3600.0, rng)
    assert plan.n_keys == 1 and plan.gaps.mean() >= SLOW_MIN_GAP_S * 0.9
    assert plan.gaps.sum() > 2 * 3600.0 and 0.3 < plan.gaps.std() / plan.gaps.mean() < 0.7


@pytest.mark.parametrize("seed", range(5))
def test_split_deals_one_attack_round_robin_over_5_to_20_keys(seed: int) -> None:
    plan = schedule("split", 1000, 3600.0, np.random.default_rng(seed))
    keys = plan.n_keys
    assert 5 <= keys <= 20 and plan.gaps is None  # the attack's own pace
    assert np.array_equal(plan.keys, np.arange(1000) % keys)  # every key's queries interleaved with the others'
    assert max(plan.counts(keys)) - min(plan.counts(keys)) <= 1


@pytest.mark.parametrize("seed", range(5))
def test_slow_distributed_sybil_keys_keep_their_own_windows_rates_and_idle_periods(seed: int) -> None:
    n = 2000
    plan = schedule("slow-split", n, 6 * 3600.0, np.random.default_rng(seed))
    keys = plan.n_keys
    assert 5 <= keys <= 10 and len(plan.keys) == n
    times = np.cumsum(plan.gaps)
    assert n / times[-1] < 1.0  # well under a query per second in all
    windows, rates, idles = [], [], []
    for key in range(keys):
        mine = times[plan.keys == key]
        if len(mine) < 20:
            continue
        gaps = np.diff(mine)
        assert np.median(gaps) >= SLOW_SPLIT_MIN_KEY_GAP_S * 0.5
        idles.append(gaps.max() > 10 * np.median(gaps))
        windows.append((mine[0], mine[-1]))
        rates.append(np.median(gaps))
    assert len(windows) >= 3 and np.mean(idles) > 0.5  # random idle periods (a key cut off by the end shows none)
    assert len({round(start) for start, _ in windows}) == len(windows)  # each key its own window
    assert max(rates) > 1.3 * min(rates)  # and its own rate
    switches = np.flatnonzero(np.diff(plan.keys) != 0)
    assert len(switches) > n / 4 and not np.array_equal(plan.keys, np.arange(n) % keys)  # whichever key is due


def test_variants_that_keep_the_pace_use_one_key() -> None:
    for variant in ("plain", "noise", "blind", "cover", "mixed", "top1"):
        plan = schedule(variant, 100, 3600.0, np.random.default_rng(0))
        assert plan.n_keys == 1 and plan.gaps is None
