"""The worker's side of the fingerprint exchange: publish its clients' fingerprints, take the matches.

:meth:`FingerprintExchange.publish` fingerprints each processed input with the projection of the
model's shared input scale (:mod:`~detector.exchange.scales`) and sends, per batch, one record to each
fingerprint-topic partition that has fingerprints for it (bucket -> partition by
:func:`~detector.exchange.wire.bucket_partition`). The records go out with the worker's producer, which
the checkpoint flushes before it stores offsets; after a crash the next owner of the events'
partition processes the events since the checkpoint again and publishes them again (their owner
overwrites the same entries).

:meth:`FingerprintExchange.matches` hands the worker the matches its exchange thread heard
(:mod:`~detector.exchange.owner_loop`) for the clients it holds, each (model, client, input, partner)
once: a partition read again by a new owner finds the same matches again. Partners the worker holds
itself are left out, as its own cross-client index matches those already; so a lone worker's features
and alerts are the same with the exchange as without it.
"""

from __future__ import annotations

import logging
import queue
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

from detector.event import InferenceEvent
from detector.exchange.owner_loop import OwnerLoop
from detector.exchange.scales import SharedProjections
from detector.exchange.wire import Fingerprint, Match, bucket_partition, encode_fingerprints
from detector.kafka import Producer
from detector.settings import Settings
from featurizers.cross_client import CrossClient, exact_hash, fingerprint
from featurizers.state import ModelState

log = logging.getLogger(__name__)

MAX_LOTS_WAITING = 256
"""Lots of matches (one per poll of the matches topic) waiting for the worker to take them, at most."""
MAX_REMEMBERED = 100_000
"""(model, client, input, partner) matches remembered (by a hash, at most about 13 MiB) to recognise one heard again."""
PRINTS_PER_RECORD = 10_000
"""At most this many fingerprints a record (about 700 kB)."""


class FingerprintExchange:
    """Publishes fingerprints and delivers matches; :meth:`start` and :meth:`close` run its thread."""

    def __init__(self, settings: Settings, producer: Producer) -> None:
        assert settings.fingerprint_topic is not None, "the exchange needs fingerprint_topic"
        self.topic = settings.fingerprint_topic
        self.producer = producer
        self.scales = SharedProjections(settings.max_models)
        cross = CrossClient()
        self.heard: queue.Queue[list[Match]] = queue.Queue(MAX_LOTS_WAITING)
        self.dropped = 0
        """Matches heard but dropped while the worker did not take them (its loop held up)."""
        self.loop = OwnerLoop(settings, self._hear, ttl_s=cross.ttl_s, max_keys=cross.max_keys)
        self.remembered: OrderedDict[int, None] = OrderedDict()
        self.partitions: int | None = None
        self.published = 0
        """Fingerprints sent so far."""

    def start(self) -> None:
        self.partitions = self.producer.partitions(self.topic)
        self.loop.start()

    def close(self) -> None:
        self.loop.stop()

    def publish(self, events: Iterable[InferenceEvent], models: Mapping[str, ModelState]) -> None:
        """Send the fingerprints of the events' inputs (those of models with a shared scale)."""
        assert self.partitions is not None, "start() first"
        bound: dict[int, list[Fingerprint]] = {}
        for event in events:
            model = models.get(event.model_id)
            x = event.input_vector
            if model is None or x is None:
                continue
            projection = self.scales.projection(model, len(x))
            if projection is None:
                continue
            exact = exact_hash(x)
            for key in fingerprint(*projection, x):
                partition = bucket_partition(event.model_id, key, self.partitions)
                bound.setdefault(partition, []).append(Fingerprint(event.model_id, event.client_id, event.ts, exact, key))
        for partition, prints in bound.items():
            for start in range(0, len(prints), PRINTS_PER_RECORD):
                value = encode_fingerprints(prints[start : start + PRINTS_PER_RECORD])
                self.producer.send(self.topic, value=value, partition=partition)
            self.published += len(prints)

    def matches(self, held: Callable[[str, str], bool]) -> list[Match]:
        """The matches heard since the last call for the clients ``held(model_id, client_id)`` by this
        worker, each partner of each input once, without the partners it holds itself; matches left with
        no partner are dropped. A match of a client held elsewhere is not remembered: if the client comes
        here (its partition's owner crashed), the match is found again when its input is processed again,
        and taken then."""
        fresh = []
        while True:
            try:
                lot = self.heard.get_nowait()
            except queue.Empty:
                return fresh
            for match in lot:
                if not held(match.model_id, match.client_id):
                    continue
                partners = tuple(p for p in match.partners if not held(match.model_id, p) and self._first(match, p))
                if partners:
                    fresh.append(Match(match.model_id, match.client_id, match.ts, match.exact, partners))

    def _hear(self, lot: list[Match]) -> None:
        """On the exchange's thread: keep a lot of matches for the worker, unless too many wait already
        (the worker is held up, by a database outage say): then the lot is dropped and counted."""
        try:
            self.heard.put_nowait(lot)
        except queue.Full:
            self.dropped += len(lot)
            log.warning("fingerprint exchange: %d matches dropped so far, the worker is not taking them", self.dropped)

    def _first(self, match: Match, partner: str) -> bool:
        key = hash((match.model_id, match.client_id, match.ts, match.exact, partner))  # 64 bits: ~100 bytes a match
        if key in self.remembered:
            return False
        self.remembered[key] = None
        if len(self.remembered) > MAX_REMEMBERED:
            self.remembered.popitem(last=False)
        return True
