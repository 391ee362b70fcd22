"""Fingerprint exchange: the bytes it adds per event on its two topics, its CPU per event, and the
latency a match adds between two workers.

- Bytes and CPU: the simulator's ``demo`` scenario (``--quick``: ``tiny``), and a split one (benign
  clients and one walk split round-robin over 12 keys, the integration test's), each through a pipeline, each batch of 2,000 events published as a worker publishes it (with the model's scale
  shared through a SQLite store, to a producer that keeps the records), then matched by the owners of
  the fingerprint topic's 8 partitions; the record values' bytes per event on each topic, and the
  microseconds per event of publishing and of matching. (Kafka's framing adds about 70 bytes a
  record batch and 10-20 a record: one record per partition per batch, so well under a byte an event.)
- Latency: on a local Tansu broker, a worker's exchange thread (its bucket owner and its match
  listener); two fingerprints of one bucket sent at once, timed until the thread hears their match
  (the fingerprint topic's fetch, the matching, the matches topic's produce and fetch). A worker
  takes what its thread heard at its next round, at most ``EXCHANGE_POLL_S`` later.

    python -m benchmarks.exchange [--quick] [--runs N]
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from benchmarks.report import WORKDIR, median, parser, print_table, say, scenario_file, write_results
from benchmarks.scaling import new_pipeline
from detector.db import migrate
from detector.db.engine import make_engine
from detector.event import InferenceEvent
from detector.exchange.bucket_owner import BucketOwner
from detector.exchange.exchange import FingerprintExchange
from detector.exchange.owner_loop import OwnerLoop
from detector.exchange.wire import Fingerprint, Match, decode_fingerprints, encode_fingerprints, encode_matches
from detector.kafka import open_producer
from detector.parse import Parser
from detector.settings import Settings
from detector.simulator import Scenario, write_scenario
from detector.worker.worker import EXCHANGE_POLL_S
from featurizers.cross_client import CrossClient
from tests.services import KafkaBroker, poll_until

NAME = "exchange"
PARTITIONS = 8
BATCH = 2_000
SPLIT = Scenario("exchange-split", duration_s=900.0, benign={"interactive": 4, "batch": 1}, careful={"split": 1},
                 budget_scale=0.3)  # fmt: skip
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


def split_file() -> Path:
    """Benign clients and one walk split over 12 keys (seed 70 of this scenario)."""
    events, _ = write_scenario(SPLIT, WORKDIR, seed=70)
    return events


def bytes_and_cpu(path: Path) -> dict:
    """Publish and match one scenario; bytes and microseconds per event."""
    parser_ = Parser()
    with open(path, "rb") as lines:
        events = [parsed for line in lines if isinstance(parsed := parser_.parse(line), InferenceEvent)]
    pipeline, kept = new_pipeline(model_warmup=10**6), Kept()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'scales.db'}")
        migrate.ensure_schema(engine)
        exchange = FingerprintExchange(Settings(fingerprint_topic="fp"), engine, kept)
        exchange.partitions = PARTITIONS
        publishing = 0.0
        for start in range(0, len(events), BATCH):
            batch = events[start : start + BATCH]
            for event in batch:
                pipeline.process(event)
            began = time.perf_counter()
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
    for path in (scenario_file("tiny" if args.quick else "demo", dim=None), split_file()):
        runs = [bytes_and_cpu(path) for _ in range(args.runs)]
        volumes.append(dict(runs[0], publish_us_per_event=median([r["publish_us_per_event"] for r in runs]),
                            match_us_per_event=median([r["match_us_per_event"] for r in runs])))  # fmt: skip
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
    write_results(NAME, {"quick": args.quick, "runs": args.runs, "volumes": volumes, "latency": timing}, args.out)
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
