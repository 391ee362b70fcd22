"""The inference-log event contract, version 1.

One event per prediction a watched model API served. The contract is fixed
(see the README, "Contracts"); this module is its single definition, used by
the parser, the simulator and the tests.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

MAX_INPUT_LEN = 65536
"""Longest accepted ``input`` vector."""

Number = Annotated[float, Strict()]
"""A JSON number (a string holding a number is a wrong type, not coerced)."""

Confidence = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]


def rfc3339_seconds(value: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp (a naive one is taken as UTC); raises ValueError.

    >>> rfc3339_seconds("2026-11-22T05:00:00.5Z"), rfc3339_seconds("2026-11-22T06:00:00+01:00")
    (1795323600.5, 1795323600.0)
    """
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


class Output(BaseModel):
    """What the model answered: scores, or only the top label and its confidence."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, frozen=True)

    scores: list[Confidence] | None = Field(default=None, min_length=1, max_length=MAX_INPUT_LEN)
    label: str | int | None = None
    confidence: Confidence | None = None

    @model_validator(mode="after")
    def _something_answered(self) -> "Output":
        if self.scores is None and self.label is None and self.confidence is None:
            raise ValueError("needs at least one of scores, confidence or label")
        return self


class InferenceEvent(BaseModel):
    """One served prediction.

    >>> e = InferenceEvent.model_validate_json(
    ...     b'{"event_id": "e1", "ts": "2026-11-22T05:00:00Z", "client_id": "k",'
    ...     b' "model_id": "m", "input": [0, 1.5], "output": {"scores": [0.2, 0.8]}}')
    >>> e.ts, e.top_class, round(e.top_confidence, 2)
    (1795323600.0, 1, 0.8)
    """

    model_config = ConfigDict(allow_inf_nan=False, frozen=True, extra="ignore")

    v: Literal[1] = 1
    event_id: str = Field(min_length=1, max_length=128)
    ts: float
    client_id: str = Field(min_length=1, max_length=256)
    model_id: str = Field(min_length=1, max_length=256)
    input: list[Number] | None = Field(default=None, min_length=1, max_length=MAX_INPUT_LEN)
    output: Output
    meta: dict[str, str] | None = None

    @field_validator("ts", mode="before")
    @classmethod
    def _epoch_seconds(cls, value: object) -> object:
        """Accept epoch seconds or an RFC 3339 string (a naive one is taken as UTC)."""
        if isinstance(value, str):
            try:
                return rfc3339_seconds(value)
            except ValueError as exc:
                raise ValueError("must be epoch seconds or an RFC 3339 timestamp") from exc
        if isinstance(value, bool):
            raise ValueError("must be epoch seconds or an RFC 3339 timestamp")
        return value

    @property
    def input_vector(self) -> np.ndarray | None:
        """The input as a float32 vector, or None when the API did not log it."""
        return None if self.input is None else np.asarray(self.input, dtype=np.float32)

    @property
    def top_class(self) -> str | int | None:
        """Index of the highest score, else the returned label."""
        scores = self.output.scores
        if scores is not None:
            return scores.index(max(scores))  # the first of equal maxima, like np.argmax
        return self.output.label

    @property
    def top_confidence(self) -> float | None:
        """Highest score, else the returned confidence."""
        if self.output.scores is not None:
            return float(max(self.output.scores))
        return self.output.confidence


def contract_event(
    client_id: str,
    model_id: str,
    *,
    input: Sequence[float] | None = None,
    scores: Sequence[float] | None = None,
    label: str | int | None = None,
    confidence: float | None = None,
    meta: Mapping[str, str] | None = None,
    ts: float | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A new inference event as a JSON-ready object: a fresh ``event_id`` and the current time unless
    given (what producers write; numpy arrays are fine for ``input`` and ``scores`` with orjson's
    ``OPT_SERIALIZE_NUMPY``).

    >>> sorted(contract_event("k", "m", label=3))
    ['client_id', 'event_id', 'model_id', 'output', 'ts', 'v']
    """
    output = {name: value for name, value in (("scores", scores), ("label", label), ("confidence", confidence))
              if value is not None}  # fmt: skip
    event: dict[str, Any] = {
        "v": 1,
        "event_id": event_id or str(uuid.uuid4()),
        "ts": time.time() if ts is None else ts,
        "client_id": client_id,
        "model_id": model_id,
        "output": output,
    }
    if input is not None:
        event["input"] = input
    if meta:
        event["meta"] = dict(meta)
    return event
