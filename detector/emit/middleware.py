"""ASGI middleware for Starlette and FastAPI model servers: one inference event per prediction served.

It watches ``POST`` requests under the given path prefixes, keeps their request and response bodies
(up to ``max_body_bytes``), and once a 2xx response is complete hands both to the
:class:`~detector.emit.emitter.Emitter`. The bodies are read as Open Inference Protocol v2 or KServe
v1 payloads (:mod:`detector.formats.tensors`; a batch of N rows is N events) in the emitter's
background thread, so the request only pays for copying its bodies. The model id is the one given,
else the model named in the path (``/v2/models/<name>/infer``, ``/v1/models/<name>:predict``) or in
the response, with the response's ``model_version``; the client id is the ``client_id_header`` of the
request, else ``ip:<peer address>``, stored as a keyed hash when ``hash_key`` is given. Nothing here
raises into the request: what cannot be read is counted as failed by the emitter.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson

from detector.emit.emitter import Emitter
from detector.formats.client_identity import ClientIdentity, logged_header
from detector.formats.rejected import FormatError
from detector.formats.translate import Served, Translator

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MODEL_IN_PATH = re.compile(r"/v[12]/models/([^/:]+)")


def model_in_path(path: str) -> str | None:
    """
    >>> model_in_path("/v2/models/digits/versions/3/infer"), model_in_path("/v1/models/digits:predict")
    ('digits', 'digits')
    >>> model_in_path("/predict") is None
    True
    """
    found = MODEL_IN_PATH.search(path)
    return found.group(1) if found else None


class InferenceLogMiddleware:
    """Wraps an ASGI app: ``app.add_middleware(InferenceLogMiddleware, emitter=emitter)`` in Starlette
    or FastAPI."""

    def __init__(
        self,
        app: ASGIApp,
        emitter: Emitter,
        *,
        model_id: str | None = None,
        client_id_header: str = "X-Api-Key",
        hash_key: str | None = None,
        paths: Sequence[str] = ("/",),
        scores_tensor: str | None = None,
        max_body_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.emitter = emitter
        self.model_id = model_id
        self.client_id_header = client_id_header
        self.translator = Translator(ClientIdentity(None, hash_key), scores_tensor)
        self.paths = tuple(paths)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope["path"].startswith(self.paths):
            await self.app(scope, receive, send)
            return
        request: list[bytes] = []
        response: list[bytes] = []
        sizes = [0, 0]
        status = [0]

        def keep(parts: list[bytes], which: int, chunk: bytes) -> None:
            sizes[which] += len(chunk)
            if sizes[which] <= self.max_body_bytes:
                parts.append(chunk)

        async def receive_logged() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                keep(request, 0, message.get("body", b""))
            return message

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body":
                keep(response, 1, message.get("body", b""))
                if not message.get("more_body", False) and 200 <= status[0] < 300:
                    self._log(scope, request, response, sizes)
            await send(message)

        await self.app(scope, receive_logged, send_logged)

    def _log(self, scope: Scope, request: list[bytes], response: list[bytes], sizes: list[int]) -> None:
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", [])}
        peer = scope.get("client") or ("unknown", 0)
        served_at = time.time()
        path = scope["path"]

        def build() -> list[dict]:
            if max(sizes) > self.max_body_bytes:
                raise FormatError("too_large", f"a body over {self.max_body_bytes} bytes is not logged")
            client = logged_header(headers, self.client_id_header) or f"ip:{peer[0]}"
            served = Served(
                str(uuid.uuid4()), served_at, orjson.loads(b"".join(request)), orjson.loads(b"".join(response)),
                headers, service=model_in_path(path), client_id=client, model_id=self.model_id,
            )  # fmt: skip
            return self.translator.events(served)

        self.emitter.submit(build)
