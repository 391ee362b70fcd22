"""Deduplication per (client, model, detector) within the suppression window."""

from __future__ import annotations

from detector.alert import Reason
from detector.decide import AlertChange, Decider
from detector.group_ids import GroupIds, group_id_of
from detector.hit import Hit
from featurizers.state import ClientState


def client_at(*times: float, client_id: str = "c") -> ClientState:
    state = ClientState.new("m", client_id, 16)
    for i, t in enumerate(times):
        state.append(f"e{i}", t, None)
    return state


def hit(detector: str = "rule:r", severity: str = "medium", score: float = 0.6, suppress: float = 100.0) -> Hit:
    return Hit(detector, severity, score, [Reason(feature="f", value=2.0, op=">", threshold=1.0)], "desc", suppress)


def test_repeats_within_suppression_update_the_same_alert() -> None:
    decider = Decider()
    first = decider.decide([hit()], client_at(0.0, 1.0), {"f": 2.0}, "e1")[0]
    again = decider.decide([hit(severity="high", score=0.8)], client_at(0.0, 1.0, 50.0), {"f": 3.0}, "e2")[0]
    assert first.new and not again.new
    assert again.alert.alert_id == first.alert.alert_id
    assert again.hit_count == 2 and again.alert.severity == "high" and again.alert.score == 0.8
    lower = decider.decide([hit(severity="low", score=0.1)], client_at(0.0, 60.0), {"f": 3.0}, "e3")[0]
    assert lower.alert.severity == "high" and lower.alert.score == 0.8, "severity and score only rise"


def test_after_suppression_a_new_alert_is_raised() -> None:
    decider = Decider()
    first = decider.decide([hit(suppress=10.0)], client_at(0.0), {}, "e1")[0]
    later = decider.decide([hit(suppress=10.0)], client_at(0.0, 11.0), {}, "e2")[0]
    assert later.new and later.alert.alert_id != first.alert.alert_id


def test_keys_are_per_client_model_and_detector() -> None:
    decider = Decider()
    a = decider.decide([hit("rule:a"), hit("rule:b")], client_at(0.0), {}, "e")
    b = decider.decide([hit("rule:a")], client_at(0.0, client_id="other"), {}, "e")
    ids = {change.alert.alert_id for change in a + b}
    assert len(ids) == 3 and all(change.new for change in a + b)


def test_lookup_finds_an_open_alert_after_a_restart() -> None:
    stored = Decider().decide([hit()], client_at(0.0), {}, "e")[0]
    stored.new = False
    asked = []

    def lookup(client_id, model_id, detector, at_ts):
        asked.append((client_id, model_id, detector, at_ts))
        return stored

    change = Decider(lookup=lookup).decide([hit()], client_at(0.0, 5.0), {}, "e2")[0]
    assert asked == [("c", "m", "rule:r", 5.0)]
    assert not change.new and change.alert.alert_id == stored.alert.alert_id and change.hit_count == 2


def test_new_alert_carries_window_evidence_and_summary() -> None:
    client = client_at(10.0, 12.0, 40.0)
    change = Decider().decide([hit()], client, {"f": 2.0}, "e2", evidence=lambda h: None)[0]
    alert = change.alert
    assert (alert.window_start_ts, alert.window_end_ts) == (10.0, 40.0)
    assert alert.evidence_event_ids == ["e2", "e1", "e0"]
    assert alert.summary.startswith("c: desc (f=2 > 1) over 3 queries in 30 s")
    assert change.suppress_until_ts == 140.0


def split(*related: str) -> Hit:
    return Hit("rule:split-probing", "critical", 0.95, [], "split", 3600.0, related_clients=related)


def test_group_alerts_name_every_related_client() -> None:
    alert = Decider().decide([split("k3", "k2")], client_at(0.0), {"f": 1.0}, "e")[0].alert
    assert "k2" in alert.summary and "k3" in alert.summary
    assert alert.related_clients == ["k2", "k3"] and alert.group_id is not None
    assert alert.features == {"f": 1.0}, "the group is no longer carried as pseudo-features"
    assert Decider().decide([hit()], client_at(0.0), {}, "e")[0].alert.group_id is None


def test_the_members_of_a_split_attack_share_one_group_id() -> None:
    """Each key of a split walk matches a different subset of the others; their alerts still share the id
    of the first, across the deciders of different partitions that share one :class:`GroupIds`, also
    through a key that was only named (k3) and one that names no alerted key (k6)."""
    groups = GroupIds()
    partitions = [Decider(groups=groups), Decider(groups=groups)]
    sets = {"k1": ("k2", "k3"), "k2": ("k1", "k3", "k4"), "k4": ("k2", "k5"), "k5": ("k4",), "k6": ("k3", "k7")}
    alerts = {
        key: partitions[i % 2].decide([split(*related)], client_at(float(i), client_id=key), {}, "e")[0].alert
        for i, (key, related) in enumerate(sets.items())
    }
    for key, alert in alerts.items():
        assert alert.related_clients == sorted(sets[key]) and key not in alert.related_clients
    assert {alert.group_id for alert in alerts.values()} == {group_id_of("m", "rule:split-probing", ["k1", "k2", "k3"])}
    unrelated = Decider(groups=groups).decide([split("k8")], client_at(5.0, client_id="k9"), {}, "e")[0].alert
    assert unrelated.group_id != alerts["k1"].group_id


def test_after_a_restart_the_group_id_comes_from_the_store() -> None:
    asked = []

    def lookup(model_id, detector, client_ids, at_ts):
        asked.append((model_id, detector, list(client_ids), at_ts))
        return "stored-group"

    alert = Decider(groups=GroupIds(lookup=lookup)).decide([split("k1")], client_at(7.0, client_id="k2"), {}, "e")[0].alert
    assert alert.group_id == "stored-group" and asked == [("m", "rule:split-probing", ["k2", "k1"], 7.0)]


def test_rebind_adopts_a_recreated_alert() -> None:
    decider = Decider()
    old = decider.decide([hit()], client_at(0.0), {}, "e")[0]
    recreated = AlertChange(old.alert.model_copy(update={"alert_id": "NEW"}), 1, 0.0, 100.0, new=True)
    decider.rebind({old.alert.alert_id: recreated})
    after = decider.decide([hit()], client_at(0.0, 1.0), {}, "e2")[0]
    assert after.alert.alert_id == "NEW" and not after.new
