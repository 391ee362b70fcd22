"""Calibration files, the threshold fit, and the per-model policy that puts thresholds in force."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from detector.calibration import (
    Calibration,
    CalibrationError,
    DefaultSection,
    ModelSection,
    Provenance,
    load_calibration,
    write_calibration,
)
from detector.threshold_policy import SHARED_KEY, ThresholdPolicy
from detector.thresholds import Calibratable, fit
from featurizers.state import ClientState, ModelState
from rules import RuleSet
from rules.schema import Rule

CROWD = Rule(
    id="crowd", description="crowded", severity="high", condition="neighbourhood_low < $crowded",
    thresholds={"crowded": 0.03}, min_events=1,
)  # fmt: skip
FAST = Rule(id="fast", description="fast", severity="low", condition="rate_60s > 100")
RULES = RuleSet([CROWD, FAST])


def calibration(**models: float) -> Calibration:
    return Calibration(
        provenance=Provenance(created_at=datetime(2026, 12, 2, tzinfo=timezone.utc), code_version="t", target_fpr=0.01,
                              inputs=["a.jsonl"], events=10, clients=3),  # fmt: skip
        default=DefaultSection(thresholds={"crowd": {"crowded": 0.02}}),
        models={m: ModelSection(thresholds={"crowd": {"crowded": v}}, clients=40, confident=False) for m, v in models.items()},
    )


def test_a_calibration_file_round_trips(tmp_path: Path) -> None:
    original = calibration(**{"digits:1": 0.047, "tabular:2": 0.31})
    path = tmp_path / "calibration.yaml"
    write_calibration(original, path)
    assert path.read_text().startswith("# inversion-detector calibration")
    assert load_calibration(path, RULES) == original


def test_every_problem_in_a_calibration_file_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "calibration.yaml"
    write_calibration(calibration(m=0.05), path)
    text = path.read_text()
    text = text.replace("target_fpr: 0.01", "target_fpr: 2").replace("crowded: 0.05", "crowded: lots")
    path.write_text(text)
    with pytest.raises(CalibrationError) as caught:
        load_calibration(path, RULES)
    lines = text.splitlines()
    problems = {error.field: error for error in caught.value.errors}
    assert set(problems) == {"provenance.target_fpr", "models.m.thresholds.crowd.crowded"}
    for error in caught.value.errors:
        assert error.file == str(path) and error.line is not None
        assert error.field.rsplit(".", 1)[-1] in lines[error.line - 1]


def test_thresholds_for_rules_that_do_not_exist_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "calibration.yaml"
    bad = calibration(m=0.05)
    bad.models["m"].thresholds["gone"] = {"x": 1.0}
    bad.models["m"].thresholds["crowd"]["typo"] = 1.0
    write_calibration(bad, path)
    with pytest.raises(CalibrationError) as caught:
        load_calibration(path, RULES)
    messages = sorted(str(error) for error in caught.value.errors)
    assert len(messages) == 2
    assert any("no loaded rule has this id" in m for m in messages)
    assert any("has no threshold named $typo" in m for m in messages)


def test_the_fit_spends_one_client_budget_over_every_calibratable_rule() -> None:
    rng = np.random.default_rng(1)
    targets = [Calibratable("a", "x", "f", "<"), Calibratable("b", "y", "g", ">")]
    extremes = np.column_stack([rng.uniform(0, 1, 5000), rng.uniform(0, 1, 5000)])
    thresholds, info = fit(extremes, targets, 0.01)
    flagged = (extremes[:, 0] < thresholds["a.x"]) | (extremes[:, 1] > thresholds["b.y"])
    assert info["confident"] and 0 < flagged.mean() <= 0.01
    assert flagged.sum() == info["flagged"]
    # alone, each rule could have spent the whole budget
    alone, _ = fit(extremes[:, :1], targets[:1], 0.01)
    assert alone["a.x"] > thresholds["a.x"]


def test_a_held_out_sample_from_the_same_traffic_stays_near_the_target() -> None:
    rng = np.random.default_rng(2)
    targets = [Calibratable("a", "x", "f", "<")]
    thresholds, _ = fit(rng.lognormal(0, 1, (4000, 1)), targets, 0.01)
    held_out = rng.lognormal(0, 1, 100_000)
    assert (held_out < thresholds["a.x"]).mean() <= 0.01


def client(model: str, name: str, n_events: int = 64) -> ClientState:
    state = ClientState.new(model, name, 8)
    state.n_events = n_events
    return state


def test_online_thresholds_wait_for_enough_clients_then_tighten_but_never_loosen() -> None:
    policy = ThresholdPolicy(RULES, online=True, warmup_clients=50, min_events=32, refit_every=10)
    model = ModelState("m")
    assert policy.rules_for(model).evaluate({"neighbourhood_low": 0.1}, client_id="x", model_id="m", n_events=99) == []
    rng = np.random.default_rng(3)
    for i in range(49):
        policy.observe(model, client("m", f"c{i}"), {"neighbourhood_low": float(rng.uniform(0.5, 1.0))}, set())
    assert model.shared[SHARED_KEY].fits == 0, "no fit before warm-up"
    for i in range(49, 300):
        policy.observe(model, client("m", f"c{i}"), {"neighbourhood_low": float(rng.uniform(0.5, 1.0))}, set())
    learned = policy.rules_for(model).evaluate({"neighbourhood_low": 0.35}, client_id="x", model_id="m", n_events=99)
    assert [hit.rule.id for hit in learned] == ["crowd"]
    assert 0.38 < learned[0].reasons[0].threshold < 0.41  # 300 clients: a margin below the most crowded
    # benign-looking clients crowding everything cannot push the threshold below the shipped one
    poisoned = ModelState("p")
    for i in range(300):
        policy.observe(poisoned, client("p", f"c{i}"), {"neighbourhood_low": 0.001}, set())
    assert policy.rules_for(poisoned).bind({}).evaluate(
        {"neighbourhood_low": 0.02}, client_id="x", model_id="p", n_events=99
    ), "the shipped threshold still holds"


def test_clients_another_detector_flagged_are_left_out_of_the_fit() -> None:
    policy = ThresholdPolicy(RULES, online=True, warmup_clients=10, refit_every=10**9)
    model = ModelState("m")
    policy.observe(model, client("m", "attacker"), {"neighbourhood_low": 0.2}, {"rule:fast"})
    policy.observe(model, client("m", "attacker"), {"neighbourhood_low": 0.2}, set())
    policy.observe(model, client("m", "ok"), {"neighbourhood_low": 0.9}, {"rule:crowd"})
    extremes = model.shared[SHARED_KEY].extremes
    assert list(extremes.clients) == ["ok"] and "attacker" in extremes.excluded


def test_a_calibration_file_takes_precedence_and_its_default_covers_other_models() -> None:
    policy = ThresholdPolicy(RULES, calibration(m=0.2))
    features = {"neighbourhood_low": 0.1}
    assert policy.rules_for(ModelState("m")).evaluate(features, client_id="c", model_id="m", n_events=9)
    assert not policy.rules_for(ModelState("other")).evaluate(features, client_id="c", model_id="other", n_events=9)
    policy.use(RULES, None)  # the file is gone: shipped thresholds again
    assert not policy.rules_for(ModelState("m")).evaluate(features, client_id="c", model_id="m", n_events=9)
    assert math.isclose(CROWD.thresholds["crowded"], 0.03)
