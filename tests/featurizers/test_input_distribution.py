"""The learned input distribution: what it scores off-distribution, and who may teach it."""

from __future__ import annotations

import numpy as np
import pytest

from detector.event import InferenceEvent
from detector.pipeline import Pipeline
from detector.settings import Settings
from featurizers.base import TRUSTED_AFTER
from featurizers.gradient_walk import GradientWalk
from featurizers.input_distribution import CLIENT_SHARE, FIRST_FIT, InputDistribution, InputModel
from rules.loader import load_rules
from tests.featurizers.streams import Query, Replay

DIM = 16


def correlated(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    """A population along 3 directions of 16 coordinates (plus a little noise), optionally shifted."""
    basis = np.random.default_rng(7).normal(size=(3, DIM))
    return (rng.normal(size=(n, 3)) @ basis + 0.05 * rng.normal(size=(n, DIM)) + shift).astype(np.float32)


def replay_population(clients: int = 32, each: int = TRUSTED_AFTER + 24) -> Replay:
    """The model's benign clients, each sending its own draws of the population, long enough to be trusted
    (and, 16 inputs each, enough for the first fit)."""
    rng = np.random.default_rng(1)
    replay = Replay([GradientWalk(), InputDistribution()])
    for i in range(clients * each):
        replay.clock += 1.0
        replay.send(Query(f"user{i % clients}", replay.clock, x=correlated(rng, 1)[0]))
    return replay


def learned(replay: Replay) -> InputModel:
    return replay.model().shared[InputDistribution.name]


def test_the_score_separates_random_points_from_the_population() -> None:
    replay = replay_population()
    model = learned(replay)
    assert model.components is not None and model.seen >= FIRST_FIT
    rng = np.random.default_rng(2)
    isotropic = rng.normal(scale=float(correlated(rng, 2000).std()), size=(200, DIM)).astype(np.float32)
    own = correlated(rng, 200)
    assert np.mean([model.score(x, replay.model()) > 1.0 for x in isotropic]) > 0.9
    assert np.mean([model.score(x, replay.model()) > 1.0 for x in own]) < 0.05


def population_events(pipeline_events: int = 32 * (TRUSTED_AFTER + 24)) -> list[InferenceEvent]:
    rng = np.random.default_rng(1)
    return [event(i, f"user{i % 32}", x) for i, x in enumerate(correlated(rng, pipeline_events))]


def event(i: int, client: str, x: np.ndarray) -> InferenceEvent:
    return InferenceEvent(event_id=f"{client}-{i}", ts=1_800_000_000.0 + i, client_id=client, model_id="m",
                          input=[float(v) for v in x], output={"scores": [0.4, 0.6]})  # fmt: skip


def alerted(queries: np.ndarray) -> set[str]:
    """The shipped rules' alerts on one client sending ``queries`` after the model's population."""
    pipeline = Pipeline(Settings(), load_rules([]))
    for e in population_events():
        pipeline.process(e)
    changes = [c for i, x in enumerate(queries) for c in pipeline.process(event(1000 + i, "client", x))]
    return {c.alert.detector for c in changes if c.alert.client_id == "client"}


def test_a_shifted_copy_of_the_population_is_not_flagged_and_random_points_are() -> None:
    rng = np.random.default_rng(6)
    scale = float(correlated(rng, 2000).std())
    assert alerted(correlated(rng, 80, shift=0.5 * scale)) == set()
    assert alerted(rng.normal(scale=scale, size=(80, DIM)).astype(np.float32)) & {
        "rule:off-distribution-queries", "rule:off-distribution-sweep"}  # fmt: skip


def test_a_client_sending_random_points_piles_up_evidence_and_a_population_client_none() -> None:
    replay = replay_population()
    rng = np.random.default_rng(3)
    for x in rng.uniform(-3, 3, size=(30, DIM)).astype(np.float32):
        replay.clock += 1.0
        replay.send(Query("sweeper", replay.clock, x=x))
    for x in correlated(rng, 30):
        replay.clock += 1.0
        replay.send(Query("user0", replay.clock, x=x))
    assert replay.features("sweeper")["off_distribution_cusum"] > 20
    assert replay.features("user0")["off_distribution_cusum"] < 2


@pytest.mark.parametrize("flagged", [True, False])
def test_a_flagged_client_does_not_move_the_model(flagged: bool) -> None:
    replay = replay_population()
    before = learned(replay).reservoir.copy()
    seen = learned(replay).seen
    rng = np.random.default_rng(4)
    for x in rng.uniform(-3, 3, size=(TRUSTED_AFTER + 2 * CLIENT_SHARE, DIM)).astype(np.float32):
        replay.clock += 1.0
        replay.send(Query("prober", replay.clock, x=x), flagged=flagged)
    after = learned(replay)
    if flagged:
        assert after.seen == seen and np.array_equal(after.reservoir, before)
    else:
        assert after.seen == seen + CLIENT_SHARE


def test_a_young_client_teaches_nothing_until_it_has_sent_its_first_events_unflagged() -> None:
    replay = replay_population()
    seen = learned(replay).seen
    rng = np.random.default_rng(10)
    for x in correlated(rng, TRUSTED_AFTER - 1):
        replay.clock += 1.0
        replay.send(Query("young", replay.clock, x=x))
    assert learned(replay).seen == seen
    for x in correlated(rng, 2 * CLIENT_SHARE):
        replay.clock += 1.0
        replay.send(Query("young", replay.clock, x=x))
    assert learned(replay).seen == seen + CLIENT_SHARE


def test_inputs_wait_for_the_window_and_a_later_flag_drops_them() -> None:
    replay = replay_population()
    model, seen = replay.model(), learned(replay).seen
    rng = np.random.default_rng(5)
    client = None
    for x in rng.uniform(-3, 3, size=(6, DIM)).astype(np.float32):
        replay.clock += 1.0
        client = replay.store.touch("m", "late", replay.clock)
        replay.extractor.observe(replay.observation(Query("late", replay.clock, x=x), model), client, model)
    assert learned(replay).seen == seen  # not scored yet: nothing taught
    replay.extractor.settle(client, model, flagged=True)
    replay.extractor.settle(client, model, flagged=False)  # flagged once: its held inputs are gone for good
    assert learned(replay).seen == seen


def scatter_after(queries: list[np.ndarray]) -> float:
    """``off_scatter_cusum`` of one client sending ``queries`` after the model's population."""
    replay = replay_population()
    for x in queries:
        replay.clock += 1.0
        replay.send(Query("client", replay.clock, x=x.astype(np.float32)))
    return replay.features("client")["off_scatter_cusum"]


def test_scattered_queries_pile_up_evidence_blinded_into_copies_or_among_cover_queries() -> None:
    rng = np.random.default_rng(8)
    scale = float(correlated(rng, 2000).std())
    points = rng.normal(scale=2 * scale, size=(40, DIM))  # synthetic points, wider than the population
    blinded = [x + 0.05 * scale * rng.normal(size=DIM) for x in points for _ in range(4)]
    covered = [q for x, cover in zip(points, correlated(rng, 40)) for q in (x, cover)]
    assert scatter_after(blinded) > 12 and scatter_after(covered) > 12


def test_retries_of_odd_inputs_and_a_shifted_population_pile_up_no_scatter_evidence() -> None:
    rng = np.random.default_rng(9)
    scale = float(correlated(rng, 2000).std())
    odd = rng.normal(scale=scale, size=(4, DIM))
    retried = [q for x in correlated(rng, 40) for q in (x, x)]
    retried[20:28] = [odd[i // 2] for i in range(8)]  # a few odd inputs, each sent twice
    assert scatter_after(retried) < 12
    assert scatter_after(list(correlated(rng, 80, shift=0.5 * scale))) < 2.5
