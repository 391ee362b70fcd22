"""Kafka throughput: the worker end to end through a real broker, beside a bare consume loop of the same library.

The events of the simulator's ``standard`` scenario cut to its 64-value model
(the first ``--events`` of them) are produced once, keyed by client id, into
a 4-partition topic on a throwaway Tansu broker (``tests.services``; Tansu
speaks the Kafka protocol, see its module for how it differs). Then, per run
and per client library (kafka-python, confluent-kafka):

- bare loop: a plain consumer of the library in a new group reads the whole
  topic (no decoding, one commit at the end), timed from its first record to
  its last;
- worker: ``python -m detector run`` as users start it, in a new group, with
  a fresh PostgreSQL database (``tests.services``) as its store and the
  product's default settings except the broker timings Tansu needs. Its
  events/s run from the first consumed batch (read off ``/metrics``) to the
  moment the database checkpoint covers every record, so the group join is
  left out and the last checkpoint is in;
- and once per run, for reference, ``replay`` of the same file in-process
  (SQLite), as in ``benchmarks.replay_throughput``.

    python -m benchmarks.kafka_throughput                   # 100,000 events, 3 runs
    python -m benchmarks.kafka_throughput --quick           # the demo scenario's 64-value events
"""

from __future__ import annotations

import itertools
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from benchmarks.replay_throughput import replay_once
from benchmarks.report import (
    WORKDIR,
    count_lines,
    parser,
    print_table,
    rate,
    say,
    scenario_file,
    spread,
    verdict,
    write_results,
)
from detector.kafka import LIBRARIES, open_producer
from detector.settings import Settings
from tests.services import KafkaBroker, PostgresServer
from tests.worker.harness import Store, Worker, worker_env

NAME = "kafka_throughput"
PARTITIONS = 4
BATCH = 2000
TARGET_KAFKA_PYTHON_TO_BARE = 0.6
TARGET_CONFLUENT_TO_REPLAY = 0.8
TIMEOUT_S = 1800.0
TANSU_CONSUMER = {"session_timeout_ms": 6000, "fetch_max_wait_ms": 100}
"""Consumer timings for Tansu (group joins wait half the session timeout; fetches do not return early)."""


def cut(path: Path, events: int | None) -> Path:
    """The first ``events`` lines of ``path`` (all of them for None)."""
    if events is None:
        return path
    kept = path.with_name(f"{path.stem}-first{events}.jsonl")
    with open(path, "rb") as lines, open(kept, "wb") as out:
        out.writelines(itertools.islice(lines, events))
    return kept


def produce_file(bootstrap: str, topic: str, path: Path) -> int:
    """Every line of ``path`` into ``topic``, keyed by client id (so a client's events stay in order)."""
    producer = open_producer("confluent", bootstrap)
    count = 0
    try:
        with open(path, "rb") as lines:
            for line in lines:
                client = line.split(b'"client_id":"', 1)[1].split(b'"', 1)[0]
                producer.send(topic, value=line.rstrip(b"\n"), key=client)
                count += 1
        producer.flush(120)
    finally:
        producer.close()
    return count


