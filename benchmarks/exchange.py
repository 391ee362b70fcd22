"""Fingerprint exchange: the bytes it adds per event on its two topics, its CPU per event, and the
latency a match adds between two workers.

- Bytes and CPU: the simulator's ``demo`` scenario (``--quick``: ``tiny``), and a split one (26 benign
  clients and one walk split round-robin over 12 keys), each through a pipeline, each batch of 2,000
  events published as a worker publishes it (with the model's settled
  scale shared through a SQLite store, to a producer that keeps the records), then matched by the owners of
  the fingerprint topic's 8 partitions; the record values' bytes per event on each topic, and the
  microseconds per event of publishing and of matching. (Kafka's framing adds about 70 bytes a
  record batch and 10-20 a record: one record per partition per batch, so well under a byte an event.)
- Detection per worker count: a replay, then 1, 2 and 4 workers (``--quick``: 1 and 2) with the exchange
  on an 8-partition topic, fed a lot of 80 events at a time, each lot checkpointed before the next (as a
  live API sends them): the split scenario's and a slow split's (10 keys, each active in its own window
  of an hour) ``split-probing`` alerts, the keys alerted and named, and the group ids.
- Latency: on a local Tansu broker, a worker's exchange thread (its bucket owner and its match
  listener); two fingerprints of one bucket sent at once, timed until the thread hears their match
  (the fingerprint topic's fetch, the matching, the matches topic's produce and fetch). A worker
  takes what its thread heard at its next round, at most ``EXCHANGE_POLL_S`` later.

    python -m benchmarks.exchange [--quick] [--runs N]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from pathlib import Path

import numpy as np
import orjson

from benchmarks.report import WORKDIR, median, parser, print_table, say, scenario_file, write_results
from benchmarks.scaling import new_pipeline
from detector.db import migrate
from detector.db.engine import make_engine
from detector.db.model_scales import ScaleStore
from detector.event import InferenceEvent
from detector.exchange.bucket_owner import BucketOwner
from detector.exchange.exchange import FingerprintExchange
from detector.exchange.owner_loop import OwnerLoop
from detector.exchange.wire import Fingerprint, Match, decode_fingerprints, encode_fingerprints, encode_matches
from detector.kafka import open_producer
from detector.parse import Parser
from detector.settings import Settings
from detector.simulator import Scenario, write_scenario
from detector.worker.shared_scales import SharedScales
from detector.worker.worker import EXCHANGE_POLL_S
from featurizers.cross_client import CrossClient
from tests.services import KafkaBroker, PostgresServer, poll_until
from tests.worker.harness import Message, Store, Worker, produce, worker_env

NAME = "exchange"
PARTITIONS = 8
BATCH = 2_000
SPLIT = Scenario("exchange-split", duration_s=900.0, benign={"interactive": 24, "batch": 2}, careful={"split": 1},
                 budget_scale=0.3)  # fmt: skip
SLOW_SPLIT = Scenario("exchange-slow-split", duration_s=3600.0, benign={"interactive": 24, "batch": 2},
                      careful={"slow-split": 1}, budget_scale=0.3)  # fmt: skip
DETECTION = ((SPLIT, 53), (SLOW_SPLIT, 2))
"""Each scenario with a seed whose replay alerts every key of the split (12 and 10 keys). Both carry 26
benign clients: a model's input scale, which fingerprints need, settles only on the inputs of several
clients (``featurizers.input_scale.SETTLE_SHARE``): with the integration tests' five, 2 workers alerted
no key of the slow split."""
DETECTOR = "rule:split-probing"
LOT = 80
SETTLE_S = 3.0
"""After the last lot, how long the alerts must stay the same (the last matches coming back)."""
ROUNDS = 200
QUICK_ROUNDS = 40


class Kept:
    """A producer that keeps the records it is given."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, int]] = []

    def send(self, topic, *, value, key=None, headers=None, partition=None) -> None:
        self.records.append((value, partition))

    def partitions(self, topic: str) -> int:
        return PARTITIONS


def split_file(scenario: Scenario = SPLIT, seed: int = 70) -> tuple[Path, set[str]]:
    """The scenario's events and its attacking keys."""
    events, truth = write_scenario(scenario, WORKDIR, seed=seed)
    keys = {t["client_id"] for t in map(orjson.loads, truth.read_bytes().splitlines()) if t["attack"]}
    return events, keys


def grouped(rows: list[dict], keys: set[str]) -> dict:
    """Keys alerted and named by the split-probing alerts, and their group ids."""
    rows = [row for row in rows if row["detector"] == DETECTOR]
    alerted = {row["client_id"] for row in rows}
    named = alerted.union(*(row["related_clients"] or () for row in rows))
    return {"keys": len(keys), "alerted": sorted(alerted & keys), "named": sorted(named & keys),
            "group_ids": len({row["group_id"] for row in rows})}  # fmt: skip


