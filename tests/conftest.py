"""Shared fixtures: the real PostgreSQL server and Kafka-protocol broker, started once per session when needed.

Each server starts the first time a test asks for it and stops when the
session ends, so plain ``pytest`` works and unit-test runs start nothing.
Every test gets its own database (``postgres_url``) and its own topic
(``kafka_topic``), so no test depends on another. A test using any of these
fixtures is marked ``integration`` at collection, so ``-m "not integration"``
leaves it out. A missing server is an error, never a skip: ``make test``
installs what is missing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from detector.db import migrate
from detector.db.engine import make_engine
from tests.services import KafkaBroker, PostgresServer

SERVICE_FIXTURES = frozenset({"postgres_server", "postgres_url", "kafka_broker", "kafka_topic"})
TOPIC_PARTITIONS = 4


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a real server, directly or through another fixture, as ``integration``."""
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server for the whole session; tests may stop() and start() it again."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL (``postgresql+psycopg2://``) of a fresh, empty database, dropped after the test."""
    name = f"test_{uuid.uuid4().hex}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A running Kafka-protocol broker for the whole session; its log is kept in pytest's temporary folder."""
    with KafkaBroker(log_path=tmp_path_factory.mktemp("kafka") / "tansu.log") as broker:
        yield broker


@pytest.fixture
def kafka_topic(kafka_broker: KafkaBroker) -> Iterator[str]:
    """The name of a fresh topic with four partitions, deleted after the test."""
    name = kafka_broker.create_topic(f"test-{uuid.uuid4().hex}", partitions=TOPIC_PARTITIONS)
    yield name
    kafka_broker.delete_topic(name)


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    """An engine on a fresh SQLite file with the project's schema (for logic that only needs some database)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'detector.db'}")
    migrate.ensure_schema(engine)
    yield engine
    engine.dispose()
