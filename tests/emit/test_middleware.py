"""The ASGI middleware on a tiny OIP model app: one contract event per prediction served, built off the
request path; other requests and failed answers are not logged, and nothing it does fails a request."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson

from detector.emit import Emitter, InferenceLogMiddleware
from detector.formats.client_identity import ClientIdentity
from detector.parse import Parser

REQUEST = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}]}
RESPONSE = {"model_name": "digits", "model_version": "3",
            "outputs": [{"name": "probabilities", "shape": [2, 2], "datatype": "FP32", "data": [0.9, 0.1, 0.2, 0.8]}]}  # fmt: skip


async def model_app(scope, receive, send) -> None:
    """An OIP v2 model server in a dozen lines: answers the infer path, 500 on /fail, 404 elsewhere."""
    while (await receive()).get("more_body"):
        pass
    status, body = (200, orjson.dumps(RESPONSE)) if scope["path"].endswith("/infer") else (
        (500, b"{}") if scope["path"] == "/fail" else (404, b"{}"))  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body[:10], "more_body": True})
    await send({"type": "http.response.body", "body": body[10:]})


def serve(emitter: Emitter, requests: list[tuple[str, str, dict, bytes]], **options) -> list[int]:
    app = InferenceLogMiddleware(model_app, emitter, **options)

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://model") as client:
            return [(await client.request(method, path, headers=headers, content=body)).status_code
                    for method, path, headers, body in requests]  # fmt: skip

    with ThreadPoolExecutor(1) as thread:  # a loop of its own, whatever loop this thread may have running
        return thread.submit(asyncio.run, run()).result()


def built(emitter: Emitter) -> list[dict]:
    """What the background thread would send: every queued item, built."""
    events = []
    while not emitter.queue.empty():
        events += emitter.queue.get_nowait()()
    return events


def test_each_prediction_served_becomes_a_contract_event() -> None:
    emitter = Emitter("127.0.0.1:1", connect=False)
    body = orjson.dumps(REQUEST)
    statuses = serve(emitter, [("POST", "/v2/models/digits/infer", {"X-Api-Key": "key_7f3a"}, body)])
    assert statuses == [200]
    events = built(emitter)
    assert [(e["client_id"], e["model_id"], e["input"], e["output"]["scores"]) for e in events] == [
        ("key_7f3a", "digits:3", [0.1, 0.2], [0.9, 0.1]), ("key_7f3a", "digits:3", [0.3, 0.4], [0.2, 0.8])
    ]  # fmt: skip
    parser = Parser()
    assert all(type(parser.parse(orjson.dumps(e))).__name__ == "InferenceEvent" for e in events)


def test_only_successful_posts_under_the_paths_are_logged_and_the_peer_stands_in_for_a_missing_key() -> None:
    emitter = Emitter("127.0.0.1:1", connect=False)
    body = orjson.dumps(REQUEST)
    statuses = serve(emitter, [
        ("GET", "/v2/models/digits/infer", {}, b""),
        ("POST", "/fail", {}, body),
        ("POST", "/v2/models/digits/infer", {}, body),
        ("POST", "/health/infer", {}, body),
    ], paths=["/v2/"], hash_key=None)  # fmt: skip
    assert statuses == [200, 500, 200, 200]
    assert {e["client_id"] for e in built(emitter)} == {"ip:203.0.113.7"}
    assert emitter.stats().queued == 1


def test_hashed_client_ids_and_unreadable_bodies_counted_not_raised() -> None:
    emitter = Emitter("127.0.0.1:1", connect=False)
    statuses = serve(emitter, [("POST", "/v2/models/digits/infer", {"x-api-key": "sk-live"}, orjson.dumps(REQUEST)),
                               ("POST", "/v2/models/digits/infer", {}, b"not json")], hash_key="k")  # fmt: skip
    assert statuses == [200, 200]
    first = emitter.queue.get_nowait()()
    assert {e["client_id"] for e in first} == {ClientIdentity(None, "k").stored("sk-live")}
    assert "sk-live" not in str(first)
    emitter.producer = None
    emitter._send(emitter.queue.get_nowait())  # the background thread's step, on the unreadable body
    assert emitter.stats().failed == 1
