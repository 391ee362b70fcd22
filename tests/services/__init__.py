"""Real servers for integration tests and benchmarks: PostgreSQL and a Kafka-protocol broker on loopback.

Benchmarks and tools start them the way the test fixtures do::

    from tests.services import KafkaBroker, PostgresServer

    with PostgresServer() as db, KafkaBroker() as kafka:
        url, bootstrap = db.create_database("bench"), kafka.bootstrap
"""

from tests.services.kafka_broker import KafkaBroker
from tests.services.launch import ServiceError
from tests.services.polling import poll_until
from tests.services.postgres import PostgresServer

__all__ = ["KafkaBroker", "PostgresServer", "ServiceError", "poll_until"]
