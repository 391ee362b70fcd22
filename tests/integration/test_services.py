"""The test services are real: PostgreSQL through SQLAlchemy and psycopg2, and a Kafka consumer group through kafka-python."""

from __future__ import annotations

from collections import defaultdict

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.producer.future import RecordMetadata
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, insert, select, text
from sqlalchemy.exc import OperationalError

from tests.services import KafkaBroker, PostgresServer, poll_until

CLIENTS = [f"client-{number}" for number in range(20)]
PARTITIONS = range(4)  # what the kafka_topic fixture promises

probes = Table(
    "probes",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("client_id", String(64), nullable=False),
)


def _stored_clients(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(probes.c.client_id).order_by(probes.c.id)).scalars())


def _engine_with_probes(url: str, clients: list[str]) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    with engine.begin() as connection:
        probes.metadata.create_all(connection)
        connection.execute(insert(probes), [{"client_id": client} for client in clients])
    return engine


def test_postgres_round_trip(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg2://postgres@127.0.0.1:")
    engine = _engine_with_probes(postgres_url, ["alice", "bob"])
    try:
        assert _stored_clients(engine) == ["alice", "bob"]
        with engine.connect() as connection:
            assert connection.execute(text("SHOW fsync")).scalar() == "off"
    finally:
        engine.dispose()


def test_each_test_gets_an_empty_database(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            tables = connection.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar()
        assert tables == 0
    finally:
        engine.dispose()


def test_postgres_stops_and_starts_again_with_its_data(postgres_server: PostgresServer, postgres_url: str) -> None:
    engine = _engine_with_probes(postgres_url, ["kept"])
    port = postgres_server.port
    try:
        postgres_server.stop()
        try:
            assert not postgres_server.running
            with pytest.raises(OperationalError), engine.connect():
                pass
        finally:
            postgres_server.start()
        assert postgres_server.running and postgres_server.port == port
        assert _stored_clients(engine) == ["kept"]  # the pool's dead connections are replaced
    finally:
        engine.dispose()


def _produce(bootstrap: str, topic: str, messages: list[tuple[str, str]]) -> list[RecordMetadata]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        sent = [producer.send(topic, key=key.encode(), value=value.encode()) for key, value in messages]
        return [future.get(timeout=10) for future in sent]
    finally:
        producer.close()


def _group_member(bootstrap: str, topic: str, group_id: str) -> KafkaConsumer:
    return KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        fetch_max_wait_ms=100,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


def _consume(consumer: KafkaConsumer, count: int) -> list[ConsumerRecord]:
    """Poll until at least ``count`` records arrived (a group join on Tansu takes about 3 s)."""
    records: list[ConsumerRecord] = []

    def enough() -> bool:
        for batch in consumer.poll(timeout_ms=200).values():
            records.extend(batch)
        return len(records) >= count

    poll_until(enough, timeout=30.0, what=f"{count} records consumed", interval=0)
    return records


def _pairs(records: list[ConsumerRecord]) -> list[tuple[str, str]]:
    return sorted((record.key.decode(), record.value.decode()) for record in records)


def test_kafka_group_reads_every_partition_commits_and_a_successor_resumes(
    kafka_broker: KafkaBroker, kafka_topic: str
) -> None:
    first = [(client, f"{client}:{n}") for n in range(5) for client in CLIENTS]
    placed = _produce(kafka_broker.bootstrap, kafka_topic, first)
    assert {meta.partition for meta in placed} == set(PARTITIONS)
    ends = {meta.partition: meta.offset + 1 for meta in sorted(placed, key=lambda meta: meta.offset)}
    partitions = [TopicPartition(kafka_topic, partition) for partition in PARTITIONS]
    group_id = f"group-{kafka_topic}"

    member = _group_member(kafka_broker.bootstrap, kafka_topic, group_id)
    try:
        records = _consume(member, len(first))
        assert member.partitions_for_topic(kafka_topic) == set(PARTITIONS)
        assert _pairs(records) == sorted(first)
        assert member.assignment() == set(partitions)
        by_client: dict[str, list[ConsumerRecord]] = defaultdict(list)
        for record in records:
            by_client[record.key.decode()].append(record)
        for client, own in by_client.items():
            assert len({record.partition for record in own}) == 1, f"{client} spread over partitions"
            assert [record.value.decode() for record in own] == [f"{client}:{n}" for n in range(5)]
        assert {tp.partition: member.highwater(tp) for tp in partitions} == ends
        member.commit()
        assert {tp.partition: member.committed(tp) for tp in partitions} == ends
    finally:
        member.close()

    second = [(client, f"{client}:{n}") for n in range(5, 8) for client in CLIENTS]
    _produce(kafka_broker.bootstrap, kafka_topic, second)
    successor = _group_member(kafka_broker.bootstrap, kafka_topic, group_id)
    try:
        assert _pairs(_consume(successor, len(second))) == sorted(second)
    finally:
        successor.close()
