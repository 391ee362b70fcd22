"""Prediction payloads as one row per prediction: Open Inference Protocol v2 tensors and KServe v1.

- **OIP v2**: ``{"inputs": [tensor, ...]}`` and ``{"model_name", "model_version", "outputs": [...]}``,
  each tensor ``{"name", "shape", "datatype", "data"}`` with ``data`` row-major (flat or nested).
- **KServe v1**: ``{"instances": [row, ...]}`` and ``{"predictions": [row, ...]}``.

A request whose tensors have the shape [N, ...] is N predictions; each becomes one event. A row's
input is its numeric input tensors flattened and joined in order (text tensors are not inputs the
detector can measure; values that are not numbers are left for the contract parser to reject).
Outputs map to the contract's ``output``:

- ``scores``: the tensor named by ``INVDET_SCORES_TENSOR``, else the only floating-point tensor with
  one value per class (more than one value a row);
- ``label``: the only integer, boolean or text tensor with one value a row;
- ``confidence``: without scores, the only floating-point tensor with one value a row (a top-1 API).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from detector.formats.rejected import FormatError

FLOAT_TYPES = frozenset({"FP16", "BF16", "FP32", "FP64"})
LABEL_TYPES = frozenset({"BOOL", "BYTES", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"})


@dataclass(frozen=True, slots=True)
class Tensor:
    """A named tensor cut into rows: ``rows[i]`` is the flat values of prediction ``i``."""

    name: str
    datatype: str
    rows: list[list]

    @property
    def per_row(self) -> int:
        return len(self.rows[0]) if self.rows else 0


def _flat(data: object, size: int | None = None) -> list:
    """Row-major values of nested lists (a flat list of ``size`` values, the usual case, as it is: a
    value in it that is not a number is the contract parser's to reject).

    >>> _flat([[1, 2], [3, [4]]]), _flat([1, 2], size=2)
    ([1, 2, 3, 4], [1, 2])
    """
    if not isinstance(data, list):
        return [data]
    if len(data) == size and (not data or not isinstance(data[0], list)):
        return data
    flat: list = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _tensor(document: object, where: str) -> tuple[str, list[int], str, list]:
    if not isinstance(document, dict):
        raise FormatError("bad_tensor", f"{where}: a tensor is an object with name, shape, datatype and data")
    name, shape, datatype = document.get("name"), document.get("shape"), document.get("datatype")
    if not isinstance(name, str) or not isinstance(datatype, str) or not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise FormatError("bad_tensor", f"{where}: needs a string name and datatype and a shape of sizes")
    size = math.prod(shape)
    values = _flat(document.get("data"), size)
    if len(values) != size:
        raise FormatError("shape_mismatch", f"{where} {name!r}: shape {shape} holds {size} values, data has {len(values)}")
    return name, shape, datatype.upper(), values


def _cut(values: list, shape: list[int], rows: int | None) -> list[list]:
    """Values cut into ``rows`` rows (None: by the leading dimension), or one value a row for a 1-d tensor."""
    if rows is None:
        rows = shape[0] if len(shape) >= 2 else 1
    if rows == 0 or len(values) % rows:
        raise FormatError("shape_mismatch", f"shape {shape} does not split into {rows} predictions")
    width = len(values) // rows
    return [values[i * width : (i + 1) * width] for i in range(rows)]


def _batch(shape: list[int], rows: int, where: str) -> int:
    """How the output ``shape`` splits over ``rows`` predictions (its leading dimension, or a 1-d
    tensor of one prediction)."""
    if len(shape) >= 2 and shape[0] == rows or len(shape) == 1 and (shape[0] == rows or rows == 1):
        return rows
    raise FormatError("batch_mismatch", f"{where}: shape {shape} does not match a batch of {rows} predictions")


def request_rows(body: object) -> list[list[float] | None]:
    """The input of each prediction a request asks for (None where it has no numeric input).

    >>> request_rows({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
    [[1, 2], [3, 4]]
    >>> request_rows({"instances": [[0.5, 1], [2, 3]]})
    [[0.5, 1], [2, 3]]
    """
    if not isinstance(body, dict):
        raise FormatError("bad_payload", "the request body is not a JSON object")
    if isinstance(body.get("inputs"), list) and all(isinstance(t, dict) for t in body["inputs"]) and body["inputs"]:
        tensors = [_tensor(t, f"inputs[{i}]") for i, t in enumerate(body["inputs"])]
        numeric = [(shape, values) for _, shape, datatype, values in tensors if datatype not in ("BYTES",)]
        first = tensors[0][1]
        rows = first[0] if len(first) >= 2 else 1
        if not numeric:
            return [None] * rows
        if len(numeric) == 1:
            return _cut(numeric[0][1], numeric[0][0], rows)
        joined: list[list] = [[] for _ in range(rows)]
        for shape, values in numeric:
            for row, part in zip(joined, _cut(values, shape, rows), strict=True):
                row.extend(part)
        return joined
    instances = body.get("instances", body.get("inputs"))
    if isinstance(instances, list) and instances:
        return [_flat(instance) for instance in instances]
    raise FormatError("bad_payload", "the request has neither OIP v2 inputs nor KServe v1 instances")


def response_outputs(body: object, rows: int, scores_tensor: str | None = None) -> list[dict]:
    """The contract ``output`` of each of ``rows`` predictions.

    >>> response_outputs({"outputs": [
    ...     {"name": "probabilities", "shape": [2, 2], "datatype": "FP32", "data": [0.9, 0.1, 0.2, 0.8]},
    ...     {"name": "label", "shape": [2], "datatype": "INT64", "data": [0, 1]}]}, 2)
    [{'scores': [0.9, 0.1], 'label': 0}, {'scores': [0.2, 0.8], 'label': 1}]
    >>> response_outputs({"predictions": [3, 7]}, 2)
    [{'label': 3}, {'label': 7}]
    """
    if not isinstance(body, dict):
        raise FormatError("bad_payload", "the response body is not a JSON object")
    if isinstance(body.get("outputs"), list) and body["outputs"]:
        tensors = []
        for i, document in enumerate(body["outputs"]):
            name, shape, datatype, values = _tensor(document, f"outputs[{i}]")
            tensors.append(Tensor(name, datatype, _cut(values, shape, _batch(shape, rows, f"outputs[{i}] {name!r}"))))
        return _outputs(tensors, rows, scores_tensor)
    predictions = body.get("predictions")
    if isinstance(predictions, list) and predictions:
        if len(predictions) != rows:
            raise FormatError("batch_mismatch", f"{len(predictions)} predictions for {rows} instances")
        return [_v1_output(prediction) for prediction in predictions]
    raise FormatError("bad_payload", "the response has neither OIP v2 outputs nor KServe v1 predictions")


def _v1_output(prediction: object) -> dict:
    if isinstance(prediction, list):
        return {"scores": _flat(prediction)}
    if isinstance(prediction, (str, int)):  # bool is an int: a yes/no label
        return {"label": prediction}
    raise FormatError("unsupported_output", f"prediction {str(prediction)[:40]!r}: neither scores nor a label")


def _only(candidates: Sequence[Tensor], what: str) -> Tensor | None:
    if len(candidates) > 1:
        names = ", ".join(t.name for t in candidates)
        raise FormatError("ambiguous_output", f"outputs {names} could each be the {what}: set INVDET_SCORES_TENSOR")
    return candidates[0] if candidates else None


def _outputs(tensors: list[Tensor], rows: int, scores_tensor: str | None) -> list[dict]:
    if scores_tensor is not None:
        named = [t for t in tensors if t.name == scores_tensor]
        if not named or named[0].datatype not in FLOAT_TYPES:
            raise FormatError("no_scores", f"no floating-point output named {scores_tensor!r} (INVDET_SCORES_TENSOR)")
        scores = named[0]
    else:
        scores = _only([t for t in tensors if t.datatype in FLOAT_TYPES and t.per_row > 1], "scores")
    label = _only([t for t in tensors if t.datatype in LABEL_TYPES and t.per_row == 1], "label")
    confidence = None
    if scores is None:
        confidence = _only([t for t in tensors if t.datatype in FLOAT_TYPES and t.per_row == 1], "confidence")
    if scores is None and label is None and confidence is None:
        raise FormatError("no_output", "no output tensor holds scores, a label or a confidence")
    outputs = []
    for i in range(rows):
        output: dict = {}
        if scores is not None:
            output["scores"] = scores.rows[i]
        if label is not None:
            output["label"] = label.rows[i][0]
        if confidence is not None:
            output["confidence"] = confidence.rows[i][0]
        outputs.append(output)
    return outputs
