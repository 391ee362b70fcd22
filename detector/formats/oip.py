"""The ``oip`` input format: one JSON object per prediction holding a bare OIP v2 (or KServe v1)
request and its response, for servers that log both together.

``{"id", "ts", "request", "response", "headers", "client_id", "model_id"}``: ``request`` and
``response`` are required; ``id`` defaults to the response's (or the request's) ``id``; ``ts`` is epoch
seconds or RFC 3339; the client id comes from ``headers`` (an object of logged request headers) by
``INVDET_CLIENT_ID_HEADER``, else from ``client_id``; ``model_id`` defaults to the response's
``model_name`` and ``model_version``.
"""

from __future__ import annotations

from detector.event import rfc3339_seconds
from detector.formats.decoder import JsonDecoder, event_records
from detector.formats.rejected import FormatError, Rejected
from detector.formats.translate import Served, Translator
from detector.sources.base import Record


class OipDecoder(JsonDecoder):
    """One logged pair per record; nothing waits."""

    def __init__(self, translator: Translator) -> None:
        self.translator = translator

    def decode_document(self, document: object, record: Record) -> list[Record | Rejected]:
        """A pair already read as JSON."""
        try:
            return event_records(self.translator.events(served_pair(document)), record)
        except FormatError as error:
            return [Rejected.of(error, record)]


def served_pair(document: object) -> Served:
    """The :class:`Served` of one logged pair; raises :class:`FormatError`.

    >>> served_pair({"ts": "2026-11-22T05:00:00Z", "request": {"id": "r"}, "response": {}}).event_id
    'r'
    """
    if not isinstance(document, dict) or not isinstance(document.get("request"), dict) or not isinstance(
        document.get("response"), dict
    ):
        raise FormatError("bad_payload", "an OIP pair is an object with a request and a response object")
    request, response = document["request"], document["response"]
    event_id = document.get("id") or response.get("id") or request.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise FormatError("missing_field", "id: neither the pair nor its response or request has an id")
    headers = document.get("headers") or {}
    if not isinstance(headers, dict):
        raise FormatError("bad_payload", "headers: must be an object of header names to values")
    client_id, model_id = document.get("client_id"), document.get("model_id")
    if client_id is not None and not isinstance(client_id, str) or model_id is not None and not isinstance(model_id, str):
        raise FormatError("wrong_type", "client_id and model_id must be strings")
    return Served(event_id, _seconds(document.get("ts")), request, response, headers,
                  client_id=client_id or None, model_id=model_id or None)  # fmt: skip


def _seconds(ts: object) -> float | None:
    if ts is None:
        return None
    if isinstance(ts, str):
        try:
            return rfc3339_seconds(ts)
        except ValueError:
            raise FormatError("wrong_type", f"ts {ts[:64]!r}: not epoch seconds or RFC 3339") from None
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        raise FormatError("wrong_type", "ts: must be epoch seconds or an RFC 3339 string")
    return float(ts)
