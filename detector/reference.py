"""Reference inputs an owner gives ``calibrate --reference``: records of a model's own input distribution
(training or held-out data), so the detector knows what its inputs look like before any client arrives.

A reference is ``[MODEL_ID=]FILE``:

- ``.npy``: a 2-D array, one record a row (``MODEL_ID=`` required);
- ``.csv``: numbers, one record a line, an optional header line (``MODEL_ID=`` required);
- ``.jsonl`` / ``.jsonl.gz``: inference events of the contract (each record goes to its event's
  ``model_id``; ``MODEL_ID=`` keeps only that model's), or lines ``{"input": [...]}`` (``MODEL_ID=``
  required).

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "train.csv").write_text("a,b\\n1,2\\n3,4\\n")
>>> {m: x.tolist() for m, x in load_reference(f"digits:1={folder / 'train.csv'}").items()}
{'digits:1': [[1.0, 2.0], [3.0, 4.0]]}
>>> load_reference(str(folder / "train.csv"))
Traceback (most recent call last):
...
detector.reference.ReferenceFileError: ...train.csv: a .csv reference needs its model id: --reference MODEL_ID=FILE
"""

from __future__ import annotations

import gzip
from collections import defaultdict
from pathlib import Path

import numpy as np
import orjson

from detector.parse import DeadLetter, parse


class ReferenceFileError(Exception):
    """A reference that cannot be read; the message names the file and, where it applies, the line."""


def split_spec(spec: str) -> tuple[str | None, Path]:
    """``MODEL_ID=FILE`` -> (model id, path); a bare ``FILE`` -> (None, path). A model id may hold ``=``
    only if the file name does not (the last ``=`` before an existing file wins).

    >>> split_spec("breast-cancer:1=ref.npy"), split_spec("events.jsonl")
    (('breast-cancer:1', PosixPath('ref.npy')), (None, PosixPath('events.jsonl')))
    """
    if "=" in spec:
        model_id, _, path = spec.rpartition("=")
        if model_id:
            return model_id, Path(path)
    return None, Path(spec)


def load_reference(spec: str) -> dict[str, np.ndarray]:
    """model id -> its reference records (float32, one a row) from one ``[MODEL_ID=]FILE``."""
    model_id, path = split_spec(spec)
    name = path.name.lower()
    if not path.is_file():
        raise ReferenceFileError(f"{path}: no such file")
    if name.endswith((".jsonl", ".jsonl.gz", ".json.gz")):
        found = _jsonl(path, model_id)
    else:
        if model_id is None:
            raise ReferenceFileError(f"{path}: a {path.suffix or 'plain'} reference needs its model id: --reference MODEL_ID=FILE")
        if name.endswith(".npy"):
            try:
                records = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise ReferenceFileError(f"{path}: not a .npy array: {exc}") from None
        elif name.endswith(".csv"):
            records = _csv(path)
        else:
            raise ReferenceFileError(f"{path}: a reference is .npy, .csv or .jsonl(.gz)")
        found = {model_id: records}
    out = {}
    for model, records in found.items():
        records = np.asarray(records, dtype=np.float32)
        if records.ndim != 2 or len(records) < 2 or records.shape[1] < 1:
            raise ReferenceFileError(f"{path}: model {model!r}: expected two or more records of one width, got shape {records.shape}")
        if not np.isfinite(records).all():
            raise ReferenceFileError(f"{path}: model {model!r}: records must be finite numbers")
        out[model] = records
    if not out:
        raise ReferenceFileError(f"{path}: no records" + (f" for model {model_id!r}" if model_id else ""))
    return out


def load_references(specs: list[str]) -> dict[str, np.ndarray]:
    """Every ``[MODEL_ID=]FILE`` read, a model's records from several files stacked (of one width)."""
    found: dict[str, list[np.ndarray]] = defaultdict(list)
    for spec in specs:
        for model_id, records in load_reference(spec).items():
            if found[model_id] and found[model_id][0].shape[1] != records.shape[1]:
                raise ReferenceFileError(f"{spec}: model {model_id!r}: {records.shape[1]} values a record, other references gave {found[model_id][0].shape[1]}")
            found[model_id].append(records)
    return {model_id: np.vstack(parts) for model_id, parts in found.items()}


def _csv(path: Path) -> np.ndarray:
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append([float(v) for v in line.split(",")])
        except ValueError:
            if number == 1:
                continue  # a header
            raise ReferenceFileError(f"{path}:{number}: not a row of numbers") from None
    if len({len(row) for row in rows}) > 1:
        raise ReferenceFileError(f"{path}: rows of different widths")
    return np.array(rows)


def _jsonl(path: Path, model_id: str | None) -> dict[str, list]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    found: dict[str, list] = defaultdict(list)
    with opener(path, "rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ReferenceFileError(f"{path}:{number}: not JSON: {exc}") from None
            if isinstance(record, dict) and set(record) == {"input"}:
                if model_id is None:
                    raise ReferenceFileError(f"{path}:{number}: input-only lines need the model id: --reference MODEL_ID=FILE")
                found[model_id].append(record["input"])
                continue
            event = parse(line)
            if isinstance(event, DeadLetter):
                raise ReferenceFileError(f"{path}:{number}: not an inference event ({event.reason}) nor an {{\"input\": [...]}} line")
            if event.input_vector is not None and (model_id is None or event.model_id == model_id):
                found[event.model_id].append(event.input_vector)
    return found
