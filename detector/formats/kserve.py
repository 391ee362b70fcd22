"""The ``kserve`` input format: KServe inference-logger CloudEvents, joined into contract events.

Each record is one CloudEvent, structured (a JSON object) or binary (``ce_*`` Kafka headers). A
request waits in the join buffer for its response, or the other way round
(:mod:`detector.formats.join`); the pair is translated (:mod:`detector.formats.translate`). A pair
that cannot be translated dead-letters both of its records with the reason.
"""

from __future__ import annotations

from detector.formats.cloudevent import CloudEvent, from_binary, from_structured, has_binary_headers
from detector.formats.decoder import JsonDecoder, event_records
from detector.formats.join import Pair, PairJoin
from detector.formats.rejected import FormatError, Rejected
from detector.formats.translate import Served, Translator
from detector.sources.base import Record

META_EXTENSIONS = ("namespace", "component", "endpoint")


class KServeDecoder(JsonDecoder):
    """CloudEvent records in, contract events out once both halves of a prediction are in."""

    def __init__(self, translator: Translator, join: PairJoin) -> None:
        self.translator = translator
        self.join = join

    def decode(self, record: Record) -> list[Record | Rejected]:
        if not has_binary_headers(record.headers):
            return super().decode(record)
        try:
            return self.decode_event(from_binary(record.headers, record.value), record)
        except FormatError as error:
            return [Rejected.of(error, record)]

    def decode_document(self, document: object, record: Record) -> list[Record | Rejected]:
        """A structured-mode CloudEvent already read as JSON."""
        try:
            event = from_structured(document)
        except FormatError as error:
            return [Rejected.of(error, record)]
        return self.decode_event(event, record)

    def decode_event(self, event: CloudEvent, record: Record) -> list[Record | Rejected]:
        pair, rejected = self.join.add(event, record)
        results: list[Record | Rejected] = list(rejected)
        if pair is not None:
            results += self._translate(pair)
        return results

    def _translate(self, pair: Pair) -> list[Record | Rejected]:
        request, response = pair.request, pair.response
        try:
            headers = request.logged_headers() or response.logged_headers()
            meta = {name: request.extensions[name] for name in META_EXTENSIONS if request.extensions.get(name)}
            meta["source"] = request.source
            served = Served(
                event_id=request.id,
                ts=response.time if response.time is not None else request.time,
                request=request.data,
                response=response.data,
                headers=headers,
                service=request.extensions.get("inferenceservicename") or None,
                meta=meta,
            )
            return event_records(self.translator.events(served), pair.record)
        except FormatError as error:
            return [Rejected.of(error, pair.other), Rejected.of(error, pair.record)]

    def expire_idle(self) -> list[Rejected]:
        return self.join.expire_idle()

    def drain(self) -> list[Rejected]:
        return self.join.drain()
