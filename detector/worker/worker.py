"""The Kafka worker: a consumer-group member that checkpoints alerts, state and offsets together.

One pipeline per assigned partition (its clients' state moves with the
partition), sharing per-model state and River models. After every
``checkpoint_every_events`` records or ``checkpoint_every_s`` seconds:

1. the dead-letter producer is flushed (every bad record is in the topic);
2. one database transaction writes the new and updated alerts with their
   webhook outbox rows, each partition's client state and next offset, and
   the state of the models the interval touched (a model's row keeps the view that took in the most
   of its events: :meth:`~detector.worker.checkpoint_store.CheckpointStore.save_model`);
3. the offsets are committed to Kafka as well (a fallback only: the database
   is the source of truth).

A crash anywhere loses nothing and duplicates nothing: the next owner of a
partition restores its state as of the last checkpoint and seeks to the
checkpoint's offset, so the records after it are processed exactly once more
against exactly the state they first met. While the database is down the
worker stops, keeps its group membership, retries with backoff, and goes on
where it was when the database is back.

After each batch the models it touched share their settled input scales through the database
(:mod:`detector.worker.shared_scales`): every worker of the group then computes a model's features with
the same scale.

With ``fingerprint_topic`` set, the worker also takes part in the fingerprint exchange
(:mod:`detector.exchange`): it publishes the fingerprints of each batch's inputs, and takes the
matches other workers' clients gave its own clients into their cross-client features, scoring
such a client's window again; a split attack's group alerts then claim their group id in the
database (:class:`~detector.db.group_claims.GroupClaims`), as their members are alerted by several
workers at once.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from detector.anomaly_model import WindowAnomalyModel
from detector.assembly import load_rules_and_calibration
from detector.calibration import Calibration, CalibrationError
from detector.db.alert_store import AlertStore
from detector.db.group_claims import GroupClaims
from detector.db.model_scales import ScaleStore
from detector.decide import AlertChange
from detector.event import InferenceEvent
from detector.event_time import EventClock
from detector.exchange.exchange import FingerprintExchange
from detector.formats import Rejected, open_decoder
from detector.group_ids import GroupIds
from detector.kafka import Consumer, ConsumerConfig, KafkaClientError, Producer, TopicPartition, open_consumer
from detector.model_bound import ModelBound
from detector.parse import Parser
from detector.pipeline import Pipeline
from detector.runner import RunSummary, adopt_replaced, dead_letter_rejected, process_record
from detector.settings import Settings
from detector.sinks.alert_sink import AlertSink
from detector.sinks.dead_letter import KafkaDeadLetterSink
from detector.worker.backoff import Backoff
from detector.worker.checkpoint_store import CheckpointStore, Claim
from detector.worker.health import database_reachable
from detector.worker.metrics import WorkerMetrics
from detector.worker.shared_scales import SharedScales
from detector.worker.shutdown import Shutdown
from detector.worker.snapshot import SnapshotError, dump_clients, dump_model, load_clients, load_model
from featurizers.state import ModelState, StateStore
from rules import RuleLoadError, RuleSet

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE = (OperationalError, InterfaceError, IntegrityError, KafkaClientError)
"""Failures of a service that comes back (a database restart, a broker hiccup, a lost insert race)."""

FIRST_RETRY_S = 0.1
EXCHANGE_POLL_S = 0.1
"""Longest the event poll waits with the fingerprint exchange on, so that matches are taken soon."""


class Unavailable(Exception):
    """A service stayed down until the stop deadline."""


def one_line(exc: BaseException) -> str:
    """The first line of an error, for logs (database errors carry their SQL on later lines)."""
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__


@dataclass
class PartitionTask:
    """What the worker holds for one assigned partition."""

    tp: TopicPartition
    epoch: int
    pipeline: Pipeline
    clock: EventClock
    sink: AlertSink
    next_offset: int | None
    dirty: bool = False
    evictions_seen: int = 0


class Worker:
    """Consumes until :attr:`shutdown` is requested; also the consumer's rebalance listener."""

    def __init__(
        self,
        settings: Settings,
        ruleset: RuleSet,
        engine: Engine,
        producer: Producer,
        *,
        metrics: WorkerMetrics,
        shutdown: Shutdown,
        calibration: Calibration | None = None,
    ) -> None:
        self.settings = settings
        self.ruleset = ruleset
        self.calibration = calibration
        self.engine = engine
        self.producer = producer
        self.metrics = metrics
        self.shutdown = shutdown
        self.checkpoints = CheckpointStore(engine, settings.kafka_group_id)
        self.alert_store = AlertStore(engine)
        self.dead_letters = KafkaDeadLetterSink(producer, settings.kafka_dlq_topic)
        self.parser = Parser()
        self.decoder = open_decoder(settings)
        self.tasks: dict[TopicPartition, PartitionTask] = {}
        self.model_states: dict[str, ModelState] = {}
        self.anomaly_models: dict[str, WindowAnomalyModel] = {}
        self.model_bound = ModelBound(settings.max_models, self.model_states, self.anomaly_models,
                                      save=self._save_evicted_model, load=self._load_model)  # fmt: skip
        self.scales = SharedScales(ScaleStore(engine), settings.max_models)
        self.exchange = FingerprintExchange(settings, producer) if settings.fingerprint_topic else None
        claims = GroupClaims(engine)
        self.groups = GroupIds(
            lookup=lambda *key: self._retrying(lambda: self.alert_store.find_group(*key), "group lookup"),
            max_members=settings.max_clients,
            claim=None if self.exchange is None else
            lambda *key: self._retrying(lambda: claims.claim(*key), "group claim"),
        )  # fmt: skip
        self.model_evictions_seen = 0
        self.touched_models: set[str] = set()
        self.totals = RunSummary()
        self.since_checkpoint = 0
        self.last_checkpoint = time.monotonic()
        self.in_rebalance = False
        self.consumer: Consumer | None = None

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        """Join the group and consume until stopped; the exit status (0: stopped cleanly, after a
        final checkpoint; 1: a service stayed down, the next start resumes from the last checkpoint)."""
        settings = self.settings
        config = ConsumerConfig(
            settings.kafka_bootstrap_servers,
            settings.kafka_group_id,
            (settings.kafka_topic,),
            session_timeout_ms=settings.kafka_session_timeout_ms,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        )
        self.consumer = open_consumer(settings.kafka_client, config, self)
        if self.exchange is not None:
            self.exchange.start()
        log.info(
            "consuming", extra={"topic": settings.kafka_topic, "group_id": settings.kafka_group_id,
                                "kafka_client": settings.kafka_client},
        )  # fmt: skip
        status = 1
        try:
            status = self._consume()
        except Unavailable as exc:
            log.error("stopping without a final checkpoint: %s; the next start resumes from the last one", exc)
        finally:
            if status != 0:
                self._drop(list(self.tasks))  # nothing half-done may be checkpointed by the revoke on close
            self.consumer.close()
            if self.exchange is not None:
                self.exchange.close()
            self.producer.close()
        self.totals.seconds = time.perf_counter() - self.totals.started
        log.info(
            "stopped", extra={"events": self.totals.events, "accepted": self.totals.accepted,
                              "dead_letters": dict(self.totals.dead_letters), "seconds": round(self.totals.seconds, 3),
                              "exit_status": status},
        )  # fmt: skip
        return status

    def _consume(self) -> int:
        poll_timeout_s = self.settings.kafka_poll_timeout_ms / 1000
        if self.exchange is not None:  # matches heard wait for the loop's next round
            poll_timeout_s = min(poll_timeout_s, EXCHANGE_POLL_S)
        while not self.shutdown.requested:
            if self.shutdown.reload.is_set():
                self.shutdown.reload.clear()
                self.reload_rules()
            records = self.consumer.poll(self.settings.batch_size, poll_timeout_s)
            if records:
                self.process(records)
            if self.exchange is not None:
                self.take_matches()
            self.reject(self.decoder.expire_idle())
            self.observe()
            if self._checkpoint_due():
                self.checkpoint()
        self.reject(self.decoder.drain())
        self.checkpoint()
        return 0

    def process(self, records: Sequence) -> None:
        """Run one polled batch through the partitions' pipelines."""
        started = time.perf_counter()
        dead_before = Counter(self.totals.dead_letters)
        taken: list[InferenceEvent] = []
        batch_models: set[str] = set()
        for record in records:
            task = self.tasks.get((record.origin, record.partition))
            if task is None or (task.next_offset is not None and record.offset < task.next_offset):
                continue  # not ours any more, or before the checkpoint we resumed from
            processed = process_record(
                record, self.parser, task.clock, task.pipeline, task.sink, self.dead_letters, self.totals, self.decoder
            )
            batch_models.update(event.model_id for event in processed)
            taken += processed
            task.next_offset = record.offset + 1
            task.dirty = True
        self.touched_models |= batch_models
        self.scales.sync(self.model_states[m] for m in batch_models if m in self.model_states)
        if self.exchange is not None:
            published = self.exchange.published
            self.exchange.publish(taken, self.model_states)
            self.metrics.fingerprints_published.inc(self.exchange.published - published)
        self.totals.alerts.clear()  # alerts are counted when they are stored, at the checkpoint
        self.since_checkpoint += len(records)
        self.metrics.events.inc(len(records))
        for reason, count in (self.totals.dead_letters - dead_before).items():
            self.metrics.dead_letters.labels(reason).inc(count)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)

    def take_matches(self) -> None:
        """The exchange's matches for the clients held here, into their features; each client they
        changed is scored again (its alert changes go to its partition's sink)."""
        pipelines = [task.pipeline for task in self.tasks.values()]

        def held(model_id: str, client_id: str) -> bool:
            return any((model_id, client_id) in pipeline.store.clients for pipeline in pipelines)

        credited: dict[tuple[str, str], PartitionTask] = {}
        for match in self.exchange.matches(held):
            for task in self.tasks.values():
                if task.pipeline.credit_match(match.model_id, match.client_id, match.ts, match.exact, set(match.partners)):
                    credited[(match.model_id, match.client_id)] = task
                    self.metrics.matches_taken.inc()
        for key, task in credited.items():
            changes = task.pipeline.rescore(task.pipeline.store.clients[key])
            if changes:
                task.sink.add(changes)
            task.dirty = True

    def reject(self, rejected: list[Rejected]) -> None:
        """Dead-letter what the input format gave up on between records (halves whose partner never
        came), and make sure the dead-letter topic has them."""
        if not rejected:
            return
        dead_letter_rejected(rejected, self.dead_letters, self.totals)
        for item in rejected:
            self.metrics.dead_letters.labels(item.letter.reason).inc()
        self._retrying(self.dead_letters.flush, "dead-letter flush")

    def observe(self) -> None:
        """Lag per partition, tracked clients and evictions."""
        tracked = 0
        for task in self.tasks.values():
            store = task.pipeline.store
            tracked += len(store)
            if store.evicted > task.evictions_seen:
                self.metrics.evictions.inc(store.evicted - task.evictions_seen)
                task.evictions_seen = store.evicted
            highwater = self.consumer.highwater(task.tp)
            if highwater is not None and task.next_offset is not None:
                self.metrics.lag.labels(*map(str, task.tp)).set(max(highwater - task.next_offset, 0))
        self.metrics.tracked_clients.set(tracked)
        self.metrics.tracked_models.set(len(self.model_bound))
        self.metrics.model_evictions.inc(self.model_bound.evicted - self.model_evictions_seen)
        self.model_evictions_seen = self.model_bound.evicted

    def _checkpoint_due(self) -> bool:
        if self.since_checkpoint >= self.settings.checkpoint_every_events:
            return True
        overdue = time.monotonic() - self.last_checkpoint >= self.settings.checkpoint_every_s
        return overdue and any(task.dirty for task in self.tasks.values())

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint(self) -> None:
        """Store everything processed so far (retrying while the database is down), then commit to Kafka."""
        dirty = [task for task in self.tasks.values() if task.dirty and task.next_offset is not None]
        if not dirty:
            self.since_checkpoint = 0
            self.last_checkpoint = time.monotonic()
            return
        started = time.perf_counter()
        owned, replaced, created = self._retrying(lambda: self._write_checkpoint(dirty), "checkpoint")
        elapsed = time.perf_counter() - started
        self.metrics.checkpoint_seconds.observe(elapsed)
        fenced = [task.tp for task in dirty if task.tp not in owned]
        if fenced:
            log.warning("partitions taken over by another worker meanwhile; dropping them",
                        extra={"partitions": [f"{t}/{p}" for t, p in fenced]})  # fmt: skip
            self._drop(fenced)
        for task in dirty:
            if task.tp in owned:
                adopt_replaced(replaced[task.tp], task.pipeline, self.totals)
                task.dirty = False
        self.totals.alerts.clear()
        for change in created:
            alert = change.alert
            self.metrics.alerts.labels(alert.detector, alert.severity).inc()
            log.info(
                "alert raised: %s", alert.summary,
                extra={"alert_id": alert.alert_id, "client_id": alert.client_id, "model_id": alert.model_id,
                       "detector": alert.detector, "severity": alert.severity, "score": alert.score},
            )  # fmt: skip
        log.debug("checkpoint", extra={"seconds": round(elapsed, 4), "partitions": len(owned)})
        self.touched_models.clear()
        self.since_checkpoint = 0
        self.last_checkpoint = time.monotonic()
        if not self.in_rebalance:  # kafka-python cannot commit from inside its rebalance callbacks
            self._commit_to_kafka([task for task in dirty if task.tp in owned])

    def _write_checkpoint(
        self, dirty: list[PartitionTask]
    ) -> tuple[set[TopicPartition], dict[TopicPartition, dict[str, AlertChange]], list[AlertChange]]:
        """One attempt: the transaction, or nothing (the sinks keep their pending alerts on failure)."""
        self.dead_letters.flush()
        pending = {task.tp: dict(task.sink.pending) for task in dirty}
        replaced: dict[TopicPartition, dict[str, AlertChange]] = {}
        try:
            with self.engine.begin() as connection:
                owned = self.checkpoints.still_owned(connection, {task.tp: task.epoch for task in dirty})
                for task in dirty:
                    if task.tp in owned:
                        replaced[task.tp] = task.sink.flush(connection)
                        blob = dump_clients(task.pipeline.store)
                        self.checkpoints.save_partition(connection, task.tp, task.next_offset, blob)
                for model_id in sorted(self.touched_models & self.model_states.keys()):  # evicted ones are saved
                    state = self.model_states[model_id]
                    blob = dump_model(state, self.anomaly_models.get(model_id))
                    self.checkpoints.save_model(connection, model_id, blob, state.observed)
        except BaseException:
            for task in dirty:
                task.sink.pending = pending[task.tp]  # nothing was stored: keep it for the next attempt
            raise
        created = [change for tp in owned for change in pending[tp].values() if change.new]
        created += [change for tp in owned for change in replaced[tp].values()]
        return owned, replaced, created

    def _commit_to_kafka(self, tasks: list[PartitionTask]) -> None:
        offsets = {task.tp: task.next_offset for task in tasks if task.next_offset is not None}
        if not offsets:
            return
        try:
            self.consumer.commit(offsets)
        except KafkaClientError as exc:  # the database has the offsets; Kafka's are only a fallback
            log.warning("Kafka offset commit failed (the database checkpoint stands): %s", exc)

    def _retrying(self, action: Callable[[], T], what: str) -> T:
        """``action()``, retried with backoff while the database (or the broker) is unavailable;
        raises :class:`Unavailable` once a stop is requested and its deadline is too near to wait."""
        backoff = Backoff(FIRST_RETRY_S, self.settings.db_retry_max_s)
        while True:
            try:
                return action()
            except RETRYABLE as exc:
                delay = backoff.next()
                self.metrics.retries.labels(what).inc()
                if self.shutdown.requested and delay + 1.0 >= self.shutdown.remaining():
                    raise Unavailable(f"{what}: {one_line(exc)}") from exc
                log.warning("%s failed, retrying in %.1f s: %s", what, delay, one_line(exc),
                            extra={"attempt": backoff.attempts})  # fmt: skip
                time.sleep(delay)

    # -- rebalance listener -----------------------------------------------------------------

    def assigned(self, partitions: Sequence[TopicPartition]) -> Mapping[TopicPartition, int]:
        """Claim the partitions in the database, restore their state, and resume at their checkpoints."""
        if not partitions:
            return {}
        started = time.perf_counter()
        try:
            claims = self._retrying(lambda: self.checkpoints.claim(partitions), "claiming partitions")
        except Unavailable as exc:
            log.error("cannot restore assigned partitions while stopping: %s", exc)
            return {}
        start = {}
        for tp in partitions:
            claim = claims[tp]
            held = self.tasks.get(tp)
            if held is not None:  # still ours: keep the state in memory, under the new epoch
                held.epoch = claim.epoch
            else:
                self.tasks[tp] = self._restore(tp, claim)
            if self.tasks[tp].next_offset is not None:
                start[tp] = self.tasks[tp].next_offset
        self._share_client_bound()
        self.metrics.assigned_partitions.set(len(self.tasks))
        log.info(
            "partitions assigned",
            extra={"partitions": {f"{t}/{p}": start.get((t, p)) for t, p in partitions},
                   "restore_seconds": round(time.perf_counter() - started, 4)},
        )  # fmt: skip
        return start

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """Checkpoint, then let the partitions go."""
        held = [tp for tp in partitions if tp in self.tasks]
        if not held:
            return
        self.in_rebalance = True
        try:
            self.checkpoint()
        except Unavailable as exc:
            log.error("partitions revoked without a final checkpoint (their next owner resumes from the last one): %s", exc)
        finally:
            self.in_rebalance = False
        self._drop(held)
        log.info("partitions revoked", extra={"partitions": [f"{t}/{p}" for t, p in held]})

    def lost(self, partitions: Sequence[TopicPartition]) -> None:
        """Evicted from the group: the partitions may have a new owner already, so nothing is written."""
        held = [tp for tp in partitions if tp in self.tasks]
        self._drop(held)
        if held:
            log.warning("partitions lost (evicted from the group); their next owner resumes from the last checkpoint",
                        extra={"partitions": [f"{t}/{p}" for t, p in held]})  # fmt: skip

    def _restore(self, tp: TopicPartition, claim: Claim) -> PartitionTask:
        settings = self.settings
        store = StateStore(settings.window, settings.max_clients, settings.idle_ttl_s, models=self.model_states)
        if claim.clients_blob is not None:
            try:
                load_clients(claim.clients_blob, store)
            except SnapshotError as exc:
                log.warning("client state not restored, relearning it: %s", exc, extra={"partition": f"{tp[0]}/{tp[1]}"})
        pipeline = Pipeline(
            settings,
            self.ruleset,
            lookup=lambda *key: self._retrying(lambda: self.alert_store.find_open(*key), "alert lookup"),
            store=store,
            anomaly_models=self.anomaly_models,
            model_bound=self.model_bound,
            groups=self.groups,
            calibration=self.calibration,
        )
        sink = AlertSink(self.engine, webhook_enabled=settings.webhook_url is not None)
        clock = EventClock.for_settings(store, settings, wall=time.time)  # no event is dated past the host's clock
        return PartitionTask(tp, claim.epoch, pipeline, clock, sink, claim.next_offset, evictions_seen=store.evicted)

    def _save_evicted_model(self, model_id: str, state: ModelState, anomaly: WindowAnomalyModel | None) -> None:
        """Checkpoint a model ``max_models`` evicts (its own transaction), so that it can come back."""
        blob = dump_model(state, anomaly)

        def save() -> None:
            with self.engine.begin() as connection:
                self.checkpoints.save_model(connection, model_id, blob, state.observed)

        self._retrying(save, "checkpointing an evicted model")
        self.touched_models.discard(model_id)

    def _load_model(self, model_id: str) -> tuple[ModelState, WindowAnomalyModel | None] | None:
        """A model's checkpointed state when it is first seen (after a start, a takeover or an eviction)."""
        blob = self._retrying(lambda: self.checkpoints.model(model_id), "loading model state")
        if blob is None:
            return None
        try:
            return load_model(blob)
        except SnapshotError as exc:
            log.warning("model state not restored, relearning it: %s", exc, extra={"model_id": model_id})
            return None

    def _share_client_bound(self) -> None:
        """Split ``max_clients`` between the partitions held, so the worker's total stays bounded."""
        if self.tasks:
            share = max(1, math.ceil(self.settings.max_clients / len(self.tasks)))
            for task in self.tasks.values():
                task.pipeline.store.max_clients = share

    def _drop(self, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            if self.tasks.pop(tp, None) is not None:
                try:
                    self.metrics.lag.remove(*map(str, tp))
                except KeyError:
                    pass
        self.metrics.assigned_partitions.set(len(self.tasks))

    # -- operations -------------------------------------------------------------------------

    def reload_rules(self) -> None:
        """SIGHUP: load the rules and the calibration file again; on any error keep the current ones and
        log every problem."""
        try:
            ruleset, calibration = load_rules_and_calibration(self.settings)
        except (RuleLoadError, CalibrationError) as exc:
            for error in exc.errors:
                log.error("rule reload rejected: %s", error)
            log.error("keeping the %d rules and the calibration in force", len(list(self.ruleset)))
            return
        self.ruleset, self.calibration = ruleset, calibration
        for task in self.tasks.values():
            task.pipeline.use_rules(ruleset, calibration)
        log.info("rules reloaded", extra={"rules": len(list(ruleset)), "calibrated": calibration is not None})

    def readiness(self) -> tuple[bool, str]:
        """Ready when it owns partitions and reaches its database (called from the health thread)."""
        if not self.tasks:
            return False, "no partitions assigned"
        reachable, why = database_reachable(self.engine)
        return reachable, f"{len(self.tasks)} partitions assigned, {why}"
