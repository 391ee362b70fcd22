"""The built-in rules on simulated traffic through the real pipeline: attackers alerted by the
rule meant for them, benign clients of every kind left alone, a split attack named as a group.

Small scenarios (a few thousand events each) keep this a unit test; the detection benchmark
(``python -m benchmarks.detection``) measures the same on hundreds of clients.
"""

from __future__ import annotations

from collections import defaultdict

import orjson
import pytest

from detector.assembly import load_ruleset
from detector.parse import parse
from detector.pipeline import Pipeline
from detector.settings import Settings
from detector.simulator import Scenario, generate
from detector.simulator.variants import SPLIT_KEYS

BENIGN = {"interactive": 6, "batch": 2, "healthcheck": 2, "retry": 4, "video": 2, "drift": 2, "augment": 3}


PerClient = dict[str, set[str]]


def alerts_of(scenario: Scenario, seed: int) -> tuple[PerClient, dict, PerClient, PerClient]:
    """Replay a scenario through the pipeline with the built-in rules; per client id its rule
    alerts, the ground truth by client id, the clients its alerts named as its group, and those
    alerts' group ids."""
    events, truth = generate(scenario, seed=seed)
    pipeline = Pipeline(Settings(), load_ruleset(Settings()))
    fired: PerClient = defaultdict(set)
    named: PerClient = defaultdict(set)
    groups: PerClient = defaultdict(set)
    for event in events:
        for change in pipeline.process(parse(orjson.dumps(event))):
            alert = change.alert
            if alert.detector.startswith("rule:"):
                fired[alert.client_id].add(alert.detector)
                named[alert.client_id].update(alert.related_clients)
                if alert.group_id is not None:
                    groups[alert.client_id].add(alert.group_id)
    return fired, {t.client_id: t for t in truth}, named, groups


@pytest.fixture(scope="module")
def walks() -> tuple[dict[str, set[str]], dict]:
    scenario = Scenario(
        "rules-walks",
        duration_s=1200.0,
        benign=BENIGN,
        attacks={"inversion": 1, "zoo": 1, "square": 1, "boundary": 1, "tramer": 1},
        budget_scale=0.25,
    )
    fired, truth, _, _ = alerts_of(scenario, seed=11)
    return fired, truth


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        ("inversion", "rule:gradient-walk"),
        ("zoo", "rule:gradient-walk"),
        ("square", "rule:gradient-walk"),
        ("boundary", "rule:boundary-walk"),
        ("tramer", "rule:input-space-sweep"),
    ],
)
def test_each_attack_is_alerted_by_its_rule(walks, kind: str, rule: str) -> None:
    fired, truth = walks
    attackers = [client for client, t in truth.items() if t.kind == kind]
    assert attackers, f"the scenario has no {kind} attacker"
    for client in attackers:
        assert rule in fired[client], f"{kind} attacker {client} got {sorted(fired[client]) or 'no alert'}"


def test_benign_clients_of_every_kind_raise_no_rule_alert(walks) -> None:
    fired, truth = walks
    benign = [client for client, t in truth.items() if not t.attack]
    assert {truth[c].kind for c in benign} == set(BENIGN)
    wrongly = {client: (truth[client].kind, sorted(fired[client])) for client in benign if fired[client]}
    assert not wrongly


def test_a_walk_split_over_many_keys_is_one_named_group() -> None:
    scenario = Scenario("rules-split", duration_s=1200.0, benign=BENIGN, careful={"split": 1}, budget_scale=0.3)
    fired, truth, named, groups = alerts_of(scenario, seed=12)
    keys = {client for client, t in truth.items() if t.attack}
    assert len(keys) >= SPLIT_KEYS[0]
    grouped = {client for client in keys if "rule:split-probing" in fired[client]}
    assert len(grouped) >= len(keys) / 2, f"only {len(grouped)} of {len(keys)} keys alerted as a group"
    assert set().union(*(named[c] for c in grouped)) | grouped >= keys, "the group's alerts must name every key"
    assert all(named[c] <= keys - {c} for c in grouped), "a member's alert names only the other keys"
    assert len(set().union(*(groups[c] for c in grouped))) == 1, "the members' alerts share one group id"
    assert not any(fired[c] for c, t in truth.items() if not t.attack)
