"""Output evidence: unsure answers to atypical inputs, against a reference learned only from unflagged clients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from featurizers.base import TRUSTED_AFTER
from featurizers.gradient_walk import GradientWalk
from featurizers.input_distribution import InputDistribution
from featurizers.output_distribution import CLIENT_SHARE, OutputDistribution, OutputReference
from tests.featurizers.streams import Query, Replay

DIM, CLASSES = 12, 4
RULES = Path(__file__).parents[2] / "rules" / "builtin" / "output_distribution.yaml"


def shipped_evidence() -> float:
    (rule,) = yaml.safe_load(RULES.read_text())["rules"]
    return float(rule["thresholds"]["evidence"])


def answer(top: float, runner_up: float) -> np.ndarray:
    """Class scores with the given top two, the rest shared by the other classes."""
    rest = (1.0 - top - runner_up) / (CLASSES - 2)
    return np.array([top, runner_up] + [rest] * (CLASSES - 2), dtype=np.float32)


@pytest.fixture()
def world() -> tuple[Replay, np.random.Generator, np.ndarray]:
    """A model whose 40 clients send inputs along 3 of 12 directions and get mostly confident answers, each
    long enough to be trusted."""
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, DIM))
    replay = Replay([GradientWalk(), InputDistribution(), OutputDistribution()])
    for i in range(40 * (TRUSTED_AFTER + 24)):
        top = rng.uniform(0.5, 1.0)
        x = rng.normal(size=3) @ basis + 0.05 * rng.normal(size=DIM)
        replay.send(Query(f"user{i % 40}", float(i), x=x, scores=answer(top, (1.0 - top) * 0.7)))
    return replay, rng, basis


def typical(rng: np.random.Generator, basis: np.ndarray) -> np.ndarray:
    return rng.normal(size=3) @ basis + 0.05 * rng.normal(size=DIM)


def test_window_shares_of_low_margin_and_unsure_answers(world) -> None:
    replay, rng, basis = world
    for i in range(40):
        low = i % 2 == 0
        replay.send(Query("half", 2000.0 + i, x=typical(rng, basis), scores=answer(0.45, 0.44) if low else answer(0.99, 0.005)))
        replay.send(Query("top1", 2000.5 + i, x=typical(rng, basis), label=0, confidence=0.3))
        replay.send(Query("labels", 2000.7 + i, x=typical(rng, basis), label=1))
    half, top1 = replay.features("half"), replay.features("top1")
    assert half["low_margin_frac"] == 0.5 and half["unsure_answer_frac"] == 0.5
    assert top1["unsure_answer_frac"] == 1.0 and "low_margin_frac" not in top1
    assert not {"low_margin_frac", "unsure_answer_frac", "unsure_atypical_cusum"} & replay.features("labels").keys()


def test_low_margin_sampling_of_another_domain_is_flagged_and_a_labeller_of_typical_records_is_not(world) -> None:
    replay, rng, basis = world
    for i in range(400):
        replay.send(Query("thief", 3000.0 + i, x=rng.uniform(-3, 3, DIM), scores=answer(0.4, 0.35)))
        replay.send(Query("labeller", 3000.5 + i, x=typical(rng, basis), scores=answer(0.4, 0.35)))
    assert replay.features("thief")["unsure_atypical_cusum"] > shipped_evidence()
    labeller = replay.features("labeller")
    assert labeller["low_margin_frac"] == 1.0 and labeller["unsure_atypical_cusum"] < 0.1 * shipped_evidence()


def test_repeats_of_one_unsure_input_are_no_evidence(world) -> None:
    replay, rng, _ = world
    frame = rng.uniform(-3, 3, DIM)
    for i in range(200):
        replay.send(Query("camera", 4000.0 + i, x=frame + 1e-4 * rng.normal(size=DIM), scores=answer(0.4, 0.35)))
    assert replay.features("camera")["unsure_atypical_cusum"] < 5.0


def test_a_flagged_client_does_not_move_the_reference(world) -> None:
    replay, rng, _ = world
    reference = replay.model().shared["output_distribution"]
    before = [s.n for s in reference.sketches]
    model, featurizer = replay.model(), replay.featurizers[-1]
    clean = TRUSTED_AFTER + 5  # scored every 5 events: clean windows until it is trusted and 5 more, then flagged
    for i in range(clean + 200):
        client = replay.store.touch("m", "thief", 5000.0 + i)
        query = Query("thief", 5000.0 + i, x=rng.uniform(-3, 3, DIM), scores=answer(0.4, 0.39))
        replay.extractor.observe(replay.observation(query, model), client, model)
        if i % 5 == 4:
            replay.extractor.settle(client, model, flagged=i >= clean)
    taught = [s.n - n for s, n in zip(reference.sketches, before)]
    assert 0 < taught[0] <= 6 and taught[0] == taught[1]  # its few trusted clean answers, then nothing
    assert featurizer.compute(client, model)["unsure_atypical_cusum"] > 100  # still tested, only not learned from
    for i in range(TRUSTED_AFTER + 1):
        replay.send(Query("newcomer", 6000.0 + i, x=rng.uniform(-3, 3, DIM), scores=answer(0.4, 0.39)))
    assert reference.sketches[0].n == before[0] + taught[0] + 2  # a newcomer teaches once trusted


def test_a_client_teaches_the_reference_at_most_its_share(world) -> None:
    replay, rng, basis = world
    reference = replay.model().shared["output_distribution"]
    before = reference.sketches[0].n
    for i in range(10 * CLIENT_SHARE):
        replay.send(Query("busy", 7000.0 + i, x=typical(rng, basis), scores=answer(0.9, 0.05)))
    assert reference.sketches[0].n == before + CLIENT_SHARE


def test_the_model_reference_stays_within_its_byte_bound() -> None:
    reference = OutputReference()
    rng = np.random.default_rng(1)
    for values in rng.random((200_000, 3)):
        reference.learn(tuple(values.tolist()))
    serialised = sum(len(s.serialize()) for s in reference.sketches)
    assert reference.nbytes <= reference.max_nbytes and serialised <= reference.max_nbytes
    assert abs(reference.cuts[0] - 0.1) < 0.03 and abs(reference.cuts[2] - 0.9) < 0.03
