"""A logged request and its response, mapped to inference events of the contract (version 1).

- ``event_id``: the request's id (KServe's CloudEvent ``id``), ``#<i>`` added for each prediction of
  a batch;
- ``ts``: when the response was logged (else the request);
- ``client_id``: from the logged request headers (:mod:`detector.formats.client_identity`);
- ``model_id``: the InferenceService name, ``:<model_version>`` of the response added when it has
  one (else the response's ``model_name``);
- ``input`` and ``output``: from the tensors (:mod:`detector.formats.tensors`);
- ``meta``: where it was served (namespace, component, endpoint, source) and the logged user agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from detector.event import contract_event
from detector.formats.client_identity import ClientIdentity, logged_header
from detector.formats.rejected import FormatError
from detector.formats.tensors import request_rows, response_outputs


@dataclass(frozen=True, slots=True)
class Served:
    """One logged prediction request and its answer, whatever format carried them."""

    event_id: str
    ts: float | None
    request: object
    response: object
    headers: Mapping[str, object]
    service: str | None = None
    """The InferenceService name (with the response's ``model_version``, the model id)."""
    meta: Mapping[str, str] | None = None
    client_id: str | None = None
    """A client id logged beside the pair, used when no client-id header is configured."""
    model_id: str | None = None
    """A model id logged beside the pair, used as it is."""


@dataclass(frozen=True)
class Translator:
    """Turns :class:`Served` pairs into contract event objects."""

    identity: ClientIdentity
    scores_tensor: str | None = None

    def events(self, served: Served) -> list[dict]:
        """The contract events of one served request; raises :class:`FormatError`.

        >>> t = Translator(ClientIdentity("X-Api-Key"))
        >>> [e["event_id"] for e in t.events(Served("r1", 1.0, {"instances": [[1], [2]]},
        ...     {"predictions": [[0.2, 0.8], [0.6, 0.4]]}, {"X-Api-Key": ["k"]}, service="digits"))]
        ['r1#0', 'r1#1']
        """
        if served.ts is None:
            raise FormatError("no_time", "neither the request nor the response says when it was served")
        if served.client_id is not None and self.identity.header is None:
            client_id = self.identity.stored(served.client_id)
        else:
            client_id = self.identity.from_headers(served.headers)
        model_id = served.model_id or _model_id(served.service, served.response)
        inputs = request_rows(served.request)
        outputs = response_outputs(served.response, len(inputs), self.scores_tensor)
        meta = dict(served.meta or {})
        agent = logged_header(served.headers, "user-agent")
        if agent is not None:
            meta["user_agent"] = agent
        return [
            contract_event(client_id, model_id, input=row, ts=served.ts, meta=meta,
                           event_id=served.event_id if len(inputs) == 1 else f"{served.event_id}#{i}", **output)
            for i, (row, output) in enumerate(zip(inputs, outputs, strict=True))
        ]  # fmt: skip


def _model_id(service: str | None, response: object) -> str:
    """``<service>[:<model_version>]``, else ``<model_name>[:<model_version>]``.

    >>> _model_id("digits", {"model_name": "digits", "model_version": "3"}), _model_id(None, {"model_name": "m"})
    ('digits:3', 'm')
    """
    body = response if isinstance(response, dict) else {}
    name = service or body.get("model_name")
    if not isinstance(name, str) or not name:
        raise FormatError("no_model_id", "neither an InferenceService name nor a model_name says which model answered")
    version = body.get("model_version")
    return f"{name}:{version}" if isinstance(version, (str, int)) and str(version) else name

