"""The store's tests run on both databases: SQLite (embedded) and the session's PostgreSQL server."""

from __future__ import annotations

import pytest

from detector.db import migrate
from detector.db.engine import make_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'alerts.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(database_url):
    """An engine on a database with the current schema."""
    engine = make_engine(database_url)
    migrate.ensure_schema(engine)
    yield engine
    engine.dispose()
