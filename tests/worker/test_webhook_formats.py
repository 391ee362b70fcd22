"""Each webhook body format reaches a real HTTP receiver on loopback, signed over the body as sent;
the OCSF finding validates against a schema of Detection Finding's required attributes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import orjson
import pytest

from detector.db.alert_store import AlertStore, alert_from_row
from detector.settings import ConfigError, Settings
from detector.webhook.body_format import ocsf_finding, slack_message
from detector.webhook.dispatcher import Dispatcher
from detector.webhook.signing import verify
from tests.worker.harness import WebhookReceiver, queue_alerts
from tests.worker.test_webhook_delivery import engine  # noqa: F401 - fixture

SECRET = "whsec-formats"
SCHEMA = json.loads((Path(__file__).parent / "ocsf-1.3.0-detection-finding.schema.json").read_text())


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    listening = WebhookReceiver()
    listening.listen()
    yield listening
    listening.close()


def deliver(engine, receiver: WebhookReceiver, **settings: object) -> tuple[dict, dict, dict[str, str]]:
    """Queue one alert, deliver it in the format, and return (the alert contract, the body received, its headers)."""
    (alert_id,) = queue_alerts(engine)
    dispatcher = Dispatcher.from_settings(Settings(webhook_url=receiver.url, webhook_secret=SECRET, **settings), engine)
    try:
        assert dispatcher.deliver_due() == 1
    finally:
        dispatcher.close()
    (received,) = receiver.accepted()
    assert verify(received.body, SECRET, received.signature), "signed over the body as sent"
    contract = alert_from_row(AlertStore(engine).get(alert_id)).model_dump()
    return contract, orjson.loads(received.body), received.headers


def test_native_is_the_alert_contract(engine, receiver) -> None:
    alert, body, _ = deliver(engine, receiver)
    assert body == alert


def test_ocsf_is_a_valid_detection_finding_with_the_alert_mapped(engine, receiver) -> None:
    alert, finding, _ = deliver(engine, receiver, webhook_format="ocsf")
    jsonschema.validate(finding, SCHEMA)
    assert (finding["class_uid"], finding["type_uid"], finding["severity_id"]) == (2004, 200401, 4)
    assert finding["finding_info"]["uid"] == alert["alert_id"] and finding["message"] == alert["summary"]
    assert finding["evidences"][0]["data"]["trigger_event_id"] == alert["trigger_event_id"]
    assert finding["resources"][0]["uid"] == alert["model_id"]
    split = ocsf_finding({**alert, "related_clients": ["key_8", "key_9"], "group_id": "g1"})
    jsonschema.validate(split, SCHEMA)
    assert [e["actor"]["user"]["uid"] for e in split["evidences"]] == [alert["client_id"], "key_8", "key_9"]
    broken = {**finding, "finding_info": {"title": "no uid"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_splunk_hec_carries_the_token_and_the_sourcetype(engine, receiver) -> None:
    alert, event, headers = deliver(engine, receiver, webhook_format="splunk-hec", webhook_hec_token="hec-123")
    assert headers["Authorization"] == "Splunk hec-123"
    assert event["sourcetype"] == "inversion-detector:alert" and event["event"] == alert
    assert isinstance(event["time"], float) and event["host"]


def test_splunk_hec_without_a_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="webhook_hec_token"):
        Dispatcher.from_settings(Settings(webhook_url="http://127.0.0.1:1/", webhook_format="splunk-hec"), None)


def test_slack_links_to_the_console_and_shows_client_ids_as_code(engine, receiver) -> None:
    alert, message, _ = deliver(engine, receiver, webhook_format="slack", console_url="https://console.example.com/")
    link = f"https://console.example.com/alerts/{alert['alert_id']}"
    (button,) = message["blocks"][-1]["elements"]
    assert button["url"] == link and link in message["text"]
    assert f"`{alert['client_id']}`" in json.dumps(message["blocks"][1])


def test_slack_escapes_a_client_id_that_tries_to_add_a_link() -> None:
    alert = {"alert_id": "01J", "created_at": "2026-11-22T05:01:12.431Z", "severity": "high", "detector": "rule:x",
             "client_id": "<https://evil.example|reset your key> <!channel>", "model_id": "m", "score": 0.9,
             "summary": "s"}  # fmt: skip
    text = json.dumps(slack_message(alert, None))
    assert "<https://evil" not in text and "<!channel>" not in text
    assert "`&lt;https://evil.example|reset your key&gt; &lt;!channel&gt;`" in text
