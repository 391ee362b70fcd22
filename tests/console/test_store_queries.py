"""The queries the console added to the alert store, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from detector.db.alert_store import AlertFilter, AlertStore
from detector.db.engine import make_engine
from detector.db.migrate import ensure_schema
from tests.console.conftest import AlertWriter


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path) -> Iterator[AlertStore]:
    url = f"sqlite:///{tmp_path / 'a.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    ensure_schema(engine)
    yield AlertStore(engine)
    engine.dispose()


def ids(rows) -> list[str]:
    return [row.alert_id for row in rows]


def test_page_count_severity_counts_and_detectors(any_store: AlertStore) -> None:
    write = AlertWriter(any_store)
    low = write(severity="low", score=0.9, detector="rule:b")
    critical = write(severity="critical", score=0.2, detector="rule:a", webhook=True)
    medium = write(severity="medium", score=0.5, detector="rule:a")
    newest = write(severity="medium", score=0.1, detector="rule:a")
    everything = AlertFilter(limit=10)
    assert ids(any_store.page(everything)) == [newest.alert_id, medium.alert_id, critical.alert_id, low.alert_id]
    assert ids(any_store.page(everything, sort="severity")) == [
        critical.alert_id, newest.alert_id, medium.alert_id, low.alert_id
    ]
    assert ids(any_store.page(everything, sort="score")) == [
        low.alert_id, medium.alert_id, critical.alert_id, newest.alert_id
    ]
    assert ids(any_store.page(AlertFilter(limit=2), sort="score", offset=1)) == [medium.alert_id, critical.alert_id]
    assert [r.delivery for r in any_store.page(AlertFilter(detector="rule:a", severity="critical"))] == ["pending"]
    assert any_store.count(everything) == 4 and any_store.count(AlertFilter(detector="rule:a")) == 3
    since = datetime(2026, 11, 22, 5, 0, 3, tzinfo=timezone.utc)  # the writer's third alert
    assert any_store.count(AlertFilter(since=since)) == 2
    assert any_store.severity_counts(AlertFilter(detector="rule:a", severity="low")) == {
        "critical": 1, "high": 0, "medium": 2, "low": 0, "info": 0
    }
    assert any_store.detectors() == ["rule:a", "rule:b"]
    with pytest.raises(ValueError, match="unknown sort"):
        any_store.page(everything, sort="client_id")