def replayed(events: Path, keys: set[str], folder: Path) -> dict:
    url = f"sqlite:///{folder / f'{events.stem}.db'}"
    subprocess.run([sys.executable, "-m", "detector", "replay", str(events), "--database-url", url], capture_output=True,
                   check=True)  # fmt: skip
    exported = subprocess.run([sys.executable, "-m", "detector", "alerts", "export", "--database-url", url, "--format",
                               "jsonl"], capture_output=True, check=True).stdout  # fmt: skip
    return grouped([orjson.loads(line) for line in exported.splitlines()], keys)


def with_workers(count: int, events: Path, keys: set[str], broker: KafkaBroker, postgres: PostgresServer, folder: Path) -> dict:
    """``count`` workers with the exchange, fed the events a lot at a time; the group they alert."""
    name = f"exchange-{uuid.uuid4().hex}"
    for topic, partitions in ((name, PARTITIONS), (f"{name}.dlq", 1), (f"{name}.fp", PARTITIONS), (f"{name}.fp.matches", 2)):
        broker.create_topic(topic, partitions=partitions)
    store = Store(postgres.create_database(f"bench_{uuid.uuid4().hex}"))
    env = worker_env(database_url=store.url, bootstrap=broker.bootstrap, topic=name, library="kafka-python",
                     rules=Path(""), fingerprint_topic=f"{name}.fp")  # fmt: skip
    env["INVDET_RULES"] = ""  # the built-in rules only
    workers = [Worker(folder, f"{name}-{i}", env).start() for i in range(count)]
    try:
        poll_until(lambda: sum(w.metric("invdet_assigned_partitions") or 0 for w in workers) == PARTITIONS,
                   timeout=120, what="partitions assigned", interval=0.1)  # fmt: skip
        messages = []
        for line in events.read_bytes().splitlines():
            client = orjson.loads(line)["client_id"].encode()
            messages.append(Message(client, line, zlib.crc32(client) % PARTITIONS))
        sent = 0
        for start in range(0, len(messages), LOT):
            sent += produce(broker.bootstrap, name, messages[start : start + LOT])
            store.wait_checkpointed(sent, workers, timeout=120)
        last = [None, time.monotonic()]

        def settled() -> bool:
            now = grouped([row._asdict() for row in store.alerts()], keys)
            if now != last[0]:
                last[:] = [now, time.monotonic()]
            return time.monotonic() - last[1] >= SETTLE_S

        poll_until(settled, timeout=120, what="the alerts settled", interval=0.2)
        return last[0]
    finally:
        for worker in workers:
            worker.stop()
        store.close()


def detection(counts: tuple[int, ...]) -> list[dict]:
    rows = []
    with KafkaBroker() as broker, PostgresServer() as postgres, tempfile.TemporaryDirectory() as scratch:
        for scenario, seed in DETECTION:
            events, keys = split_file(scenario, seed)
            row = {"scenario": scenario.name, "seed": seed, "replay": replayed(events, keys, Path(scratch))}
            for count in counts:
                say(f"[{NAME}] {scenario.name}: {count} workers ...")
                row[f"workers_{count}"] = with_workers(count, events, keys, broker, postgres, Path(scratch))
            rows.append(row)
    return rows


