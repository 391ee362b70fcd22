"""Console fixtures: a real SQLite alert store, alerts written through the sink, and a test client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from starlette.testclient import TestClient

from detector.alert import Alert, Reason
from detector.console import create_app
from detector.db.alert_store import AlertStore, format_time
from detector.db.engine import make_engine
from detector.db.migrate import ensure_schema
from detector.decide import AlertChange
from detector.evidence import Evidence, Series
from detector.sinks.alert_sink import AlertSink

HOSTILE = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
"""Strings an attacker may choose as client id, model id or meta value."""
T0 = 1_795_312_008.0
ROW_ID = re.compile(r'data-alert-id="([0-9A-Z]{26})"')


def listed(html: str) -> list[str]:
    """Alert ids in a page's alert table, in the order shown."""
    return ROW_ID.findall(html)


def csrf_token(html: str, action: str) -> str:
    """The hidden CSRF token of the form posting to ``action``."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', html, re.S)
    assert form, f"no form posting to {action}"
    return re.search(r'name="csrf" value="([^"]+)"', form.group(0)).group(1)


def walk_evidence(n: int = 40, *, group: dict[str, list[float]] | None = None) -> Evidence:
    """A confidence-climbing, shrinking-step probe sequence like an inversion attack leaves."""
    times = [T0 + 0.25 * i for i in range(n)]
    return Evidence(
        series={
            "target_confidence": Series(t=times, y=[0.1 + 0.8 * i / (n - 1) for i in range(n)]),
            "dist_prev": Series(t=times, y=[0.0] + [0.5 * 0.9**i for i in range(1, n)]),
            "nn_distance": Series(t=times, y=[0.3 * 0.92**i for i in range(n)]),
            "query_rate": Series(t=times[1:], y=[4.0] * (n - 1)),
        },
        group=group or {},
    )


class AlertWriter:
    """Writes alerts the way the worker does: :class:`AlertSink` with :class:`AlertChange` objects."""

    def __init__(self, store: AlertStore) -> None:
        self.store = store
        self.written = 0

    def __call__(self, *, evidence: Evidence | None = None, webhook: bool = False, **fields: object) -> Alert:
        self.written += 1
        values: dict[str, object] = {
            "severity": "high",
            "detector": "rule:confidence-climb",
            "client_id": "key_7f3a",
            "model_id": "digits-classifier:3",
            "score": 0.8,
            "summary": "key_7f3a: 40 near-identical queries in 10 s, target confidence 0.10 -> 0.90",
            "trigger_event_id": f"ev-{self.written}",
            "window_start_ts": T0,
            "window_end_ts": T0 + 10.0,
            "reasons": [Reason(feature="target_confidence_slope", value=0.02, op=">", threshold=0.005)],
            "features": {"rate_60s": 240.0, "target_confidence_slope": 0.02},
            "evidence_event_ids": ["ev-a", "ev-b"],
            # one second apart, so "created" order is the order of writing
            "created_at": format_time(datetime(2026, 11, 22, 5, tzinfo=timezone.utc) + timedelta(seconds=self.written)),
        }
        values.update(fields)
        alert = Alert(**values)
        sink = AlertSink(self.store.engine, webhook_enabled=webhook)
        sink.add([AlertChange(alert, 1, alert.window_end_ts, alert.window_end_ts + 600.0, evidence=evidence)])
        sink.flush()
        return alert


@pytest.fixture
def store(tmp_path) -> Iterator[AlertStore]:
    engine = make_engine("sqlite:///" + str(tmp_path / "a.db"))
    ensure_schema(engine)
    yield AlertStore(engine)
    engine.dispose()


@pytest.fixture
def write(store: AlertStore) -> AlertWriter:
    return AlertWriter(store)


@pytest.fixture
def client(store: AlertStore) -> Iterator[TestClient]:
    """The console as a browser on this machine reaches it (a loopback Host), no token."""
    with TestClient(create_app(store), base_url="http://127.0.0.1:8686", follow_redirects=False) as test_client:
        yield test_client