def bare_kafka_python(bootstrap: str, topic: str, expected: int) -> float:
    """Seconds from the first record to the ``expected``-th with a plain ``KafkaConsumer``."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"bare-{uuid.uuid4().hex}", enable_auto_commit=False,
        auto_offset_reset="earliest", **TANSU_CONSUMER,
    )  # fmt: skip
    try:
        return consume_all(lambda: _kafka_python_batch(consumer), expected, consumer.commit)
    finally:
        consumer.close()


def _kafka_python_batch(consumer) -> int:
    """Records in one poll (kafka-python has decoded them into objects holding their value as bytes already)."""
    return sum(len(messages) for messages in consumer.poll(timeout_ms=200, max_records=BATCH).values())


def bare_confluent(bootstrap: str, topic: str, expected: int) -> float:
    """Seconds from the first record to the ``expected``-th with a plain confluent-kafka ``Consumer``."""
    from confluent_kafka import Consumer

    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"bare-{uuid.uuid4().hex}", "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "session.timeout.ms": TANSU_CONSUMER["session_timeout_ms"],
        "fetch.wait.max.ms": TANSU_CONSUMER["fetch_max_wait_ms"],
    })  # fmt: skip
    consumer.subscribe([topic])

    def batch() -> int:
        count = 0
        for message in consumer.consume(num_messages=BATCH, timeout=0.2):
            if message.error() is None:
                message.value()
                count += 1
        return count

    try:
        return consume_all(batch, expected, lambda: consumer.commit(asynchronous=False))
    finally:
        consumer.close()


def consume_all(batch: Callable[[], int], expected: int, commit: Callable[[], object]) -> float:
    """Call ``batch`` until ``expected`` records came; seconds from the end of the first non-empty batch
    (the group join and first fetch left out) to the final commit, scaled to all records."""
    deadline = time.monotonic() + TIMEOUT_S
    seen = 0
    while seen == 0:
        seen = batch()
        if time.monotonic() > deadline:
            raise TimeoutError("no record consumed")
    first, started = seen, time.perf_counter()
    while seen < expected:
        seen += batch()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{seen} of {expected} records consumed")
    commit()
    return (time.perf_counter() - started) * expected / max(expected - first, 1)


BARE = {"kafka-python": bare_kafka_python, "confluent": bare_confluent}


def worker_seconds(library: str, bootstrap: str, topic: str, postgres: PostgresServer, expected: int, folder: Path) -> float:
    """Seconds the worker needs for ``expected`` records, from its first consumed batch to the checkpoint
    covering the last, scaled to all records."""
    database = f"bench_{uuid.uuid4().hex}"
    url = postgres.create_database(database)
    defaults = Settings()
    env = worker_env(
        database_url=url, bootstrap=bootstrap, topic=topic, library=library, rules=Path(""),
        kafka_group_id=f"worker-{uuid.uuid4().hex}", model_warmup=defaults.model_warmup,
        checkpoint_every_s=defaults.checkpoint_every_s, shutdown_timeout_s=defaults.shutdown_timeout_s,
    )  # fmt: skip
    env["INVDET_RULES"] = ""  # empty counts as unset: the built-in rules only
    worker = Worker(folder, f"worker-{library}", env).start()
    store = Store(url)
    try:
        first = worker.wait_for_metric("invdet_events_consumed_total", 1, timeout=TIMEOUT_S)
        started = time.perf_counter()
        store.wait_checkpointed(expected, [worker], timeout=TIMEOUT_S)
        seconds = time.perf_counter() - started
        status, _ = worker.terminate()
        if status != 0:
            raise RuntimeError(f"worker exited with {status}:\n{worker.log()[-4000:]}")
    finally:
        worker.stop()
        store.close()
        postgres.drop_database(database)
    return seconds * expected / max(expected - first, 1)


def measure(path: Path, runs: int, libraries: tuple[str, ...]) -> dict:
    events = count_lines(path)
    bare: dict[str, list[float]] = {library: [] for library in libraries}
    worker: dict[str, list[float]] = {library: [] for library in libraries}
    replay_rates: list[float] = []
    with KafkaBroker() as broker, PostgresServer() as postgres, tempfile.TemporaryDirectory() as folder:
        topic = broker.create_topic(f"bench-{uuid.uuid4().hex}", partitions=PARTITIONS)
        say(f"[{NAME}] producing {events:,} events into {PARTITIONS} partitions on {broker.bootstrap} ...")
        produced = produce_file(broker.bootstrap, topic, path)
        for number in range(1, runs + 1):
            for library in libraries:
                say(f"[{NAME}] run {number}/{runs}, {library}: bare loop")
                bare[library].append(produced / BARE[library](broker.bootstrap, topic, produced))
                say(f"[{NAME}]   {bare[library][-1]:,.0f}/s; worker")
                worker[library].append(produced / worker_seconds(library, broker.bootstrap, topic, postgres, produced, Path(folder)))
                say(f"[{NAME}]   {worker[library][-1]:,.0f}/s")
            seconds, _, _ = replay_once(path, WORKDIR / "kafka-throughput-replay.db")
            replay_rates.append(events / seconds)
            say(f"[{NAME}]   replay {replay_rates[-1]:,.0f}/s")
    rows = {}
    for library in libraries:
        rows[library] = {
            "bare_events_per_s": spread(bare[library]),
            "worker_events_per_s": spread(worker[library]),
            "worker_to_bare": spread([w / b for w, b in zip(worker[library], bare[library])]),
            "worker_to_replay": spread([w / r for w, r in zip(worker[library], replay_rates)]),
        }
    targets = {}
    if "kafka-python" in rows:
        value = rows["kafka-python"]["worker_to_bare"]["median"]
        targets["kafka_python_worker_to_bare"] = {"value": value, "target": TARGET_KAFKA_PYTHON_TO_BARE,
                                                  "met": value >= TARGET_KAFKA_PYTHON_TO_BARE}  # fmt: skip
    if "confluent" in rows:
        value = rows["confluent"]["worker_to_replay"]["median"]
        targets["confluent_worker_to_replay"] = {"value": value, "target": TARGET_CONFLUENT_TO_REPLAY,
                                                 "met": value >= TARGET_CONFLUENT_TO_REPLAY}  # fmt: skip
    return {"events_file": str(path), "events": produced, "partitions": PARTITIONS, "store": "postgresql",
            "libraries": rows, "replay_events_per_s": spread(replay_rates), "targets": targets}  # fmt: skip


def target_text(report: dict, library: str) -> str:
    targets = report["targets"]
    if library == "kafka-python" and "kafka_python_worker_to_bare" in targets:
        return f"worker >= {TARGET_KAFKA_PYTHON_TO_BARE}x bare: {verdict(targets['kafka_python_worker_to_bare']['met'])}"
    if library == "confluent" and "confluent_worker_to_replay" in targets:
        return f"worker >= {TARGET_CONFLUENT_TO_REPLAY}x replay: {verdict(targets['confluent_worker_to_replay']['met'])}"
    return "-"


def print_report(report: dict) -> None:
    rows = []
    for library, figures in report["libraries"].items():
        rows.append([library, "bare consume loop", rate(figures["bare_events_per_s"]), "1.00", "-", ""])
        rows.append([library, "worker (PostgreSQL store)", rate(figures["worker_events_per_s"]),
                     f"{figures['worker_to_bare']['median']:.2f}", f"{figures['worker_to_replay']['median']:.2f}",
                     target_text(report, library)])  # fmt: skip
    rows.append(["-", "replay (SQLite), same file", rate(report["replay_events_per_s"]), "-", "1.00", ""])
    print_table(
        f"Kafka throughput: {report['events']:,} events, {report['partitions']} partitions, Tansu broker, "
        f"median of {report['replay_events_per_s']['runs']} runs (min-max)",
        ["library", "path", "events/s", "x bare", "x replay", "target"],
        rows,
    )


def summary(report: dict) -> list[tuple[str, str, str]]:
    """(figure, value, target) lines for the suite's closing summary."""
    lines = []
    for library, figures in report["libraries"].items():
        lines.append((f"{library} worker events/s", rate(figures["worker_events_per_s"]), "-"))
        lines.append((f"{library} worker / bare loop", f"{figures['worker_to_bare']['median']:.2f}",
                      target_text(report, library) if library == "kafka-python" else "-"))  # fmt: skip
        lines.append((f"{library} worker / replay", f"{figures['worker_to_replay']['median']:.2f}",
                      target_text(report, library) if library == "confluent" else "-"))  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    arguments = parser(__doc__)
    arguments.add_argument("--events", type=int, default=100_000, help="events of the scenario to produce (default 100,000)")
    arguments.add_argument("--library", choices=LIBRARIES, action="append", help="only this client library (repeatable)")
    args = arguments.parse_args(argv)
    scenario = "demo" if args.quick else "standard"
    path = cut(scenario_file(scenario), None if args.quick else args.events)
    libraries = tuple(args.library or LIBRARIES)
    report = {"scenario": scenario, "quick": args.quick, **measure(path, args.runs, libraries)}
    print_report(report)
    write_results(NAME, report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
