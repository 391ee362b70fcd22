"""Each attack leaves the query pattern its paper's algorithm implies, against the real models."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from detector.simulator.api import ModelAPI
from detector.simulator.attacks_active import STRATEGIES, active_thief
from detector.simulator.attacks_decision import boundary, hop_skip_jump
from detector.simulator.attacks_extraction import equation_solving, jacobian_augmentation, knockoff, transfer_set
from detector.simulator.attacks_inversion import mi_face
from detector.simulator.attacks_membership import noise_robustness
from detector.simulator.attacks_score import simba, square, zoo
from detector.simulator.datasets import Dataset, dataset
from detector.simulator.models import MODEL_DATASETS, target_model
from tests.simulator.playing import changed_coordinates, play, top2_margin

DIGITS, CANCER = "digits-classifier:1", "breast-cancer:1"
MODELS = sorted(MODEL_DATASETS)


def data_of(model_id: str) -> Dataset:
    return target_model(model_id).data


@pytest.mark.parametrize(("model_id", "target"), [(DIGITS, t) for t in range(10)] + [(CANCER, 0), (CANCER, 1)])
def test_inversion_climbs_the_target_confidence(model_id: str, target: int) -> None:
    _, scores = play(mi_face(data_of(model_id), target, np.random.default_rng(target)), model_id, 2500)
    confidence = scores[:, target]
    assert confidence[0] < 0.65
    assert confidence.max() > 0.95
    assert confidence.max() - confidence[0] > 0.3


def test_inversion_probes_are_symmetric_single_coordinate_pairs() -> None:
    data = data_of(DIGITS)
    inputs, _ = play(mi_face(data, 3, np.random.default_rng(0)), DIGITS, 18)
    x, pairs = inputs[0], inputs[1:17].reshape(8, 2, -1)
    for plus, minus in pairs:
        moved = np.flatnonzero(plus != minus)
        assert len(moved) == 1
        i = moved[0]
        assert plus[i] > minus[i] and plus[i] - minus[i] <= 2 * 0.02 * data.span[i] + 1e-9
        assert np.array_equal(np.delete(plus, i), np.delete(x, i))


def test_inversion_is_slower_but_still_probes_against_a_top1_api() -> None:
    inputs, scores = play(mi_face(data_of(DIGITS), 7, np.random.default_rng(0)), DIGITS, 1500, top1=True)
    assert np.mean(changed_coordinates(inputs) <= 2) > 0.85
    assert scores[:, 7].max() > 0.5


@pytest.mark.parametrize("model_id", MODELS)
@pytest.mark.parametrize("attack", [zoo, simba], ids=["zoo", "simba"])
def test_zoo_and_simba_steps_change_few_coordinates(attack, model_id: str) -> None:
    inputs, _ = play(attack(data_of(model_id), np.random.default_rng(0)), model_id, 2000)
    assert np.mean(changed_coordinates(inputs) <= 2) > 0.9


def test_zoo_finite_differences_are_tiny() -> None:
    data = data_of(DIGITS)
    inputs, _ = play(zoo(data, np.random.default_rng(0)), DIGITS, 17 * 20)
    steps = np.abs(np.diff(inputs, axis=0))[changed_coordinates(inputs) == 1].max(axis=1)
    h = 1e-4 * 16.0
    assert len(steps) > 150 and np.all(np.isclose(steps, h) | np.isclose(steps, 2 * h))


def _sample_starts(inputs: np.ndarray, pool: np.ndarray) -> list[int]:
    """Where an evasion attack starts on a new real sample: the queries equal to one."""
    return [i for i, row in enumerate(inputs) if (pool == row).all(axis=1).any()]


def test_simba_fools_the_model_one_pixel_at_a_time() -> None:
    data = data_of(DIGITS)
    inputs, scores = play(simba(data, np.random.default_rng(1)), DIGITS, 1500)
    starts = _sample_starts(inputs, data.x_held_out)
    labels = scores.argmax(axis=1)
    fooled = [labels[end - 1] != labels[start] for start, end in zip(starts, starts[1:])]
    assert len(fooled) > 3 and np.mean(fooled) > 0.8


def test_square_perturbations_stay_in_the_linf_ball_and_change_squares() -> None:
    data = data_of(DIGITS)
    inputs, _ = play(square(data, np.random.default_rng(0)), DIGITS, 1500)
    starts = _sample_starts(inputs, data.x_held_out)
    assert starts and starts[0] == 0
    for start, end in zip(starts, starts[1:] + [len(inputs)]):
        assert np.all(np.abs(inputs[start:end] - inputs[start]) <= 0.05 * 16.0 + 1e-9)
    assert np.median(changed_coordinates(inputs)) <= 9


@pytest.mark.parametrize("model_id", MODELS)
@pytest.mark.parametrize(("attack", "max_margin"), [(boundary, 0.35), (hop_skip_jump, 0.1)], ids=["boundary", "hsj"])
def test_decision_based_attacks_hug_the_boundary(attack, max_margin: float, model_id: str) -> None:
    data = data_of(model_id)
    _, scores = play(attack(data, np.random.default_rng(0)), model_id, 2000)
    real = top2_margin(target_model(model_id).proba(data.x_held_out))
    assert np.median(real) > 0.95
    assert np.median(top2_margin(scores[-500:])) < max_margin


def test_hopskipjump_estimates_gradients_with_batches_of_nearby_probes() -> None:
    data = data_of(DIGITS)
    inputs, _ = play(hop_skip_jump(data, np.random.default_rng(0)), DIGITS, 1500)
    steps = np.linalg.norm(np.diff(inputs, axis=0) / data.span, axis=1)
    assert np.median(steps) < 0.05 * np.median(np.linalg.norm(np.diff(data.x_held_out, axis=0) / data.span, axis=1))


@pytest.mark.parametrize("model_id", MODELS)
def test_jbda_steps_by_lambda_signs_from_a_labelled_seed_set(model_id: str) -> None:
    data = data_of(model_id)
    rng = np.random.default_rng(0)
    attack = jacobian_augmentation(data, rng)
    api = ModelAPI(target_model(model_id))
    seeds = next(attack)
    assert len(seeds) == 10 * data.n_classes and all((data.x_held_out == s).all(axis=1).any() for s in seeds)
    grown = attack.send(api.answer(seeds))
    assert grown.shape == seeds.shape
    moved = np.abs(grown - seeds) / data.span
    at_bound = (grown == data.lo) | (grown == data.hi)
    assert np.all(np.isclose(moved, 0.1) | at_bound)
    assert np.mean(np.isclose(moved, 0.1)) > 0.3


def test_knockoff_sends_natural_inputs_from_another_distribution() -> None:
    data = data_of(DIGITS)
    inputs, _ = play(knockoff(data, np.random.default_rng(0)), DIGITS, 300)
    assert np.all((inputs >= 0) & (inputs <= 16)) and len(np.unique(inputs, axis=0)) == len(inputs)

    def nearest_train_distance(rows: np.ndarray) -> float:
        return float(np.median(np.linalg.norm(rows[:, None] - data.x_train[None], axis=2).min(axis=1)))

    assert nearest_train_distance(inputs) > 1.5 * nearest_train_distance(data.x_held_out[:300])


def test_transfer_set_rows_of_tabular_data_mix_records() -> None:
    data = dataset("breast-cancer")
    rows = transfer_set(data, 50, np.random.default_rng(0))
    pool = data.x_all
    assert all(np.isin(rows[:, j], pool[:, j]).all() for j in range(data.n_features))
    assert not any((pool == row).all(axis=1).any() for row in rows)


@pytest.mark.parametrize("model_id", MODELS)
def test_tramer_queries_are_uniform_over_the_domain(model_id: str) -> None:
    data = data_of(model_id)
    inputs, _ = play(equation_solving(data, np.random.default_rng(0)), model_id, 3000)
    assert np.all((inputs >= data.lo) & (inputs <= data.hi))
    assert np.allclose((inputs.mean(axis=0) - data.lo) / data.span, 0.5, atol=0.05)


def test_membership_queries_a_record_then_small_perturbations_of_it() -> None:
    data = data_of(DIGITS)
    inputs, _ = play(noise_robustness(data, np.random.default_rng(0)), DIGITS, 300)
    record = inputs[0]
    assert (data.x_all == record).all(axis=1).any()
    neighbours = inputs[1:51]
    distance = np.linalg.norm((neighbours - record) / data.span, axis=1)
    assert np.all((distance > 0) & (distance < 0.04 * 3 * np.sqrt(data.n_features)))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_active_thief_asks_what_its_substitute_is_unsure_of_and_learns_the_model(strategy: str) -> None:
    model = target_model(DIGITS)
    data = model.data
    thief = LogisticRegression(max_iter=100)
    inputs, scores = play(active_thief(data, np.random.default_rng(1), thief, strategy=strategy), DIGITS, 2000)
    random_pool = model.proba(transfer_set(data, 2000, np.random.default_rng(2)))
    assert len(np.unique(inputs, axis=0)) == len(inputs)  # every pool sample once
    assert np.median(scores[100:].max(axis=1)) < np.median(random_pool.max(axis=1)) - 0.05
    agreement = (thief.predict((data.x_held_out - data.lo) / data.span) == model.proba(data.x_held_out).argmax(axis=1)).mean()
    assert agreement > 0.85
