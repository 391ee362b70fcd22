"""The per-model River anomaly model: warm-up, missing features, learning only from unflagged windows."""

from __future__ import annotations

import random

from detector.anomaly_model import WindowAnomalyModel

FEATURES = ["near_dup_frac", "rate_60s", "step_sparsity_mean"]


def normal_window(rng: random.Random, *, sparse_steps: bool) -> dict[str, float]:
    window = {"near_dup_frac": rng.uniform(0.0, 0.1), "rate_60s": rng.gauss(20.0, 4.0)}
    if sparse_steps:  # only some windows have small steps whose sparsity can be measured
        window["step_sparsity_mean"] = rng.uniform(0.2, 0.4)
    return window


def trained(n: int = 600, seed: int = 0) -> tuple[WindowAnomalyModel, random.Random]:
    rng = random.Random(seed)
    model = WindowAnomalyModel(FEATURES, warmup=300, quantile=0.995, seed=1)
    for i in range(n):
        model.score_and_learn(normal_window(rng, sparse_steps=i % 3 == 0))
    return model, rng


def test_no_alarm_during_warmup() -> None:
    model = WindowAnomalyModel(FEATURES, warmup=50)
    assert not model.score_and_learn({"near_dup_frac": 1.0, "rate_60s": 900.0}).anomalous


def test_a_probing_window_is_anomalous_and_names_its_features() -> None:
    model, _ = trained()
    verdict = model.score_and_learn({"near_dup_frac": 0.95, "rate_60s": 300.0, "step_sparsity_mean": 0.99})
    assert verdict.anomalous
    assert {reason.feature for reason in verdict.contributors} & {"near_dup_frac", "rate_60s"}


def test_a_missing_feature_alone_is_not_anomalous() -> None:
    model, rng = trained()
    flagged = sum(model.score_and_learn(normal_window(rng, sparse_steps=False)).anomalous for _ in range(200))
    assert flagged <= 6, f"{flagged} of 200 normal windows without step sparsity were flagged"


def test_flagged_windows_are_not_learned() -> None:
    model, _ = trained()
    seen = model.seen
    probing = {"near_dup_frac": 0.95, "rate_60s": 300.0, "step_sparsity_mean": 0.99}
    model.score_and_learn(probing, flagged=True)
    assert model.seen == seen
    for _ in range(50):  # an attacker repeating itself cannot teach the model that probing is normal
        model.score_and_learn(probing, flagged=True)
    assert model.score_and_learn(probing).anomalous
