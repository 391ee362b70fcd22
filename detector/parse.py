"""Bytes -> :class:`InferenceEvent` or :class:`DeadLetter`. Never raises on data.

Every rejection carries a short reason code (what the dead-letter counters and
the summary group by) and a detail naming the field and the problem, so an
operator can fix the producer without reading the raw bytes.
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass, field

import jiter
from pydantic import ValidationError

from detector.event import InferenceEvent

MAX_EVENT_BYTES = 4 * 1024 * 1024
"""Larger raw values are dead-lettered unread (``too_large``)."""

DUPLICATE_KEY_ERROR = "Detected duplicate key"
"""How jiter's error for a key repeated in one object begins. Such an event is refused
(``duplicate_key``): JSON parsers disagree on which value of a repeated key wins, so another reader of
the same log (a SIEM, an audit) could see another client or time than the detector does. jiter is the
parser pydantic itself uses, run here apart because only it reports repeats."""

MAX_TRACKED_MODELS = 10_000
"""Bound on the per-model input-length table."""

_PYDANTIC_REASON = {
    "missing": "missing_field",
    "finite_number": "not_finite",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "string_too_short": "empty",
    "too_short": "empty",
    "literal_error": "unknown_version",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "json_invalid": "not_json",
    "json_type": "not_json",
}


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that is not a valid event, kept with why.

    >>> parse(b'{"event_id": "e"}').reason
    'missing_field'
    """

    reason: str
    detail: str
    raw: bytes

    def to_record(self, position: object = None, max_raw_bytes: int | None = None) -> dict:
        """JSON-ready form written to dead-letter sinks.

        The raw value is kept as text when it is UTF-8 and as ``raw_base64``
        otherwise, so nothing is lost; a sink with a size limit passes
        ``max_raw_bytes`` and the record then says it was truncated.

        >>> DeadLetter("not_utf8", "not UTF-8 at byte 0", b"\\xff\\xfe").to_record("f:1")["raw_base64"]
        '//4='
        >>> record = DeadLetter("too_large", "big", b"x" * 10).to_record("f:2", max_raw_bytes=4)
        >>> record["raw"], record["raw_bytes"], record["raw_truncated"]
        ('xxxx', 10, True)
        """
        raw = self.raw if max_raw_bytes is None else self.raw[:max_raw_bytes]
        record: dict = {"reason": self.reason, "detail": self.detail, "position": position, "raw_bytes": len(self.raw)}
        try:
            record["raw"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            record["raw_base64"] = base64.b64encode(raw).decode("ascii")
        if len(raw) < len(self.raw):
            record["raw_truncated"] = True
        return record


def _describe(error: ValidationError) -> tuple[str, str]:
    first = error.errors(include_url=False)[0]
    kind = first["type"]
    where = ".".join(str(p) for p in first["loc"]) or "event"
    if kind == "value_error" and where == "output":
        return "no_output", "output: needs at least one of scores, confidence or label"
    if kind == "value_error" and where == "ts":
        return "wrong_type", "ts: must be epoch seconds or an RFC 3339 timestamp"
    reason = _PYDANTIC_REASON.get(kind, "wrong_type")
    if reason == "not_json":
        return reason, f"not valid JSON: {first['msg']}"
    return reason, f"{where}: {first['msg']}"


@dataclass
class Parser:
    """Stateful parser: checks the contract and that one model's inputs share one length.

    >>> p = Parser()
    >>> ok = b'{"event_id":"a","ts":1,"client_id":"c","model_id":"m","input":[1,2],"output":{"label":3}}'
    >>> type(p.parse(ok)).__name__
    'InferenceEvent'
    >>> p.parse(ok.replace(b'[1,2]', b'[1,2,3]')).reason
    'input_length_mismatch'
    >>> p.parse(b'\\xff').reason, p.parse(b'{').reason, dict(p.rejected)
    ('not_utf8', 'not_json', {'input_length_mismatch': 1, 'not_utf8': 1, 'not_json': 1})
    """

    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)
    input_lengths: dict[str, int] = field(default_factory=dict)

    def parse(self, raw: bytes | str) -> InferenceEvent | DeadLetter:
        """Validate one raw record; the result is an event or a dead letter, never an exception."""
        result = self._parse(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass"))
        if isinstance(result, DeadLetter):
            self.rejected[result.reason] += 1
        else:
            self.accepted += 1
        return result

    def _parse(self, raw: bytes) -> InferenceEvent | DeadLetter:
        document = json_document(raw)
        if isinstance(document, DeadLetter):
            return document
        try:
            event = InferenceEvent.model_validate(document)
        except ValidationError as exc:
            reason, detail = _describe(exc)
            return DeadLetter(reason, detail, raw)
        if event.input is not None:
            expected = self.input_lengths.get(event.model_id)
            if expected is None:
                if len(self.input_lengths) < MAX_TRACKED_MODELS:
                    self.input_lengths[event.model_id] = len(event.input)
            elif expected != len(event.input):
                return DeadLetter(
                    "input_length_mismatch",
                    f"input: {len(event.input)} values, but model {event.model_id!r} inputs have {expected}",
                    raw,
                )
        return event


def json_document(raw: bytes) -> object | DeadLetter:
    """The JSON value of one raw record, or why it has none: too large, not UTF-8, not JSON, or a key
    repeated in one object. Every input format reads its records through here.

    >>> json_document(b'{"a": [1, 2]}'), json_document(b'{"a": 1, "a": 2}').reason
    ({'a': [1, 2]}, 'duplicate_key')
    """
    if len(raw) > MAX_EVENT_BYTES:
        return DeadLetter("too_large", f"event is {len(raw)} bytes, the limit is {MAX_EVENT_BYTES}", raw)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DeadLetter("not_utf8", f"not UTF-8 at byte {exc.start}", raw)
    try:
        return jiter.from_json(raw, catch_duplicate_keys=True)
    except ValueError as exc:
        message = str(exc)
        if message.startswith(DUPLICATE_KEY_ERROR):
            detail = message.removeprefix("Detected ")
            return DeadLetter("duplicate_key", f"{detail}: which value is meant is unclear", raw)
        return DeadLetter("not_json", f"not valid JSON: {message}", raw)


def parse(raw: bytes | str) -> InferenceEvent | DeadLetter:
    """Parse one record with a fresh :class:`Parser` (no cross-event checks)."""
    return Parser().parse(raw)
