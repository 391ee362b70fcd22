"""A scenario's events as KServe's inference logger writes them: structured CloudEvents, one a line.

Each event becomes a request and a response CloudEvent sharing its ``event_id`` as ``id``, from an
InferenceService named after the model (``digits-classifier:1`` is the service
``digits-classifier``, answering as ``model_version`` 1), with the client's API key and user agent
in the logged ``metadata`` headers and OIP v2 tensors as payloads. As from a real logger, the two
halves arrive in either order and interleaved with other predictions served at about the same time. ``replay --input-format kserve
--client-id-header X-Api-Key`` reads the file back into the same events.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import orjson

from detector.formats.cloudevent import REQUEST_TYPE, RESPONSE_TYPE

NAMESPACE = "models"
CLIENT_ID_HEADER = "X-Api-Key"
MAX_LATENCY_S = 0.02
"""A response is logged up to this long after its request."""
MAX_DELIVERY_S = 0.05
"""A logged half reaches the topic up to this long after it was logged."""


def rfc3339(ts: float) -> str:
    """
    >>> rfc3339(1795323600.125)
    '2026-11-22T05:00:00.125000Z'
    """
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _tensor(name: str, values: list, datatype: str) -> dict:
    return {"name": name, "shape": [1, len(values)], "datatype": datatype, "data": values}


def cloudevents(event: dict, latency_s: float) -> tuple[dict, dict]:
    """The request and response CloudEvents of one contract event (the request ``latency_s`` earlier).

    >>> request, response = cloudevents({"event_id": "e1", "ts": 1795323600.0, "client_id": "key_1",
    ...     "model_id": "digits:3", "input": [0.5], "output": {"scores": [0.1, 0.9]}}, 0.01)
    >>> request["inferenceservicename"], request["metadata"], response["data"]["model_version"]
    ('digits', '{"X-Api-Key":["key_1"]}', '3')
    """
    service, _, version = str(event["model_id"]).partition(":")
    headers = {CLIENT_ID_HEADER: [event["client_id"]]}
    agent = (event.get("meta") or {}).get("user_agent")
    if agent:
        headers["User-Agent"] = [agent]
    common = {
        "specversion": "1.0",
        "id": event["event_id"],
        "source": f"http://{service}-predictor.{NAMESPACE}/v2/models/{service}/infer",
        "datacontenttype": "application/json",
        "inferenceservicename": service,
        "namespace": NAMESPACE,
        "component": "predictor",
        "endpoint": "default",
        "metadata": orjson.dumps(headers).decode(),
    }
    inputs = [_tensor("input-0", event["input"], "FP32")] if event.get("input") is not None else [
        {"name": "input-0", "shape": [1], "datatype": "BYTES", "data": ["(not logged)"]}
    ]  # fmt: skip
    output = event["output"]
    outputs = []
    if output.get("scores") is not None:
        outputs.append(_tensor("probabilities", output["scores"], "FP32"))
    if output.get("label") is not None:
        label = output["label"]
        outputs.append({"name": "label", "shape": [1], "datatype": "BYTES" if isinstance(label, str) else "INT64",
                        "data": [label]})  # fmt: skip
    if output.get("confidence") is not None and output.get("scores") is None:
        outputs.append({"name": "confidence", "shape": [1], "datatype": "FP32", "data": [output["confidence"]]})
    request = {**common, "type": REQUEST_TYPE, "time": rfc3339(float(event["ts"]) - latency_s),
               "data": {"id": event["event_id"], "inputs": inputs}}  # fmt: skip
    response_body = {"model_name": service, "id": event["event_id"], "outputs": outputs}
    if version:
        response_body["model_version"] = version
    response = {**common, "type": RESPONSE_TYPE, "time": rfc3339(float(event["ts"])), "data": response_body}
    return request, response


def logged_lines(events: Iterable[dict], seed: int) -> Iterator[bytes]:
    """The CloudEvent lines of ``events`` in the order a logger delivers them: each half arrives up to
    :data:`MAX_DELIVERY_S` after its own time, so a response may overtake its request (seeded)."""
    rng = random.Random(seed)
    arriving: list[tuple[float, int, bytes]] = []
    number = 0
    for event in events:
        ts = float(event["ts"])
        while arriving and arriving[0][0] < ts - MAX_LATENCY_S:  # nothing later can arrive before these
            yield heapq.heappop(arriving)[2]
        latency = rng.uniform(0.002, MAX_LATENCY_S)
        for half in cloudevents(event, latency):
            sent = ts - latency if half["type"] == REQUEST_TYPE else ts
            line = orjson.dumps(half, option=orjson.OPT_APPEND_NEWLINE)
            heapq.heappush(arriving, (sent + rng.uniform(0.0, MAX_DELIVERY_S), number, line))
            number += 1
    while arriving:
        yield heapq.heappop(arriving)[2]


def write_kserve(events_path: str | Path, seed: int = 0) -> Path:
    """Write ``<name>.kserve.jsonl`` beside a scenario's ``<name>.jsonl``; its path."""
    source = Path(events_path)
    target = source.with_name(source.name.removesuffix(".jsonl") + ".kserve.jsonl")
    with open(source, "rb") as lines, open(target, "wb") as out:
        out.writelines(logged_lines((orjson.loads(line) for line in lines if line.strip()), seed))
    return target
