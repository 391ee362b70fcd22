"""KServe inference-logger CloudEvents for the format tests, built as the logger builds them."""

from __future__ import annotations

import orjson

from detector.formats.cloudevent import REQUEST_TYPE, RESPONSE_TYPE
from detector.simulator.kserve_logger import rfc3339

T0 = 1_790_000_000.0
SERVICE = "digits"


def attributes(event_id: str, kind: str, ts: float, headers: dict | None) -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": f"http://{SERVICE}-predictor.models/v2/models/{SERVICE}/infer",
        "type": REQUEST_TYPE if kind == "request" else RESPONSE_TYPE,
        "time": rfc3339(ts),
        "inferenceservicename": SERVICE,
        "namespace": "models",
        "component": "predictor",
        "endpoint": "default",
        "metadata": orjson.dumps(headers if headers is not None else {"X-Api-Key": ["key_1"]}).decode(),
    }


def request(event_id: str, ts: float, rows: list[list[float]], headers: dict | None = None) -> dict:
    data = {"id": event_id, "inputs": [
        {"name": "x", "shape": [len(rows), len(rows[0])], "datatype": "FP32", "data": [v for r in rows for v in r]}
    ]}  # fmt: skip
    return {**attributes(event_id, "request", ts, headers), "data": data}


def response(event_id: str, ts: float, scores: list[list[float]], version: str | None = "1", outputs: list | None = None) -> dict:
    if outputs is None:
        flat = [v for row in scores for v in row]
        outputs = [{"name": "probabilities", "shape": [len(scores), len(scores[0])], "datatype": "FP32", "data": flat}]
    data: dict = {"model_name": SERVICE, "id": event_id, "outputs": outputs}
    if version is not None:
        data["model_version"] = version
    return {**attributes(event_id, "response", ts, None), "data": data}


def line(event: dict) -> bytes:
    return orjson.dumps(event) + b"\n"


def binary(event: dict) -> tuple[list[tuple[str, bytes]], bytes]:
    """The same CloudEvent in binary mode: ``ce_*`` headers and the payload as the value."""
    headers = [(f"ce_{key}", str(value).encode()) for key, value in event.items() if key != "data"]
    headers.append(("content-type", b"application/json"))
    return headers, orjson.dumps(event["data"])
