"""The webhook receiver refuses connections, then answers 500, then comes back: every alert is
delivered, each accepted once, signed, as the alert contract object; the secret is never logged."""

from __future__ import annotations

import orjson

from detector.alert import Alert
from detector.webhook.signing import verify
from tests.services import poll_until
from tests.worker.harness import (  # noqa: F401 - fixtures
    WebhookReceiver,
    attacker,
    library,
    produce,
    store,
    topic,
    worker_env,
    workers,
    write_rules,
)

SECRET = "whsec-test-4f1c9a"


def test_alerts_survive_a_webhook_outage_and_are_delivered_once(library, topic, store, workers, tmp_path) -> None:
    receiver = WebhookReceiver()  # not listening yet: connections are refused
    env = worker_env(database_url=store.url, bootstrap=topic.bootstrap, topic=topic.name, library=library,
                     rules=write_rules(tmp_path), webhook_url=receiver.url, webhook_secret=SECRET,
                     webhook_backoff_s=0.1, webhook_backoff_max_s=0.5, webhook_max_attempts=1000, webhook_poll_s=0.1)  # fmt: skip
    worker = workers("worker", env)
    attackers = [attacker(f"attacker-{p}", p) for p in range(4)]
    sent = produce(topic.bootstrap, topic.name, [m for a in attackers for m in a.events(130, probe=True)])
    store.wait_checkpointed(sent, [worker])
    alert_ids = sorted(row.alert_id for row in store.alerts())
    assert len(alert_ids) >= len(attackers)

    def all_failed_with(error: str) -> bool:
        rows = store.outbox()
        return len(rows) == len(alert_ids) and all(r.attempts >= 1 and error in (r.last_error or "") for r in rows)

    try:
        poll_until(lambda: all_failed_with("ConnectError"), timeout=30, what="refused deliveries")
        receiver.status = 500
        receiver.listen()
        poll_until(lambda: all_failed_with("HTTP 500"), timeout=30, what="deliveries answered 500")
        receiver.status = 200
        poll_until(lambda: all(r.state == "delivered" for r in store.outbox()), timeout=30, what="every delivery")
        accepted = receiver.accepted()
    finally:
        receiver.close()

    assert sorted(r.alert_id for r in accepted) == alert_ids, "each alert accepted exactly once"
    for received in accepted:
        assert verify(received.body, SECRET, received.signature)
        body = orjson.loads(received.body)
        assert set(body) == set(Alert.model_fields) and Alert.model_validate(body).alert_id == received.alert_id
    assert worker.metric("invdet_webhook_deliveries_total") == len(alert_ids)
    assert worker.metric("invdet_webhook_failures_total", outcome="retry") >= 2 * len(alert_ids)
    log = worker.log()
    assert SECRET not in log and "secret-token" not in log
