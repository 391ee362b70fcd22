"""The anomaly scorer: one River model per model_id, and a hit only on a persistent anomaly of a full window."""

from __future__ import annotations

import random

from detector.anomaly_scorer import ANOMALY_EXCLUDED_FEATURES, AnomalyScorer
from featurizers.state import ClientState

WINDOW = 8


def client(events: int, name: str = "c") -> ClientState:
    state = ClientState.new("m", name, WINDOW)
    for i in range(events):
        state.append(f"e{i}", float(i), None)
    return state


def trained(persistence: int) -> AnomalyScorer:
    scorer = AnomalyScorer(["a", "b", "events_total"], warmup=200, quantile=0.99, persistence=persistence)
    rng, usual = random.Random(0), client(WINDOW, "usual")
    for _ in range(400):
        scorer.score(usual, {"a": rng.gauss(0, 1), "b": rng.gauss(5, 1)}, flagged=False)
    return scorer


PROBE = {"a": 4.0, "b": -10.0}


def test_the_model_reads_no_excluded_feature() -> None:
    scorer = trained(persistence=1)
    assert scorer.models["m"].features == ("a", "b") and "events_total" in ANOMALY_EXCLUDED_FEATURES


def test_a_hit_needs_persistence_anomalous_windows_in_a_row() -> None:
    scorer, prober = trained(persistence=2), client(WINDOW)
    assert scorer.score(prober, PROBE, flagged=False) is None and prober.anomalous_run == 1
    hit = scorer.score(prober, PROBE, flagged=False)
    assert hit is not None and (hit.detector, hit.severity) == ("model:hst", "low")
    assert hit.reasons and hit.reasons[0].feature == "b"


def test_a_window_not_yet_full_is_never_a_hit() -> None:
    scorer, newcomer = trained(persistence=1), client(WINDOW - 1)
    assert scorer.score(newcomer, PROBE, flagged=False) is None and newcomer.anomalous_run == 1
