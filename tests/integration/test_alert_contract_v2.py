"""Alert contract version 2 end to end: a walk split over many keys, replayed into PostgreSQL, reaches a
real webhook receiver and ``alerts export`` as the same objects, naming the group; a version-1 consumer
finds every field it knows unchanged."""

from __future__ import annotations

import orjson

from detector.alert import Alert
from detector.cli import main
from detector.commands.replay import replay
from detector.db.engine import make_engine
from detector.settings import Settings
from detector.simulator import Scenario, write_scenario
from detector.webhook.dispatcher import Dispatcher
from detector.webhook.signing import verify
from tests.services import poll_until
from tests.worker.harness import WebhookReceiver

SECRET = "whsec-contract-v2"
V1_FIELDS = {
    "v", "alert_id", "created_at", "severity", "detector", "client_id", "model_id", "score", "summary",
    "trigger_event_id", "window_start_ts", "window_end_ts", "reasons", "features", "evidence_event_ids", "status",
}  # fmt: skip
"""The fields of ``spec/alert.md`` (version 1)."""
SPLIT = Scenario("contract-split", duration_s=1200.0, benign={"interactive": 4, "batch": 1}, careful={"split": 1},
                 budget_scale=0.3)  # fmt: skip


def test_a_split_attack_reaches_the_webhook_and_the_export_as_one_named_group(postgres_url, tmp_path, capsys) -> None:
    events, truth_path = write_scenario(SPLIT, tmp_path, seed=12)
    keys = {t["client_id"] for t in map(orjson.loads, truth_path.read_bytes().splitlines()) if t["attack"]}
    receiver = WebhookReceiver()
    receiver.listen()
    settings = Settings(database_url=postgres_url, webhook_url=receiver.url, webhook_secret=SECRET)
    replay([str(events)], settings, progress=False)
    engine = make_engine(postgres_url)
    dispatcher = Dispatcher.from_settings(settings, engine)
    try:
        while dispatcher.deliver_due():
            pass
        assert main(["alerts", "export", "--database-url", postgres_url]) == 0
        exported = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
        poll_until(lambda: len(receiver.accepted()) == len(exported), timeout=10, what="every alert delivered")
    finally:
        dispatcher.close()
        receiver.close()
        engine.dispose()

    delivered = {}
    for received in receiver.accepted():
        assert verify(received.body, SECRET, received.signature)
        delivered[received.alert_id] = orjson.loads(received.body)
    assert delivered == {a["alert_id"]: a for a in exported}, "the webhook body is the exported object"
    for body in exported:
        assert Alert.model_validate(body).model_dump() == body
        assert set(body) - V1_FIELDS == {"schema_version", "related_clients", "group_id"}, "version 2 only adds"
        assert body["v"] == 1 and body["schema_version"] == 2
        assert not any(name.startswith("group_client[") for name in body["features"])
    grouped = [a for a in exported if a["detector"] == "rule:split-probing"]
    assert len(grouped) >= len(keys) / 2
    assert {a["client_id"] for a in grouped} <= keys
    assert len({a["group_id"] for a in grouped}) == 1, "every member's alert carries the group's one id"
    for alert in grouped:
        assert alert["client_id"] not in alert["related_clients"] and set(alert["related_clients"]) <= keys
        assert alert["related_clients"] == sorted(alert["related_clients"])
    named = set().union(*(a["related_clients"] for a in grouped)) | {a["client_id"] for a in grouped}
    assert named == keys
    others = [a for a in exported if a["detector"] != "rule:split-probing"]
    assert all(a["group_id"] is None and a["related_clients"] == [] for a in others)
