"""Each benign kind sends real samples (or edits of them) with its own recognisable timing and shape."""

from __future__ import annotations

import numpy as np
import pytest

from detector.simulator.benign import BENIGN_KINDS, played
from detector.simulator.datasets import Dataset, dataset
from detector.simulator.models import target_model

DATASETS = ["digits", "breast-cancer"]
MODEL_OF = {"digits": "digits-classifier:1", "breast-cancer": "breast-cancer:1"}


def play(kind: str, name: str, seed: int = 0, remaining_s: float = 3600.0) -> tuple[np.ndarray, np.ndarray, Dataset]:
    data = dataset(name)
    traffic = BENIGN_KINDS[kind](data, np.random.default_rng(seed), remaining_s, target_model(MODEL_OF[name]).proba)
    gaps, inputs = played(traffic)
    return gaps, inputs, data


def is_real(inputs: np.ndarray, data: Dataset) -> np.ndarray:
    return np.array([(data.x_all == row).all(axis=1).any() for row in inputs])


def typical_distance(data: Dataset) -> float:
    """Median distance between two different real samples."""
    return float(np.median(np.linalg.norm(np.diff(data.x_held_out, axis=0), axis=1)))


def changed(inputs: np.ndarray) -> np.ndarray:
    """Coordinates that change from each input to the next, (n - 1, n_features)."""
    return np.diff(inputs, axis=0) != 0


def runs(starts: np.ndarray, n: int) -> list[tuple[int, int]]:
    """[start, end) of the runs beginning at each flagged index."""
    first = np.flatnonzero(starts)
    return list(zip(first, [*first[1:], n]))


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("kind", sorted(BENIGN_KINDS))
def test_every_kind_stays_in_the_valid_range_and_sends_its_count(kind: str, name: str) -> None:
    data = dataset(name)
    traffic = BENIGN_KINDS[kind](data, np.random.default_rng(1), 7200.0, target_model(MODEL_OF[name]).proba)
    gaps, inputs = played(traffic)
    assert len(inputs) == len(gaps) == traffic.n_events > 0
    assert np.all((inputs >= data.lo) & (inputs <= data.hi)) and np.all(np.isfinite(gaps))


@pytest.mark.parametrize("kind", sorted(BENIGN_KINDS))
def test_every_kind_draws_its_parameters_per_client(kind: str) -> None:
    """A kind at one setting teaches a threshold nothing: clients of a kind differ in size or pace."""
    shapes = {(len(gaps), round(float(np.median(gaps)), 3)) for gaps, _, _ in (play(kind, "digits", seed) for seed in range(4))}
    assert len(shapes) > 1


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


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("seed", range(3))
def test_rescoring_sends_the_same_batch_again_much_later(name: str, seed: int) -> None:
    gaps, inputs, data = play("rescoring", name, seed)
    batch = np.unique(inputs, axis=0)
    repeats = len(inputs) // len(batch)
    assert 100 <= len(batch) <= 600 and 2 <= repeats <= 3 and len(inputs) == repeats * len(batch)
    assert is_real(batch, data).all()
    for run in range(1, repeats):
        again = inputs[run * len(batch) : (run + 1) * len(batch)]
        assert np.array_equal(np.unique(again, axis=0), batch)  # exact repeats of the first run's records
        assert gaps[run * len(batch)] >= 1200.0
    assert np.median(gaps) < 0.25


