"""The ``auto`` input format: each record's format told from the record itself, where that is certain.

- ``ce_*`` Kafka headers, or a JSON object with ``specversion``: a KServe CloudEvent;
- an object with ``request`` and ``response`` and no ``event_id``: an OIP pair;
- any other record: a native event (the parser says what is wrong with it, if anything; a record that
  is not JSON at all is dead-lettered with the parser's reason).

An object with both ``specversion`` and ``event_id`` could be either, and is dead-lettered
(``ambiguous_format``) rather than guessed at.
"""

from __future__ import annotations

from detector.formats.cloudevent import has_binary_headers
from detector.formats.decoder import JsonDecoder
from detector.formats.kserve import KServeDecoder
from detector.formats.oip import OipDecoder
from detector.formats.rejected import FormatError, Rejected
from detector.sources.base import Record


class AutoDecoder(JsonDecoder):
    """Chooses per record between the KServe, OIP and native formats."""

    def __init__(self, kserve: KServeDecoder, oip: OipDecoder) -> None:
        self.kserve = kserve
        self.oip = oip

    def decode(self, record: Record) -> list[Record | Rejected]:
        if has_binary_headers(record.headers):
            return self.kserve.decode(record)
        return super().decode(record)

    def decode_document(self, document: object, record: Record) -> list[Record | Rejected]:
        if not isinstance(document, dict):
            return [record]  # not an object: the parser rejects it as a native event, with its reason
        if "specversion" in document:
            if "event_id" in document:
                error = FormatError("ambiguous_format", "has both specversion and event_id: CloudEvent or native event?")
                return [Rejected.of(error, record)]
            return self.kserve.decode_document(document, record)
        if "request" in document and "response" in document and "event_id" not in document:
            return self.oip.decode_document(document, record)
        return [record]

    def expire_idle(self) -> list[Rejected]:
        return self.kserve.expire_idle()

    def drain(self) -> list[Rejected]:
        return self.kserve.drain()
