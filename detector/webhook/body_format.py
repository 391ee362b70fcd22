"""What the webhook POSTs: the alert contract itself, or the shape a SOC tool takes in.

``INVDET_WEBHOOK_FORMAT`` chooses:

- ``native``: the alert contract object (spec/alert.md), unchanged;
- ``ocsf``: an OCSF 1.3.0 Detection Finding (class 2004), for security data lakes and SIEMs;
- ``splunk-hec``: a Splunk HTTP Event Collector event (sourcetype ``inversion-detector:alert``), sent
  with ``Authorization: Splunk <INVDET_WEBHOOK_HEC_TOKEN>``;
- ``slack``: a Slack incoming-webhook message linking to the alert in the console (``INVDET_CONSOLE_URL``).

The outbox keeps the alert contract; the body is rendered from it at each attempt, and signed as
sent. Client and model ids are written by whoever queried the model: the Slack message shows them
as code, so they cannot add links, mentions or formatting.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import orjson

from detector import __version__

WebhookFormat = Literal["native", "ocsf", "splunk-hec", "slack"]
WEBHOOK_FORMATS: tuple[WebhookFormat, ...] = ("native", "ocsf", "splunk-hec", "slack")

OCSF_VERSION = "1.3.0"
DETECTION_FINDING = 2004
FINDINGS_CATEGORY = 2
CREATE_ACTIVITY = 1
OCSF_SEVERITY = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
"""Our severities as OCSF ``severity_id`` (1 Informational ... 5 Critical)."""
OCSF_STATUS = {"open": (1, "New"), "acknowledged": (2, "In Progress"), "false_positive": (3, "Suppressed"),
               "resolved": (4, "Resolved")}  # fmt: skip
"""Our statuses as OCSF finding ``status_id`` and ``status``."""
HEC_SOURCETYPE = "inversion-detector:alert"
PRODUCT = {"name": "inversion-detector", "vendor_name": "inversion-detector", "version": __version__}
SLACK_SEVERITY_MARK = {"info": "⚪", "low": "🔵", "medium": "🟡", "high": "🟠", "critical": "🔴"}


def epoch_ms(rfc3339: str) -> int:
    """
    >>> epoch_ms("2026-11-22T05:01:12.431Z")
    1795323672431
    """
    return round(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


def ocsf_finding(alert: dict) -> dict:
    """The alert as an OCSF Detection Finding: the detector is the analytic, the model the affected
    resource, the client (as the evidence's actor), its reasons and sampled events the evidence, and
    each other client of a split attack (``related_clients``) an evidence of its own.

    >>> finding = ocsf_finding({"alert_id": "01J", "created_at": "2026-11-22T05:01:12.431Z", "severity": "high",
    ...     "detector": "rule:x", "client_id": "k", "model_id": "m", "score": 0.97, "summary": "s",
    ...     "trigger_event_id": "e", "window_start_ts": 1.0, "window_end_ts": 2.0, "status": "open"})
    >>> finding["type_uid"], finding["severity_id"], finding["finding_info"]["uid"], finding["confidence_score"]
    (200401, 4, '01J', 97)
    """
    created = epoch_ms(alert["created_at"])
    status_id, status = OCSF_STATUS[alert["status"]]
    return {
        "class_uid": DETECTION_FINDING,
        "class_name": "Detection Finding",
        "category_uid": FINDINGS_CATEGORY,
        "category_name": "Findings",
        "activity_id": CREATE_ACTIVITY,
        "activity_name": "Create",
        "type_uid": DETECTION_FINDING * 100 + CREATE_ACTIVITY,
        "type_name": "Detection Finding: Create",
        "severity_id": OCSF_SEVERITY[alert["severity"]],
        "severity": alert["severity"].capitalize() if alert["severity"] != "info" else "Informational",
        "status_id": status_id,
        "status": status,
        "time": created,
        "message": alert["summary"],
        "confidence_score": round(alert["score"] * 100),
        "finding_info": {
            "uid": alert["alert_id"],
            "title": f"{alert['detector']} on {alert['model_id']}",
            "desc": alert["summary"],
            "types": ["ML model inversion/extraction", alert["detector"]],
            "created_time": created,
            "first_seen_time": round(alert["window_start_ts"] * 1000),
            "last_seen_time": round(alert["window_end_ts"] * 1000),
            "analytic": {"name": alert["detector"], "type_id": 1 if alert["detector"].startswith("rule:") else 99,
                         "type": "Rule" if alert["detector"].startswith("rule:") else "Other"},  # fmt: skip
        },
        "resources": [{"uid": alert["model_id"], "name": alert["model_id"], "type": "ML model"}],
        "evidences": [
            {
                "actor": {"user": {"uid": alert["client_id"]}},
                "data": {
                    "trigger_event_id": alert["trigger_event_id"],
                    "evidence_event_ids": alert.get("evidence_event_ids", []),
                    "reasons": alert.get("reasons", []),
                    **({"group_id": alert["group_id"]} if alert.get("group_id") else {}),
                },
            },
            *({"actor": {"user": {"uid": client}}, "data": {"group_id": alert.get("group_id"), "role": "related client"}}
              for client in alert.get("related_clients", [])),
        ],
        "metadata": {"product": PRODUCT, "version": OCSF_VERSION, "uid": alert["alert_id"]},
        "unmapped": {"features": alert.get("features", {}), "score": alert["score"]},
    }


def splunk_event(alert: dict, host: str) -> dict:
    """The alert as one HEC event (its time in epoch seconds, the alert contract as ``event``).

    >>> splunk_event({"created_at": "2026-11-22T05:01:12.431Z"}, "h")["time"]
    1795323672.431
    """
    return {"time": epoch_ms(alert["created_at"]) / 1000, "host": host, "source": "inversion-detector",
            "sourcetype": HEC_SOURCETYPE, "event": alert}  # fmt: skip


def slack_code(text: str, *, block: bool = False) -> str:
    """Text Slack shows literally, as inline code (or a code block): no links, mentions, formatting
    or auto-linked addresses smuggled in by whoever chose a client id.

    >>> slack_code("<https://evil|click> & <!channel> `x`")
    '`&lt;https://evil|click&gt; &amp; &lt;!channel&gt; ˋxˋ`'
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "ˋ")
    return f"```{escaped}```" if block else f"`{escaped}`"


