"""The alert store on both databases: migrations, sink writes, triage, export."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import orjson
import pytest
from sqlalchemy import inspect, insert

from detector.alert import Alert, Reason
from detector.cli import main
from detector.db import migrate
from detector.db.alert_store import AlertFilter, AlertNotFound, AlertStore
from detector.db.engine import make_engine
from detector.db.tables import alerts, metadata
from detector.decide import Decider
from detector.evidence import Evidence, Series
from detector.group_ids import GroupIds
from detector.hit import Hit
from detector.sinks.alert_sink import AlertSink
from featurizers.state import ClientState


def test_upgrade_from_empty_matches_the_tables_and_downgrades_to_base(database_url) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        assert set(c["name"] for c in inspector.get_columns(table.name)) == set(table.columns.keys()), table.name
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        assert {i.name for i in table.indexes} <= indexes, table.name
    migrate.downgrade(engine)
    assert migrate.current_revision(engine) is None
    assert not set(inspect(engine).get_table_names()) & set(metadata.tables)
    engine.dispose()


def client(client_id: str = "key_1", *times: float) -> ClientState:
    state = ClientState.new("digits:1", client_id, 16)
    for i, t in enumerate(times or (100.0, 101.0)):
        state.append(f"ev{i}", t, None)
    return state


HIT = Hit("rule:probe", "medium", 0.6, [Reason(feature="f", value=2.0, op=">", threshold=1.0)], "probing", 600.0)


def raise_alert(engine, decider: Decider, state: ClientState, *, webhook: bool = False, evidence=None, hit: Hit = HIT):
    sink = AlertSink(engine, webhook_enabled=webhook)
    changes = decider.decide([hit], state, {"f": 2.0}, "ev1", evidence=evidence)
    sink.add(changes)
    return sink.flush(), changes[0]


V1_ROW = {
    "alert_id": "01JD4V8Q3J6X0M5Y7T2K9W1B3C", "v": 1, "severity": "high", "detector": "rule:confidence-climb",
    "client_id": "key_7f3a", "model_id": "digits-classifier:3", "score": 0.97, "summary": "key_7f3a: climbing",
    "trigger_event_id": "ev-9", "window_start_ts": 1795312008.0, "window_end_ts": 1795312048.125,
    "reasons": [{"feature": "nn_distance_p10", "value": 0.004, "op": "<", "threshold": 0.02}],
    "features": {"rate_60s": 312.0}, "evidence_event_ids": ["ev-8", "ev-9"], "status": "acknowledged",
    "hit_count": 3, "last_seen_ts": 1795312048.125, "suppress_until_ts": 1795315648.125,
}  # fmt: skip
"""An alerts row exactly as the detector wrote it under contract version 1 (schema revision 0002)."""


def test_upgrade_from_version_1_keeps_the_rows_and_reads_them_with_an_empty_group(database_url, capsys) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0002")
    created = datetime(2026, 11, 22, 5, 1, 12, 431000, tzinfo=timezone.utc)
    with engine.begin() as connection:
        connection.execute(insert(alerts).values(**V1_ROW, created_at=created, updated_at=created))
    assert main(["db", "upgrade", "--database-url", database_url]) == 0
    assert f"schema revision: {migrate.head_revision()}" in capsys.readouterr().out
    store = AlertStore(engine)
    (old,) = store.export()
    assert old.related_clients == [] and old.group_id is None and old.schema_version == 2
    as_v1 = {k: v for k, v in orjson.loads(orjson.dumps(old.model_dump())).items() if k in V1_ROW}
    assert as_v1 == {k: v for k, v in V1_ROW.items() if k not in ("hit_count", "last_seen_ts", "suppress_until_ts")}
    assert old.created_at == "2026-11-22T05:01:12.431Z"
    assert store.get(old.alert_id).hit_count == 3 and store.list(AlertFilter(group_id="g")) == []
    # the upgraded schema takes group alerts beside the old row; after a restart the group is found in it
    grouped = Hit("rule:split-probing", "critical", 0.95, [], "split", 600.0, related_clients=("key_2",))
    raise_alert(engine, Decider(lookup=store.find_open, groups=GroupIds(lookup=store.find_group)), client(), hit=grouped)
    restarted = Decider(lookup=store.find_open, groups=GroupIds(lookup=store.find_group))
    _, second = raise_alert(engine, restarted, client("key_2"), hit=replace(grouped, related_clients=("key_1",)))
    (first,) = store.list(AlertFilter(client_id="key_1"))
    assert second.alert.group_id == first.group_id and first.related_clients == ["key_2"]
    assert [r.client_id for r in store.list(AlertFilter(group_id=first.group_id))] == ["key_2", "key_1"]
    engine.dispose()


def test_sink_inserts_then_updates_and_store_reads_back(engine) -> None:
    store = AlertStore(engine)
    decider = Decider(lookup=store.find_open)
    evidence = Evidence(series={"dist_prev": Series(t=[100.0, 101.0], y=[0.5, 0.01])})
    _, first = raise_alert(engine, decider, client(), webhook=True, evidence=lambda hit: evidence)
    _, second = raise_alert(engine, decider, client("key_1", 100.0, 101.0, 150.0))
    assert second.alert.alert_id == first.alert.alert_id
    rows = store.list(AlertFilter())
    assert len(rows) == 1 and rows[0].hit_count == 2 and rows[0].delivery == "pending"
    assert rows[0].window_end_ts == 150.0
    assert store.evidence(first.alert.alert_id) == evidence
    assert [h.to_status for h in store.history(first.alert.alert_id)] == ["open"]


def test_restart_finds_the_open_alert_in_the_database(engine) -> None:
    store = AlertStore(engine)
    raise_alert(engine, Decider(lookup=store.find_open), client())
    raise_alert(engine, Decider(lookup=store.find_open), client("key_1", 100.0, 200.0))
    assert len(store.list(AlertFilter())) == 1


def test_a_closed_alert_is_never_reopened(engine) -> None:
    store = AlertStore(engine)
    decider = Decider(lookup=store.find_open)
    _, first = raise_alert(engine, decider, client())
    store.set_status(first.alert.alert_id, "resolved", "handled")
    replaced, _ = raise_alert(engine, decider, client("key_1", 100.0, 120.0))
    assert list(replaced) == [first.alert.alert_id]
    decider.rebind(replaced)
    statuses = sorted(row.status for row in store.list(AlertFilter()))
    assert statuses == ["open", "resolved"]
    _, third = raise_alert(engine, decider, client("key_1", 100.0, 130.0))
    assert third.alert.alert_id == replaced[first.alert.alert_id].alert.alert_id
    assert len(store.list(AlertFilter())) == 2


def test_status_changes_keep_history_and_filters_apply(engine) -> None:
    store = AlertStore(engine)
    decider = Decider(lookup=store.find_open)
    _, a = raise_alert(engine, decider, client("key_a"))
    raise_alert(engine, decider, client("key_b"))
    store.set_status(a.alert.alert_id[:10], "acknowledged", "looking")
    store.set_status(a.alert.alert_id, "false_positive", "load test")
    history = store.history(a.alert.alert_id)
    assert [(h.from_status, h.to_status, h.note) for h in history] == [
        (None, "open", "raised"),
        ("open", "acknowledged", "looking"),
        ("acknowledged", "false_positive", "load test"),
    ]
    assert [r.client_id for r in store.list(AlertFilter(status="open"))] == ["key_b"]
    assert [r.client_id for r in store.list(AlertFilter(client_id="key_a"))] == ["key_a"]
    assert store.list(AlertFilter(severity="critical")) == []
    with pytest.raises(AlertNotFound):
        store.get("nonexistent-id")


def test_export_is_the_alert_contract_oldest_first(engine) -> None:
    store = AlertStore(engine)
    decider = Decider(lookup=store.find_open)
    ids = [raise_alert(engine, decider, client(f"key_{i}"))[1].alert.alert_id for i in range(3)]
    exported = [orjson.loads(orjson.dumps(a.model_dump())) for a in store.export()]
    assert [a["alert_id"] for a in exported] == ids
    for obj in exported:
        assert set(obj) == set(Alert.model_fields)
        Alert.model_validate(obj)
        assert obj["v"] == 1 and obj["schema_version"] == 2 and obj["status"] == "open" and obj["created_at"].endswith("Z")
        assert obj["related_clients"] == [] and obj["group_id"] is None
        assert obj["reasons"] == [{"feature": "f", "value": 2.0, "op": ">", "threshold": 1.0}]


def test_redeliver_requeues(engine) -> None:
    store = AlertStore(engine)
    _, change = raise_alert(engine, Decider(lookup=store.find_open), client())
    store.redeliver(change.alert.alert_id)
    assert [d.state for d in store.deliveries(change.alert.alert_id)] == ["pending"]