def test_retries_resend_identically_within_a_second() -> None:
    gaps, inputs, _ = play("retry", "digits", seed=4)
    repeated = (np.diff(inputs, axis=0) == 0).all(axis=1)
    assert repeated.any()
    assert np.all(gaps[1:][repeated] < 0.35)
    assert np.median(gaps[1:][~repeated]) > 1.0


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("seed", range(6))
def test_heavy_retries_resend_most_requests_2_to_5_times_within_float_noise(name: str, seed: int) -> None:
    gaps, inputs, data = play("heavy-retry", name, seed)
    far = np.concatenate([[True], (np.abs(np.diff(inputs, axis=0)) > 1e-2 * data.span).any(axis=1)])
    requests = runs(far, len(inputs))
    assert is_real(inputs[far], data).all()  # the requests are unrelated real samples
    for start, end in requests[:-1]:
        assert end - start in (1, 3, 4, 5, 6)  # the request alone, or with 2-5 copies
        assert np.all(np.abs(inputs[start:end] - inputs[start]) <= 1e-2 * data.span)
        assert np.all(gaps[start + 1 : end] < 30.0)
    assert np.mean([end - start > 1 for start, end in requests]) > 0.4


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("seed", range(4))
def test_reencoded_copies_are_few_near_their_photo_and_not_identical(name: str, seed: int) -> None:
    _, inputs, data = play("reencode", name, seed)
    originals = is_real(inputs, data)
    assert originals[0] and (~originals).any()
    for start, end in runs(originals, len(inputs)):
        copies = inputs[start + 1 : end]
        assert len(copies) <= 3 and not (copies == inputs[start]).all(axis=1).any()
        if data.image_shape is None:  # re-exported with 2-4 significant digits
            assert np.all(np.abs(copies - inputs[start]) <= 0.05 * np.abs(inputs[start]) + 1e-12)
        else:  # JPEG (and maybe a resize): near the photo, nearer it than any other real sample
            assert np.all(np.linalg.norm(copies - inputs[start], axis=1) < 0.3 * typical_distance(data))
            others = data.x_all[~(data.x_all == inputs[start]).all(axis=1)]
            for copy in copies:
                assert np.linalg.norm(copy - inputs[start]) < np.linalg.norm(others - copy, axis=1).min()


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("seed", range(3))
def test_tta_sends_a_burst_of_4_to_16_views_per_input_then_an_unrelated_one(name: str, seed: int) -> None:
    gaps, inputs, data = play("tta", name, seed)
    bursts = runs(gaps > 0.1, len(inputs))
    views = {end - start for start, end in bursts}
    assert len(views) == 1 and 4 <= views.pop() <= 16
    centres = np.array([inputs[start:end].mean(axis=0) for start, end in bursts])
    spread = np.median([np.linalg.norm(inputs[start:end] - c, axis=1).mean() for (start, end), c in zip(bursts, centres)])
    assert np.all(gaps[1:][gaps[1:] <= 0.1] < 0.1) and np.median(gaps[gaps > 0.1]) > 1.0
    assert spread < 0.6 * typical_distance(data)
    assert np.median(np.linalg.norm(np.diff(centres, axis=0), axis=1)) > 1.5 * spread  # the centre does not walk


@pytest.mark.parametrize("seed", range(4))
def test_image_editing_drags_move_every_pixel_smoothly_in_one_direction(seed: int) -> None:
    gaps, inputs, data = play("editing", "digits", seed + 1)
    steps = np.diff(inputs, axis=0)
    moving = np.linalg.norm(steps, axis=1) > 0
    unit = steps[moving] / np.linalg.norm(steps[moving], axis=1, keepdims=True)
    cosine = (unit[1:] * unit[:-1]).sum(axis=1)
    assert np.median(cosine) > 0.9
    assert np.median(changed(inputs).sum(axis=1)) > 10  # dense: not a coordinate or two at a time
    assert len(inputs) <= 3 * 5 * 60 and np.median(gaps) < 0.35


@pytest.mark.parametrize("seed", range(4))
def test_what_if_sweeps_move_one_or_two_features_in_equal_steps(seed: int) -> None:
    _, inputs, data = play("editing", "breast-cancer", seed)
    steps = np.diff(inputs, axis=0)
    count = changed(inputs).sum(axis=1)
    assert np.mean(count <= 2) > 0.8
    sweeping = (count >= 1) & (count <= 2)
    same_as_before = np.array([np.allclose(steps[i], steps[i - 1]) for i in range(1, len(steps))])
    assert np.mean(same_as_before[sweeping[1:] & sweeping[:-1]]) > 0.7


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("seed", range(4))
def test_form_fill_changes_one_field_at_a_time_each_once(name: str, seed: int) -> None:
    _, inputs, _ = play("typeahead", name, seed)
    count = changed(inputs).sum(axis=1)
    new_form = np.concatenate([[True], count != 1])
    forms = runs(new_form, len(inputs))
    assert 1 <= len(forms) <= 8
    for start, end in forms:
        fields = changed(inputs[start:end])
        assert np.all(fields.sum(axis=1) == 1)
        assert np.all(fields.sum(axis=0) <= 1)  # a field set once stays


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("seed", range(3))
def test_video_frames_are_near_identical_in_a_stream_of_1_to_30_fps(name: str, seed: int) -> None:
    gaps, inputs, data = play("video", name, seed)
    steps = np.linalg.norm(np.diff(inputs, axis=0), axis=1)
    assert np.median(steps) < 0.3 * typical_distance(data)
    assert 1 / 31 < np.median(gaps) < 1.05
    assert not is_real(inputs[:50], data).any()


