"""The real-attack benchmark plays the simulator's attacker variants inside ART's query loop and on its log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("art")

from benchmarks import art_scenario  # noqa: E402
from benchmarks.art_answers import answerer  # noqa: E402
from benchmarks.art_attacks import ATTACKS  # noqa: E402
from benchmarks.art_scenario import Plan, write_real_attacks  # noqa: E402
from benchmarks.art_targets import Endpoint, LoggedModel, QueryLog, target  # noqa: E402
from detector.simulator.traffic import Cadence  # noqa: E402
from detector.simulator.variants import disguise  # noqa: E402

DIGITS = "art-digits-mlp:1"


@pytest.mark.parametrize("model_id", ["art-digits-svc:1", "art-cancer-forest:1"])
def test_numpy_answers_are_the_models_own_probabilities(model_id: str) -> None:
    served = target(model_id)
    rows = np.vstack([served.data.x_held_out, np.random.default_rng(0).random((200, served.data.n_features))])
    assert answerer(served.model) is not served.model.predict_proba
    np.testing.assert_allclose(served.proba(rows), served.model.predict_proba(rows), rtol=0, atol=1e-12)


def logged_model(variant: str, top1: bool = False, seed: int = 0) -> LoggedModel:
    served = target(DIGITS)
    rng = np.random.default_rng(seed)
    endpoint = Endpoint(served, top1, disguise(variant, served.data, rng, served.proba))
    return LoggedModel(endpoint, QueryLog(Cadence(0.1, 0.3), 0.002, 100_000, rng))


def test_noise_acts_inside_the_query_loop_the_attack_sees_answers_to_what_was_sent() -> None:
    model = logged_model("noise")
    grey = np.full((3, 64), 0.5)
    got = model.predict_proba(grey)
    (_, sent, answers), = model.log.chunks
    assert np.all(sent != grey) and 0.004 < (sent - grey).std() < 0.022
    assert np.allclose(got, answers.scores) and np.allclose(got, target(DIGITS).proba(sent))


def test_blinding_logs_m_copies_per_probe_and_hands_the_attack_their_mean() -> None:
    model = logged_model("blind")
    probes = target(DIGITS).data.x_held_out[:2]
    got = model.predict_proba(probes)
    (_, sent, answers), = model.log.chunks
    copies = len(sent) // 2
    assert 2 <= copies <= 6 and len(sent) == 2 * copies and got.shape == (2, 10)
    assert np.allclose(got, answers.scores.reshape(2, copies, 10).mean(axis=1))


def test_cover_queries_are_logged_but_not_answered_to_the_attack() -> None:
    model = logged_model("cover")
    got = model.predict_proba(np.full((4, 64), 0.5))
    (_, sent, _), = model.log.chunks
    assert len(sent) == 8 and got.shape == (4, 10) and int((sent == 0.5).all(axis=1).sum()) == 4


def test_a_top1_endpoint_tells_the_attack_the_label_and_its_confidence_only() -> None:
    model = logged_model("top1", top1=True)
    rows = target(DIGITS).data.x_held_out[:5]
    got = model.predict_proba(rows)
    truth = target(DIGITS).proba(rows)
    assert np.array_equal(got.argmax(axis=1), truth.argmax(axis=1))
    assert np.allclose(got.max(axis=1), truth.max(axis=1)) and np.allclose(got.sum(axis=1), 1.0)
    assert model.log.chunks[0][2].scores is None


@pytest.fixture(scope="module")
def small_plan() -> Plan:
    return Plan(
        "variants-check",
        duration_s=1800.0,
        benign={"interactive": 1, "typeahead": 1},
        attackers=1,
        budget=(120, 160),
        variants={"split": 1, "slow-split": 1, "blind": 1, "mixed": 1, "top1": 1},
    )


def test_every_variant_of_an_attack_is_written_with_its_keys_and_labels(tmp_path: Path, small_plan: Plan, monkeypatch) -> None:
    monkeypatch.setattr(art_scenario, "ATTACKS", {"zoo": ATTACKS["zoo"], "hopskipjump": ATTACKS["hopskipjump"]})
    events, truth_path, runs = write_real_attacks(small_plan, tmp_path, seed=3)
    truth = [json.loads(line) for line in truth_path.read_text().splitlines()]
    played = {(run.kind, run.variant) for run in runs}
    assert ("zoo", "top1") in played and ("hopskipjump", "top1") not in played  # already top-1: nothing to change
    assert {v for _, v in played} == {"plain", "split", "slow-split", "blind", "mixed", "top1"}
    for run in runs:
        rows = [t for t in truth if t["client_id"] in run.client_ids]
        assert {(t["kind"], t["variant"], t["attack"]) for t in rows} == {(run.kind, run.variant, True)}
        assert sum(t["n_events"] for t in rows) == run.queries
        if run.variant in ("split", "slow-split"):
            low, high = (5, 20) if run.variant == "split" else (5, 10)
            assert low <= len(run.client_ids) <= high and len({t["group"] for t in rows}) == 1 and rows[0]["group"]
        else:
            assert len(run.client_ids) == 1 and rows[0]["group"] is None
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    by_client = {t["client_id"]: t for t in truth}
    top1 = [e for e in lines if by_client[e["client_id"]]["variant"] == "top1"]
    assert top1 and all(set(e["output"]) == {"label", "confidence"} for e in top1)


def test_the_benign_only_timeline_holds_the_same_benign_clients(tmp_path: Path, small_plan: Plan, monkeypatch) -> None:
    monkeypatch.setattr(art_scenario, "ATTACKS", {"zoo": ATTACKS["zoo"]})
    _, with_attacks, _ = write_real_attacks(small_plan, tmp_path / "a", seed=5)
    events, calm, runs = write_real_attacks(small_plan, tmp_path / "b", seed=5, attacks=False)
    benign = [json.loads(line) for line in with_attacks.read_text().splitlines() if not json.loads(line)["attack"]]
    assert not runs and events.name == "variants-check-benign.jsonl"
    assert [json.loads(line) for line in calm.read_text().splitlines()] == benign