def slack_message(alert: dict, console_url: str | None) -> dict:
    """A Slack incoming-webhook message: a headline, the facts, the summary, and a button to the alert
    in the console when its address is known. Only the detector's own words are outside code."""
    severity = alert["severity"]
    headline = f"{SLACK_SEVERITY_MARK[severity]} {severity} alert from {alert['detector']}"
    facts = [
        f"*Client*\n{slack_code(alert['client_id'])}",
        f"*Model*\n{slack_code(alert['model_id'])}",
        f"*Detector*\n{slack_code(alert['detector'])}",
        f"*Score*\n{alert['score']:.2f}",
    ]
    if alert.get("related_clients"):
        facts.append(f"*Split over*\n{slack_code(', '.join(alert['related_clients'])[:1900])}")
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": fact} for fact in facts]},
        {"type": "section", "text": {"type": "mrkdwn", "text": slack_code(alert["summary"][:2800], block=True)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"alert {alert['alert_id']} · {alert['created_at']}"}]},
    ]
    text = f"{headline} (alert {alert['alert_id']})"
    if console_url is not None:
        from detector.console.paths import alert_path

        link = console_url.rstrip("/") + alert_path(alert["alert_id"])
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open in the console"}, "url": link}
        ]})  # fmt: skip
        text += f": <{link}|open in the console>"
    return {"text": text, "blocks": blocks}


@dataclass(frozen=True)
class WebhookBody:
    """Renders the outbox's alert contract body in the configured format, and its extra headers.

    >>> WebhookBody("native").render(b'{"alert_id":"01J"}')
    b'{"alert_id":"01J"}'
    >>> WebhookBody("splunk-hec", hec_token="t0k").headers()
    {'Authorization': 'Splunk t0k'}
    """

    format: WebhookFormat = "native"
    hec_token: str | None = None
    console_url: str | None = None
    host: str = field(default_factory=socket.gethostname)

    def render(self, native: bytes) -> bytes:
        if self.format == "native":
            return native
        alert = orjson.loads(native)
        if self.format == "ocsf":
            return orjson.dumps(ocsf_finding(alert))
        if self.format == "splunk-hec":
            return orjson.dumps(splunk_event(alert, self.host))
        return orjson.dumps(slack_message(alert, self.console_url))

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Splunk {self.hec_token}"} if self.format == "splunk-hec" else {}