def test_video_scene_cuts_jump_to_another_sample() -> None:
    _, inputs, data = play("video", "digits", seed=2)
    steps = np.linalg.norm(np.diff(inputs, axis=0), axis=1)
    assert 0 < np.sum(steps > 0.5 * typical_distance(data)) < len(steps) / 5


def test_video_frame_rates_and_noise_vary_per_camera() -> None:
    rates = [1 / np.median(play("video", "digits", seed)[0]) for seed in range(12)]
    assert min(rates) < 5 and max(rates) > 15


@pytest.mark.parametrize("name", DATASETS)
def test_drift_moves_the_input_distribution_steadily(name: str) -> None:
    for seed in range(3):
        _, inputs, data = play("drift", name, seed=seed)
        fifth = len(inputs) // 5
        shift = (inputs[-fifth:].mean(axis=0) - inputs[:fifth].mean(axis=0)) / data.span
        assert abs(shift.mean()) > 0.01


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("seed", range(3))
def test_shifted_population_is_one_coherent_shift_that_answers_stay_confident_on(name: str, seed: int) -> None:
    _, inputs, data = play("shifted", name, seed)
    assert not is_real(inputs, data).any()
    half = len(inputs) // 2
    first, second = ((part.mean(axis=0) - data.x_held_out.mean(axis=0)) / data.span for part in (inputs[:half], inputs[half:]))
    assert np.corrcoef(first, second)[0, 1] > 0.8  # the same shift all along, not random points
    others = data.x_held_out[np.random.default_rng(seed).integers(len(data.x_held_out), size=len(inputs))]
    sampling = np.linalg.norm((others.mean(axis=0) - data.x_held_out.mean(axis=0)) / data.span)
    assert np.linalg.norm((first + second) / 2) > 2 * sampling
    confidence = target_model(MODEL_OF[name]).proba(inputs).max(axis=1)
    assert np.median(confidence) > 0.8


@pytest.mark.parametrize("name", DATASETS)
def test_shadow_traffic_interleaves_many_sessions_under_one_key(name: str) -> None:
    for seed in range(3):
        gaps, inputs, data = play("shadow", name, seed)
        interactive_gaps = np.median(play("interactive", name, seed)[0])
        assert len(inputs) > 300 and is_real(inputs, data).mean() > 0.3
        assert np.median(gaps) < interactive_gaps  # many people at once: faster than one


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("seed", range(3))
def test_labeller_sends_the_owners_least_sure_records_once_in_bounded_volume(name: str, seed: int) -> None:
    _, inputs, data = play("labeller", name, seed)
    assert 50 <= len(inputs) <= 500 and is_real(inputs, data).all()
    assert len(np.unique(inputs, axis=0)) == len(inputs)
    scores = np.sort(target_model(MODEL_OF[name]).proba(inputs), axis=1)
    margins = scores[:, -1] - scores[:, -2]
    pool_scores = np.sort(target_model(MODEL_OF[name]).proba(data.x_all), axis=1)
    assert np.all(np.diff(margins) >= -1e-12)  # least sure first
    assert margins.mean() < (pool_scores[:, -1] - pool_scores[:, -2]).mean()


def test_augment_sends_samples_each_followed_by_mild_variants() -> None:
    for seed in range(3):
        _, inputs, data = play("augment", "digits", seed)
        real = is_real(inputs, data)
        assert 3 <= real.sum() <= 20 and real[0]
        for start, end in runs(real, len(inputs)):
            assert 2 <= end - start - 1 <= 12
            variants = inputs[start + 1 : end]
            assert np.all(np.linalg.norm(variants - inputs[start], axis=1) < 0.5 * typical_distance(data))
