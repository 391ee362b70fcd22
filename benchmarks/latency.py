"""Latency: from an event's produce time to its alert row being committed, and to the webhook receiving it.

A worker (``python -m detector run``, as users start it) consumes a
4-partition topic on a throwaway Tansu broker, stores into a fresh PostgreSQL
database and runs the webhook dispatcher, which posts to a receiver on
loopback in this process. Once the worker owns every partition, the events of
the simulator's ``standard`` scenario cut to its 64-value model (attackers
among them) are produced in file order at a fixed rate; each event's produce
time is this process's wall clock when it was handed to the producer.

- alert row: this process polls the ``alerts`` table every
  ``POLL_S`` and notes when each alert first becomes visible, i.e. committed;
- webhook: the receiver notes when each alert's first accepted POST arrived.

Each latency runs from the alert's trigger event's produce time. The
worker's checkpoint interval bounds how soon an alert row can be committed and
the dispatcher's poll interval how soon it is sent, so both are set here and
printed with the figures (``--checkpoint-every-s``, ``--webhook-poll-s``).

    python -m benchmarks.latency                    # 2,000 events/s for 20 s, kafka-python
    python -m benchmarks.latency --library confluent
    python -m benchmarks.latency --quick            # 5 s, the demo scenario
"""

from __future__ import annotations

import itertools
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import orjson
from sqlalchemy import select

from benchmarks.report import parser, print_table, say, scenario_file, verdict, write_results
from detector.db.tables import alerts
from detector.kafka import LIBRARIES, open_producer
from detector.settings import Settings
from tests.services import KafkaBroker, PostgresServer, poll_until
from tests.worker.harness import Store, WebhookReceiver, Worker, worker_env

NAME = "latency"
PARTITIONS = 4
POLL_S = 0.02
TICK_S = 0.01
"""The producer sends what is due every tick, then waits for the broker's acknowledgement."""
DRAIN_TIMEOUT_S = 600.0
TARGET_ROW_P99_S = 1.0
TARGET_WEBHOOK_P99_S = 2.0


class AlertWatcher(threading.Thread):
    """Polls the alerts table; remembers when each alert id was first seen, and its trigger event."""

    def __init__(self, store: Store) -> None:
        super().__init__(daemon=True)
        self.store = store
        self.seen: dict[str, tuple[float, str]] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        query = select(alerts.c.alert_id, alerts.c.trigger_event_id)
        while not self.stopping.is_set():
            try:
                with self.store.engine.connect() as connection:
                    rows = connection.execute(query).all()
            except Exception:  # the schema may not exist yet
                rows = []
            now = time.time()
            for alert_id, trigger in rows:
                self.seen.setdefault(alert_id, (now, trigger))
            self.stopping.wait(POLL_S)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


def paced_produce(bootstrap: str, topic: str, lines: list[bytes], rate: float) -> dict[str, float]:
    """Send ``lines`` at ``rate`` per second; each event id's produce time (wall clock)."""
    producer = open_producer("confluent", bootstrap)
    produced: dict[str, float] = {}
    started = time.monotonic()
    sent = 0
    try:
        while sent < len(lines):
            due = min(len(lines), int((time.monotonic() - started) * rate) + 1)
            for line in lines[sent:due]:
                event = orjson.loads(line)
                produced[event["event_id"]] = time.time()
                producer.send(topic, value=line, key=event["client_id"].encode())
            sent = due
            producer.flush(30)
            if sent < len(lines):
                time.sleep(max(TICK_S, started + sent / rate - time.monotonic()))
    finally:
        producer.close()
    return produced


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "p50": None, "p99": None, "max": None}
    return {"count": len(values), "p50": float(np.percentile(values, 50)), "p99": float(np.percentile(values, 99)),
            "max": float(max(values))}  # fmt: skip