def bytes_and_cpu(path: Path) -> dict:
    """Publish and match one scenario; bytes and microseconds per event."""
    parser_ = Parser()
    with open(path, "rb") as lines:
        events = [parsed for line in lines if isinstance(parsed := parser_.parse(line), InferenceEvent)]
    pipeline, kept = new_pipeline(model_warmup=10**6), Kept()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'scales.db'}")
        migrate.ensure_schema(engine)
        scales = SharedScales(ScaleStore(engine), max_models=16)
        exchange = FingerprintExchange(Settings(fingerprint_topic="fp"), kept)
        exchange.partitions = PARTITIONS
        publishing = 0.0
        for start in range(0, len(events), BATCH):
            batch = events[start : start + BATCH]
            for event in batch:
                pipeline.process(event)
            began = time.perf_counter()
            scales.sync(pipeline.store.models.values())
            exchange.publish(batch, pipeline.store.models)
            publishing += time.perf_counter() - began
        engine.dispose()
    cross = CrossClient()
    owners = [BucketOwner(cross.max_keys, cross.ttl_s) for _ in range(PARTITIONS)]
    matches: list[Match] = []
    began = time.perf_counter()
    for value, partition in kept.records:
        matches += owners[partition].match(decode_fingerprints(value))
    matching = time.perf_counter() - began
    fingerprint_bytes = sum(len(value) for value, _ in kept.records)
    match_bytes = len(encode_matches(matches))
    return {
        "scenario": path.stem,
        "events": len(events),
        "published_events": exchange.published // 4,
        "records": len(kept.records),
        "fingerprint_bytes_per_event": fingerprint_bytes / len(events),
        "fingerprint_bytes_per_published_event": fingerprint_bytes / max(exchange.published // 4, 1),
        "match_bytes_per_event": match_bytes / len(events),
        "matches": len(matches),
        "publish_us_per_event": 1e6 * publishing / len(events),
        "match_us_per_event": 1e6 * matching / len(events),
        "owner_bytes": sum(owner.nbytes for owner in owners),
    }


def latency(rounds: int) -> dict:
    """Seconds from sending a fingerprint pair to the exchange thread hearing its match, per round."""
    heard: dict[str, float] = {}
    arrived = threading.Condition()

    def deliver(matches: list[Match]) -> None:
        with arrived:
            for match in matches:
                heard.setdefault(match.client_id, time.perf_counter())
            arrived.notify_all()

    with KafkaBroker() as broker:
        topic = broker.create_topic(f"fp-{uuid.uuid4().hex}", partitions=PARTITIONS)
        broker.create_topic(f"{topic}.matches", partitions=1)
        settings = Settings(kafka_bootstrap_servers=broker.bootstrap, kafka_group_id=f"bench-{uuid.uuid4().hex}",
                            fingerprint_topic=topic, kafka_session_timeout_ms=6000, kafka_fetch_max_wait_ms=100)  # fmt: skip
        loop = OwnerLoop(settings, deliver, ttl_s=120.0, max_keys=40_000)
        loop.start()
        producer = open_producer("kafka-python", broker.bootstrap)
        seconds = []
        try:
            for number in range(rounds + 1):  # the first round waits for the groups to form
                key = np.random.default_rng(number).bytes(33)
                pair = [Fingerprint("m", f"a{number}", float(number), 1, key), Fingerprint("m", f"b{number}", float(number), 2, key)]
                sent = time.perf_counter()
                producer.send(topic, value=encode_fingerprints(pair), partition=number % PARTITIONS)
                producer.flush()
                poll_until(lambda: f"b{number}" in heard, timeout=60, what=f"round {number}'s match", interval=0.001)
                if number:
                    seconds.append(heard[f"b{number}"] - sent)
        finally:
            producer.close()
            loop.stop()
    return {"rounds": rounds, "p50_s": float(np.percentile(seconds, 50)), "p99_s": float(np.percentile(seconds, 99)),
            "max_s": max(seconds), "worker_round_s": EXCHANGE_POLL_S}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__, runs=1).parse_args(argv)
    volumes = []
    for path in (scenario_file("tiny" if args.quick else "demo", dim=None), split_file()[0]):
        runs = [bytes_and_cpu(path) for _ in range(args.runs)]
        volumes.append(dict(runs[0], publish_us_per_event=median([r["publish_us_per_event"] for r in runs]),
                            match_us_per_event=median([r["match_us_per_event"] for r in runs])))  # fmt: skip
    counts = (1, 2) if args.quick else (1, 2, 4)
    found = detection(counts)
    say(f"[{NAME}] timing {QUICK_ROUNDS if args.quick else ROUNDS} rounds on a local broker ...")
    timing = latency(QUICK_ROUNDS if args.quick else ROUNDS)
    print_table(
        f"fingerprint exchange: bytes and CPU per event ({PARTITIONS} partitions, batches of {BATCH:,})",
        ["scenario", "events", "fingerprint topic", "matches topic", "publish", "match (owners)", "owners' index"],
        [[v["scenario"], f"{v['events']:,}", f"{v['fingerprint_bytes_per_event']:.0f} B/event "
          f"({v['fingerprint_bytes_per_published_event']:.0f} B a published one)", f"{v['match_bytes_per_event']:.1f} B/event",
          f"{v['publish_us_per_event']:.1f} µs/event", f"{v['match_us_per_event']:.1f} µs/event",
          f"{v['owner_bytes'] / 2**20:.2f} MiB"] for v in volumes],
    )  # fmt: skip
    print_table(
        "a match between two workers: fingerprint sent -> match heard by the exchange thread",
        ["rounds", "p50", "p99", "max", "then, at most"],
        [[timing["rounds"], f"{timing['p50_s'] * 1e3:.0f} ms", f"{timing['p99_s'] * 1e3:.0f} ms",
          f"{timing['max_s'] * 1e3:.0f} ms", f"{timing['worker_round_s'] * 1e3:.0f} ms (the worker's round)"]],
    )  # fmt: skip
    print_table(
        "split-probing with the exchange: keys alerted, keys named, group ids",
        ["scenario", "keys", "replay", *(f"{count} workers" for count in counts)],
        [[row["scenario"], row["replay"]["keys"],
          *(f"{len(g['alerted'])}, {len(g['named'])}, {g['group_ids']}" for g in
            [row["replay"], *(row[f"workers_{count}"] for count in counts)])] for row in found],
    )  # fmt: skip
    write_results(NAME, {"quick": args.quick, "runs": args.runs, "volumes": volumes, "latency": timing,
                         "detection": found}, args.out)  # fmt: skip
    return 0


def summary(report: dict) -> list[tuple[str, str, str]]:
    """(figure, value, target) lines for the suite's closing summary."""
    timing = report["latency"]
    added_p99 = timing["p99_s"] + timing["worker_round_s"]
    lines = [
        (f"exchange, {v['scenario']}: bytes per event (fingerprints + matches)",
         f"{v['fingerprint_bytes_per_event'] + v['match_bytes_per_event']:.0f} B", "-")
        for v in report["volumes"]
    ]  # fmt: skip
    lines.append(("exchange: added p99 latency of a match", f"{added_p99 * 1e3:.0f} ms",
                  "<= 1 s " + ("met" if added_p99 <= 1 else "NOT met")))  # fmt: skip
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
