"""CloudEvents (version 1.0) as KServe's inference logger sends them, in structured or binary mode.

- **Structured**: one JSON object holding the attributes and the payload (``data``, or
  ``data_base64``): a line of a JSONL file, or a Kafka record's value.
- **Binary**: the attributes in ``ce_*`` Kafka headers (the CloudEvents Kafka binding, as a Knative
  Kafka broker writes them) and the payload as the record's value.

KServe logs each prediction as two events sharing one ``id``: the request
(``org.kubeflow.serving.inference.request``) and the response (``...response``), with the
extension attributes ``inferenceservicename``, ``namespace``, ``component``, ``endpoint`` and
``metadata`` (a JSON object of the logged request headers).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from detector.event import rfc3339_seconds
from detector.formats.rejected import FormatError
from detector.parse import DeadLetter, json_document

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
HEADER_PREFIX = "ce_"
REQUIRED = ("specversion", "id", "source", "type")
NOT_EXTENSIONS = frozenset({*REQUIRED, "time", "datacontenttype", "dataschema", "subject", "data", "data_base64"})


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """One event: its context attributes, its extensions (as strings) and its decoded JSON payload."""

    id: str
    type: str
    source: str
    time: float | None
    extensions: dict[str, str]
    data: object

    @property
    def is_request(self) -> bool:
        return self.type == REQUEST_TYPE

    def logged_headers(self) -> dict[str, object]:
        """The request headers KServe logged (the ``metadata`` extension), empty when there are none."""
        text = self.extensions.get("metadata")
        if not text:
            return {}
        headers = _json(text.encode("utf-8"), "metadata")
        if not isinstance(headers, dict):
            raise FormatError("bad_metadata", "the metadata extension is not a JSON object of headers")
        return headers


def has_binary_headers(headers: Sequence[tuple[str, bytes]]) -> bool:
    """Whether a Kafka record carries a CloudEvent in binary mode (a ``ce_specversion`` header).

    >>> has_binary_headers([("ce_specversion", b"1.0")]), has_binary_headers([("reason", b"x")])
    (True, False)
    """
    return any(name.lower() == "ce_specversion" for name, _ in headers)


def from_binary(headers: Sequence[tuple[str, bytes]], body: bytes) -> CloudEvent:
    """The CloudEvent of a Kafka record in binary mode; raises :class:`FormatError`.

    >>> event = from_binary([("ce_specversion", b"1.0"), ("ce_id", b"7"), ("ce_source", b"http://m"),
    ...                      ("ce_type", b"org.kubeflow.serving.inference.request"),
    ...                      ("ce_inferenceservicename", b"digits"), ("content-type", b"application/json")],
    ...                     b'{"instances": [[1, 2]]}')
    >>> event.id, event.is_request, event.extensions, event.data
    ('7', True, {'inferenceservicename': 'digits'}, {'instances': [[1, 2]]})
    """
    attributes: dict[str, str] = {}
    content_type = None
    for name, value in headers:
        lowered = name.lower()
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("not_cloudevent", f"header {name}: not UTF-8") from None
        if lowered.startswith(HEADER_PREFIX):
            attributes[lowered.removeprefix(HEADER_PREFIX)] = text
        elif lowered == "content-type":
            content_type = text
    if content_type is not None and "json" not in content_type.lower():
        raise FormatError("unsupported_content_type", f"payload is {content_type}: only JSON bodies are read")
    return _event(attributes, _json(body, "data"))


def from_structured(document: object) -> CloudEvent:
    """The CloudEvent of a structured-mode JSON object; raises :class:`FormatError`.

    >>> from_structured({"specversion": "1.0", "id": "7", "source": "s", "time": "2026-11-22T05:00:00Z",
    ...                  "type": "org.kubeflow.serving.inference.response", "data": {"predictions": [3]}}).time
    1795323600.0
    """
    if not isinstance(document, dict):
        raise FormatError("not_cloudevent", "a structured CloudEvent is a JSON object")
    attributes = {key: value for key, value in document.items() if key not in ("data", "data_base64")}
    if "data_base64" in document:
        encoded = document["data_base64"]
        try:
            data = _json(base64.b64decode(encoded, validate=True), "data_base64")
        except (binascii.Error, TypeError, ValueError):
            raise FormatError("bad_payload", "data_base64: not base64") from None
    else:
        data = document.get("data")
        if isinstance(data, str):  # a JSON payload some writers keep as a string
            data = _json(data.encode("utf-8"), "data")
    for key, value in attributes.items():
        if not isinstance(value, str):
            raise FormatError("not_cloudevent", f"attribute {key}: must be a string")
    return _event(attributes, data)


def _event(attributes: Mapping[str, str], data: object) -> CloudEvent:
    missing = [name for name in REQUIRED if not attributes.get(name)]
    if missing:
        raise FormatError("not_cloudevent", f"missing CloudEvent attributes: {', '.join(missing)}")
    if attributes["specversion"] != "1.0":
        raise FormatError("not_cloudevent", f"specversion {attributes['specversion']!r}: only 1.0 is read")
    if attributes["type"] not in (REQUEST_TYPE, RESPONSE_TYPE):
        raise FormatError("unknown_event_type", f"type {attributes['type']!r} is not a KServe request or response")
    extensions = {key: value for key, value in attributes.items() if key not in NOT_EXTENSIONS}
    return CloudEvent(attributes["id"], attributes["type"], attributes["source"], _time(attributes.get("time")),
                      extensions, data)  # fmt: skip


def _time(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return rfc3339_seconds(value)
    except ValueError:
        raise FormatError("bad_time", f"time {value[:64]!r}: not an RFC 3339 timestamp") from None


def _json(raw: bytes, where: str) -> object:
    document = json_document(raw)
    if isinstance(document, DeadLetter):
        raise FormatError(document.reason, f"{where}: {document.detail}")
    return document