def measure(path: Path, rate: float, seconds: float, library: str, checkpoint_every_s: float, webhook_poll_s: float) -> dict:
    with open(path, "rb") as lines:
        events = [line.rstrip(b"\n") for line in itertools.islice(lines, int(rate * seconds))]
    receiver = WebhookReceiver()
    receiver.listen()
    with KafkaBroker() as broker, PostgresServer() as postgres, tempfile.TemporaryDirectory() as folder:
        topic = broker.create_topic(f"bench-{uuid.uuid4().hex}", partitions=PARTITIONS)
        url = postgres.create_database("latency")
        defaults = Settings()
        env = worker_env(
            database_url=url, bootstrap=broker.bootstrap, topic=topic, library=library, rules=Path(""),
            model_warmup=defaults.model_warmup, shutdown_timeout_s=defaults.shutdown_timeout_s,
            checkpoint_every_s=checkpoint_every_s, webhook_poll_s=webhook_poll_s, webhook_url=receiver.url,
        )  # fmt: skip
        env["INVDET_RULES"] = ""  # empty counts as unset: the built-in rules only
        worker = Worker(Path(folder), "worker", env).start()
        store = Store(url)
        watcher = AlertWatcher(store)
        try:
            worker.wait_for_metric("invdet_assigned_partitions", PARTITIONS, timeout=60)
            watcher.start()
            say(f"[{NAME}] producing {len(events):,} events at {rate:,.0f}/s with {library} consuming ...")
            started = time.time()
            produced = paced_produce(broker.bootstrap, topic, events, rate)
            produce_s = time.time() - started
            store.wait_checkpointed(len(events), [worker], timeout=DRAIN_TIMEOUT_S)
            caught_up_s = time.time() - started
            poll_until(lambda: len(receiver.accepted()) >= len(watcher.seen), timeout=DRAIN_TIMEOUT_S,
                       what="every alert delivered to the webhook", interval=0.05)  # fmt: skip
            worker.terminate()
        finally:
            watcher.stop()
            worker.stop()
            store.close()
            receiver.close()
    delivered: dict[str, float] = {}
    for request in receiver.accepted():
        delivered.setdefault(request.alert_id, request.received_at)
    to_row, to_webhook, samples = [], [], []
    for alert_id, (seen_at, trigger) in watcher.seen.items():
        if trigger not in produced:
            continue
        to_row.append(seen_at - produced[trigger])
        if alert_id in delivered:
            to_webhook.append(delivered[alert_id] - produced[trigger])
        samples.append({"alert_id": alert_id, "trigger_event_id": trigger, "produced": produced[trigger],
                        "row_seen": seen_at, "webhook_received": delivered.get(alert_id)})  # fmt: skip
    row, webhook = percentiles(to_row), percentiles(to_webhook)
    return {
        "events_file": str(path),
        "events": len(events),
        "rate": rate,
        "achieved_rate": len(events) / produce_s,
        "worker_caught_up_after_s": caught_up_s,
        "library": library,
        "store": "postgresql",
        "checkpoint_every_s": checkpoint_every_s,
        "webhook_poll_s": webhook_poll_s,
        "alerts": len(watcher.seen),
        "to_alert_row_s": row,
        "to_webhook_s": webhook,
        "samples": samples,
        "targets": {
            "alert_row_p99_s": {"value": row["p99"], "target": TARGET_ROW_P99_S,
                                "met": None if row["p99"] is None else row["p99"] <= TARGET_ROW_P99_S},
            "webhook_p99_s": {"value": webhook["p99"], "target": TARGET_WEBHOOK_P99_S,
                              "met": None if webhook["p99"] is None else webhook["p99"] <= TARGET_WEBHOOK_P99_S},
        },
    }  # fmt: skip


def seconds_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_report(report: dict) -> None:
    rows = []
    for label, key, target in (("event -> alert row committed", "to_alert_row_s", "alert_row_p99_s"),
                               ("event -> webhook received", "to_webhook_s", "webhook_p99_s")):  # fmt: skip
        figures, goal = report[key], report["targets"][target]
        rows.append([label, figures["count"], seconds_text(figures["p50"]), seconds_text(figures["p99"]),
                     seconds_text(figures["max"]), f"p99 <= {goal['target']:.0f} s: {verdict(goal['met'])}"])  # fmt: skip
    print_table(
        f"latency: {report['events']:,} events produced at {report['achieved_rate']:,.0f}/s "
        f"(asked {report['rate']:,.0f}/s), {report['library']} worker, PostgreSQL, "
        f"checkpoint every {report['checkpoint_every_s']} s, webhook poll {report['webhook_poll_s']} s; "
        f"worker caught up {report['worker_caught_up_after_s']:.1f} s after the first event",
        ["path", "alerts", "p50 s", "p99 s", "max s", "target"],
        rows,
    )


def summary(report: dict) -> list[tuple[str, str, str]]:
    """(figure, value, target) lines for the suite's closing summary."""
    row, webhook, targets = report["to_alert_row_s"], report["to_webhook_s"], report["targets"]
    return [
        (f"event -> alert row p50/p99 ({row['count']} alerts)", f"{seconds_text(row['p50'])} / {seconds_text(row['p99'])} s",
         f"p99 <= {TARGET_ROW_P99_S:.0f} s: {verdict(targets['alert_row_p99_s']['met'])}"),
        ("event -> webhook p50/p99", f"{seconds_text(webhook['p50'])} / {seconds_text(webhook['p99'])} s",
         f"p99 <= {TARGET_WEBHOOK_P99_S:.0f} s: {verdict(targets['webhook_p99_s']['met'])}"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    arguments = parser(__doc__, runs=1)
    arguments.add_argument("--rate", type=float, default=2000.0, help="events produced per second (default 2,000)")
    arguments.add_argument("--seconds", type=float, default=None, help="how long to produce (default 20; quick: 5)")
    arguments.add_argument("--library", choices=LIBRARIES, default="kafka-python", help="the worker's Kafka client")
    arguments.add_argument("--checkpoint-every-s", type=float, default=0.5, help="the worker's checkpoint interval")
    arguments.add_argument("--webhook-poll-s", type=float, default=0.1, help="the dispatcher's poll interval")
    args = arguments.parse_args(argv)
    scenario = "demo" if args.quick else "standard"
    seconds = args.seconds if args.seconds is not None else (5.0 if args.quick else 20.0)
    report = {"scenario": scenario, "quick": args.quick,
              **measure(scenario_file(scenario), args.rate, seconds, args.library, args.checkpoint_every_s,
                        args.webhook_poll_s)}  # fmt: skip
    print_report(report)
    write_results(NAME, report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
