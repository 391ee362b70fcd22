"""Training records: queries that are noised copies of the model's own training records.

Membership inference asks whether a record was in the training set by
querying it and many perturbations of it (label-only membership inference
by noise robustness, Choquette-Choo et al. 2021; score-based attacks by the
confidence around it). Where the owner gave the training records
(``calibrate --reference``), each record's locality-sensitive hash keys are
kept, never the record: ``BANDS`` keys of ``ROWS`` quantized random
projections each (p-stable hashing, Datar et al. 2004; bucket width
``BUCKET_WIDTH`` in the normalised units of the records' own spread), each
hashed to 64 bits, and one hash of the record itself quantized to
``AT_RESOLUTION``. A query that shares a key with a training record but is
not the record lies within a few hundredths to a few tenths of one: a
perturbation of it. Sending the record itself is not evidence (a scoring or
evaluation job sends training records as they are); sending many perturbations
of training records is.

The keys' scale (centre and per-coordinate weights) is fixed when the index
is built, so runs and restarts hash queries the same way.
"""

from __future__ import annotations

import math

import numpy as np

from featurizers.base import Featurizer, Observation
from featurizers.long_horizon import array_key
from featurizers.ring import Ring
from featurizers.state import ClientState, ModelState

BANDS = 4
ROWS = 8
BUCKET_WIDTH = 0.3
"""Normalised RMS units: inputs 0.05 apart share a key with probability ~0.8, 0.1 apart ~0.3, 0.5 apart
almost never (as the cross-client fingerprints)."""
AT_RESOLUTION = 1e-3
"""A query this close to a record on every coordinate (normalised units) is the record itself."""
SEED = 20211012


class RecordIndex:
    """Hashed keys of a model's training records, and the fixed scale they were hashed in.

    >>> rng = np.random.default_rng(0)
    >>> records = rng.normal(size=(500, 16)).astype(np.float32)
    >>> index = RecordIndex.from_records(records)
    >>> index.lookup(records[3]), index.lookup(rng.normal(size=16))
    ((True, True), (False, False))
    >>> copies = [index.lookup(records[i] + 0.05 * rng.normal(size=16)) for i in range(200)]
    >>> sum(at for at, _ in copies), sum(near for _, near in copies) > 140
    (0, True)
    """

    __slots__ = ("centre", "weights", "projection", "offsets", "near_keys", "at_keys")

    def __init__(self, centre: np.ndarray, weights: np.ndarray, near_keys: np.ndarray, at_keys: np.ndarray) -> None:
        self.centre = np.asarray(centre, dtype=np.float32)
        self.weights = np.asarray(weights, dtype=np.float32)
        rng = np.random.default_rng(SEED + len(self.centre))
        self.projection = (rng.standard_normal((BANDS * ROWS, len(self.centre))) / BUCKET_WIDTH).astype(np.float32)
        self.offsets = rng.random(BANDS * ROWS).astype(np.float32)
        self.near_keys = np.sort(np.asarray(near_keys, dtype=np.int64))
        self.at_keys = np.sort(np.asarray(at_keys, dtype=np.int64))

    @classmethod
    def from_records(cls, records: np.ndarray) -> "RecordIndex":
        """The index of ``records`` (one a row), in the normalised units of their own spread (each
        coordinate's floored at the median spread, as the neighbourhood's are)."""
        records = np.asarray(records, dtype=np.float32)
        spread = records.std(axis=0)
        spread = np.maximum(spread, max(float(np.median(spread)), 1e-6))
        index = cls(records.mean(axis=0), 1.0 / (spread * math.sqrt(records.shape[1])), np.zeros(0), np.zeros(0))
        near, at = zip(*(index.keys(x) for x in records))
        index.near_keys = np.unique(np.concatenate(near))
        index.at_keys = np.unique(np.array(at, dtype=np.int64))
        return index

    def keys(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """The input's ``BANDS`` neighbourhood keys and the key of the input itself."""
        z = (np.asarray(x, dtype=np.float32) - self.centre) * self.weights
        cells = np.floor(self.projection @ z + self.offsets).astype(np.int64).reshape(BANDS, ROWS)
        near = np.array([array_key(np.append(band, b)) for b, band in enumerate(cells)], dtype=np.int64)
        return near, array_key(np.round(z / AT_RESOLUTION).astype(np.int64))

    def lookup(self, x: np.ndarray) -> tuple[bool, bool]:
        """(the input is a training record, it shares a key with one)."""
        near, at = self.keys(x)
        return bool(_contains(self.at_keys, np.array([at]))[0]), bool(_contains(self.near_keys, near).any())

    def arrays(self) -> dict[str, np.ndarray]:
        return {"centre": self.centre, "weights": self.weights, "near_keys": self.near_keys, "at_keys": self.at_keys}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "RecordIndex":
        return cls(arrays["centre"], arrays["weights"], arrays["near_keys"], arrays["at_keys"])

    @property
    def nbytes(self) -> int:
        return self.projection.nbytes + self.offsets.nbytes + self.near_keys.nbytes + self.at_keys.nbytes + 2 * self.centre.nbytes


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    slots = np.minimum(np.searchsorted(sorted_keys, keys), max(len(sorted_keys) - 1, 0))
    return sorted_keys[slots] == keys if len(sorted_keys) else np.zeros(len(keys), dtype=bool)


class TrainingRecords(Featurizer):
    """The share of a client's queries that perturb a training record (models with a reference only).

    >>> from featurizers.state import StateStore
    >>> rng = np.random.default_rng(1)
    >>> records = rng.normal(size=(400, 12)).astype(np.float32)
    >>> store, f = StateStore(window=64), TrainingRecords()
    >>> store.model("m").shared[TrainingRecords.name] = RecordIndex.from_records(records)
    >>> def send(client, inputs):
    ...     for i, x in enumerate(np.asarray(inputs, dtype=np.float32)):
    ...         state = store.touch("m", client, float(i))
    ...         state.append(f"{client}{i}", float(i), x)
    ...         f.observe(Observation(f"{client}{i}", float(i), x, None, -1, None), state, store.model("m"))
    ...     return f.compute(state, store.model("m"))["training_near_frac"]
    >>> probes = np.repeat(records[:4], 16, axis=0) + 0.03 * rng.normal(size=(64, 12))
    >>> send("prober", probes) > 0.6, send("scorer", records[:64]), send("user", rng.normal(size=(64, 12)))
    (True, 0.0, 0.0)
    """

    name = "training_records"
    FEATURES = {
        "training_near_frac": "fraction of the window's queries that are near a training record but not the record "
        "(sharing a locality-sensitive key with one; models whose owner gave calibrate --reference only) (0..1): "
        "membership inference queries perturbations of the records it asks about",
    }

    def observe(self, obs: Observation, client: ClientState, model: ModelState) -> None:
        index = model.shared.get(self.name)
        if obs.x is None or index is None or len(index.centre) != len(obs.x):
            return
        flags = client.slots.get(self.name)
        if flags is None:
            flags = client.slots[self.name] = Ring(client.window)
        at, near = index.lookup(obs.x)
        flags.append(float(near and not at))

    def compute(self, client: ClientState, model: ModelState) -> dict[str, float]:
        """0 where the model has no index (no query can be near a record nobody gave)."""
        flags = client.slots.get(self.name)
        return {"training_near_frac": float(flags.filled().mean()) if flags is not None and len(flags) else 0.0}
