"""Scenarios end to end: contract-valid events, deterministic bytes, truth that matches, the careful variants."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from detector.event import InferenceEvent
from detector.simulator import SCENARIOS, Scenario, generate, write_scenario
from detector.simulator.__main__ import main
from detector.simulator.actors import EPOCH, MAX_JITTER_S
from detector.simulator.benign import BENIGN_KINDS
from detector.simulator.kinds import ATTACK_KINDS
from detector.simulator.models import MODEL_DATASETS, target_model
from detector.simulator.variants import MULTI_KEY, VARIANTS


def by_client(events: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        grouped[event["client_id"]].append(event)
    return grouped


@pytest.fixture(scope="module")
def demo() -> tuple[list[dict], list]:
    events, truth = generate("demo", seed=3)
    return list(events), truth


def test_same_seed_writes_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first = write_scenario("tiny", tmp_path / "a", seed=7)
    again = write_scenario("tiny", tmp_path / "b", seed=7)
    other = write_scenario("tiny", tmp_path / "c", seed=8)
    assert [p.name for p in first] == ["tiny.jsonl", "tiny.truth.jsonl"]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, again))
    assert first[0].read_bytes() != other[0].read_bytes()


def test_every_event_validates_against_the_contract(demo: tuple[list[dict], list]) -> None:
    events, _ = demo
    lengths = {}
    for event in events:
        parsed = InferenceEvent.model_validate_json(json.dumps(event))
        assert parsed.model_id in MODEL_DATASETS and parsed.meta and set(parsed.meta) == {"source_ip", "user_agent"}
        assert lengths.setdefault(parsed.model_id, len(parsed.input)) == len(parsed.input)
        if parsed.output.scores is not None:
            assert len(parsed.output.scores) == target_model(parsed.model_id).data.n_classes
            assert parsed.output.label == int(np.argmax(parsed.output.scores))
        else:
            assert parsed.output.label is not None and parsed.output.confidence is not None
    assert lengths == {"digits-classifier:1": 64, "breast-cancer:1": 30}
    assert len({e["event_id"] for e in events}) == len(events)


def test_demo_is_about_ten_to_twenty_thousand_events(demo: tuple[list[dict], list]) -> None:
    events, truth = demo
    assert 10_000 <= len(events) <= 23_000
    assert 35 <= sum(not t.attack for t in truth) <= 45
    assert {t.kind for t in truth if t.attack} >= {"inversion"} and 2 <= sum(t.attack for t in truth) <= 3


def test_truth_matches_the_events(demo: tuple[list[dict], list]) -> None:
    events, truth = demo
    clients = by_client(events)
    assert set(clients) == {t.client_id for t in truth} and len(truth) == len(clients)
    for row in truth:
        sent = clients[row.client_id]
        assert row.n_events == len(sent)
        assert {e["model_id"] for e in sent} == {row.model_id}
        assert (row.target_class is not None) == (row.kind == "inversion")
        assert row.attack == (row.kind in ATTACK_KINDS) and (row.kind in BENIGN_KINDS) != row.attack


def test_one_timeline_sorted_by_serving_time_with_rare_slight_jitter(demo: tuple[list[dict], list]) -> None:
    events, _ = demo
    ts = np.array([e["ts"] for e in events])
    assert ts.min() >= EPOCH - MAX_JITTER_S
    assert np.all(np.diff(ts) >= -MAX_JITTER_S)
    late = 0
    for sent in by_client(events).values():
        times = np.array([e["ts"] for e in sent])
        late += int(np.sum(np.diff(times) < 0))
    assert late < 0.002 * len(events)


def test_tiny_is_small_and_fast_enough_for_tests() -> None:
    for seed in range(10):
        _, truth = generate("tiny", seed=seed)
        assert sum(t.n_events for t in truth) < 3000
        assert [t.kind for t in truth if t.attack] == ["inversion"]
    list(generate("tiny", seed=0)[0])  # the models are trained once per process, not per scenario
    started = time.perf_counter()
    events = list(generate("tiny", seed=1)[0])
    assert time.perf_counter() - started < 1.0
    assert len(events) > 500


def test_scenarios_have_the_promised_composition() -> None:
    truth = {name: generate(name, seed=0)[1] for name in SCENARIOS}
    standard = truth["standard"]
    benign = Counter(t.kind for t in standard if not t.attack)
    attacks = Counter(t.kind for t in standard if t.attack)
    assert set(benign) == set(BENIGN_KINDS) and sum(benign.values()) >= 900 and min(benign.values()) >= 20
    assert set(attacks) == set(ATTACK_KINDS) and min(attacks.values()) >= 5
    assert {t.variant for t in standard if t.attack} == {"plain"}
    assert 300_000 <= sum(t.n_events for t in standard) <= 500_000
    careful = truth["careful"]
    assert set(Counter(t.kind for t in careful if not t.attack)) == set(BENIGN_KINDS)
    assert {(t.kind, t.variant) for t in careful if t.attack} == {(k, v) for k in ATTACK_KINDS for v in VARIANTS}
    for variant, keys in (("split", (5, 20)), ("slow-split", (5, 10))):
        groups = Counter(t.group for t in careful if t.variant == variant)
        assert len(groups) == len(ATTACK_KINDS) and all(keys[0] <= n <= keys[1] for n in groups.values())
    assert all(t.group is None for t in careful if t.attack and t.variant not in MULTI_KEY)


def test_benign_only_scenarios_keep_the_benign_clients_and_drop_the_attackers() -> None:
    _, full = generate("careful", seed=4)
    _, calm = generate(SCENARIOS["careful"].benign_only(), seed=4)
    assert not any(t.attack for t in calm)
    assert calm == [t for t in full if not t.attack]  # the same clients, ids and volumes: a calibration twin


def test_variants_change_what_the_api_sees() -> None:
    scenario = Scenario(
        "variants-check",
        duration_s=3600.0,
        benign={},
        careful={variant: 1 for variant in VARIANTS},
        budget_scale=0.2,
    )
    stream, truth = generate(scenario, seed=0)
    clients = by_client(list(stream))
    variant = {t.client_id: t.variant for t in truth}
    assert {t.kind for t in truth} == {"inversion"} and set(variant.values()) == set(VARIANTS)

    def of(name: str) -> list[list[dict]]:
        return [sent for client, sent in clients.items() if variant[client] == name]

    for name in set(VARIANTS) - {"top1"}:
        assert all("scores" in e["output"] for sent in of(name) for e in sent)
    for sent in of("top1"):
        assert all(set(e["output"]) == {"label", "confidence"} for e in sent)
    split = of("split")
    assert 5 <= len(split) <= 20 and max(map(len, split)) - min(map(len, split)) <= 1
    assert 5 <= len(of("slow-split")) <= 10
    for name in ("slow", "slow-split"):
        times = np.sort([e["ts"] for sent in of(name) for e in sent])
        assert np.mean(np.diff(times)) > 2.5
    data = target_model("digits-classifier:1").data

    def real_share(sent: list[dict]) -> float:
        return float(np.mean([(data.x_all == np.array(e["input"])).all(axis=1).any() for e in sent]))

    for sent in of("cover"):
        assert 0.45 < real_share(sent) < 0.55  # one of the attacker's own samples per attack query
    for sent in of("noise"):
        inputs = np.array([e["input"] for e in sent])
        assert np.mean((np.abs(np.diff(inputs, axis=0)) > 0).sum(axis=1) <= 2) < 0.1


def test_unknown_kinds_and_scenarios_are_rejected_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown kinds .*'nope'.*known"):
        Scenario("bad", 60.0, benign={"nope": 1})
    with pytest.raises(ValueError, match="unknown kinds .*'noisy'"):
        Scenario("bad", 60.0, benign={}, careful={"noisy": 1})
    with pytest.raises(KeyError, match="known: tiny"):
        generate("nope")


def test_command_line_writes_the_files_and_prints_counts_per_kind(tmp_path: Path, capsys) -> None:
    assert main(["tiny", "--out", str(tmp_path), "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {tmp_path / 'tiny.jsonl'}" in printed
    assert "attack  inversion" in printed and "benign  interactive" in printed
    lines = (tmp_path / "tiny.jsonl").read_text().splitlines()
    truth = [json.loads(line) for line in (tmp_path / "tiny.truth.jsonl").read_text().splitlines()]
    assert sum(t["n_events"] for t in truth) == len(lines)
    assert set(truth[0]) == {"client_id", "model_id", "kind", "attack", "variant", "group", "target_class", "n_events"}
    assert f"{len(lines)} events" in printed.splitlines()[-1]
