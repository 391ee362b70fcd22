"""Write inference events from a Python model server to Kafka without slowing or failing a request.

:meth:`Emitter.emit` only puts the event on a bounded in-memory queue and returns at once: when the
queue is full (Kafka is down or slow) the event is dropped and counted, never waited for. A
background thread turns queued items into contract events, produces them to the topic keyed by
``client_id`` (kafka-python), and counts what the broker acknowledged and what it did not.
:meth:`Emitter.close` sends what is queued, within a deadline.

>>> emitter = Emitter("127.0.0.1:1", max_queue=1, connect=False)
>>> emitter.emit("key_7f3a", "digits:3", input=[0.0, 0.5], scores=[0.1, 0.9]), emitter.emit("k", "m", label=1)
(True, False)
>>> emitter.stats().dropped
1
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from detector.event import contract_event

log = logging.getLogger(__name__)

Build = Callable[[], Iterable[Mapping[str, Any]]]
"""Work done off the request path: returns the contract events of one request."""

CONNECT_TIMEOUT_MS = 2000
"""How long the background thread waits for a broker before it tries again (the queue keeps filling)."""


@dataclass(frozen=True)
class EmitterStats:
    """Counts since the emitter started: items queued and items dropped because the queue was full
    (an item is one event, or one request's events), events the broker acknowledged, and events that
    failed (could not be built or serialised, were not delivered, or were still queued at close)."""

    queued: int
    dropped: int
    sent: int
    failed: int


class Emitter:
    """A bounded queue in front of a Kafka producer, drained by a daemon thread."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str = "inference-logs",
        *,
        max_queue: int = 10_000,
        connect: bool = True,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.queue: queue.Queue[Mapping[str, Any] | Build] = queue.Queue(max_queue)
        self.lock = threading.Lock()
        self.counts = {"queued": 0, "dropped": 0, "sent": 0, "failed": 0}
        self.closing = threading.Event()
        self.producer: Any = None
        self.thread = threading.Thread(target=self._run, name="inference-log-emitter", daemon=True)
        if connect:
            self.thread.start()

    # -- the request path: never blocks, never raises -------------------------------------

    def emit(self, client_id: str, model_id: str, **fields: Any) -> bool:
        """Queue one prediction (the fields of :func:`contract_event`); False if it was dropped."""
        return self.submit(lambda: [contract_event(client_id, model_id, **fields)])

    def submit(self, item: Mapping[str, Any] | Build) -> bool:
        """Queue a contract event, or a function building the events of one request in the background;
        False if it was dropped (the queue is full, or the emitter is closing)."""
        if self.closing.is_set():
            self._count("dropped")
            return False
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            dropped = self._count("dropped")
            if dropped == 1 or dropped % 1000 == 0:
                log.warning("inference-log queue full: %d events dropped so far", dropped)
            return False
        self._count("queued")
        return True

    def stats(self) -> EmitterStats:
        with self.lock:
            return EmitterStats(**self.counts)

    def _count(self, name: str, n: int = 1) -> int:
        with self.lock:
            self.counts[name] += n
            return self.counts[name]

    # -- the background thread ----------------------------------------------------------------

    def close(self, timeout_s: float = 5.0) -> EmitterStats:
        """Stop taking events, send what is queued and wait for the broker, at most ``timeout_s``;
        what is left then counts as failed."""
        deadline = time.monotonic() + timeout_s
        self.closing.set()
        if self.thread.is_alive():
            self.thread.join(max(deadline - time.monotonic(), 0.0))
        left = 0
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
            left += 1
        if left:
            self._count("failed", left)
        if self.producer is not None:
            try:
                self.producer.close(timeout=max(deadline - time.monotonic(), 0.0))
            except Exception:  # noqa: BLE001 - closing must not raise into the server's shutdown
                log.warning("inference-log producer did not close cleanly", exc_info=True)
        return self.stats()

    def _run(self) -> None:
        while not (self.closing.is_set() and self.queue.empty()):
            if self.producer is None and not self._connect():
                continue
            try:
                item = self.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            self._send(item)

    def _connect(self) -> bool:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        # kafka-python 3 names the first connection's timeout bootstrap_timeout_ms, 2.0 api_version_auto_timeout_ms
        bootstrap = "bootstrap_timeout_ms" if "bootstrap_timeout_ms" in KafkaProducer.DEFAULT_CONFIG else "api_version_auto_timeout_ms"
        try:
            self.producer = KafkaProducer(
                bootstrap_servers=self.bootstrap_servers.split(","), acks="all", linger_ms=20,
                max_block_ms=CONNECT_TIMEOUT_MS, **{bootstrap: CONNECT_TIMEOUT_MS},
            )  # fmt: skip
        except KafkaError as exc:
            log.warning("cannot reach Kafka at %s for inference logs, retrying: %s", self.bootstrap_servers, exc)
            self.closing.wait(CONNECT_TIMEOUT_MS / 1000)
            return False
        return True

    def _send(self, item: Mapping[str, Any] | Build) -> None:
        try:
            events = [item] if isinstance(item, Mapping) else list(item())
            values = [(str(e["client_id"]).encode(), orjson.dumps(e, option=orjson.OPT_SERIALIZE_NUMPY)) for e in events]
        except Exception:  # noqa: BLE001 - a bad request body must not end the thread
            self._count("failed")
            log.warning("inference-log event could not be built", exc_info=True)
            return
        for key, value in values:
            try:
                future = self.producer.send(self.topic, key=key, value=value)
            except Exception as exc:  # noqa: BLE001 - e.g. no metadata within max_block_ms
                self._count("failed")
                log.warning("inference-log event not sent: %s", exc)
                continue
            future.add_callback(lambda _: self._count("sent"))
            future.add_errback(lambda _: self._count("failed"))
