"""Checkpoint blobs: a partition's per-client state, and one model's state.

Blobs are zlib-compressed pickles with a format version. They are read back
only from the detector's own database (unpickling is as trusted as the
database itself). A blob that cannot be read (another format version, a
featurizer that changed its slot classes) raises :class:`SnapshotError`: the
worker then starts that partition or model afresh and says so, instead of
failing.
"""

from __future__ import annotations

import pickle
import zlib
from collections import OrderedDict
from typing import Any

from detector.anomaly_model import WindowAnomalyModel
from featurizers.state import ClientState, ModelState, StateStore

FORMAT = 4
"""Bumped whenever the pickled layout changes incompatibly."""

COMPRESSION_LEVEL = 1
"""Fast: checkpoints run often, and numpy rings compress well even at level 1."""


class SnapshotError(Exception):
    """A blob that cannot be restored; the message is one line."""


def _dump(kind: str, payload: Any) -> bytes:
    return zlib.compress(pickle.dumps((FORMAT, kind, payload), protocol=pickle.HIGHEST_PROTOCOL), COMPRESSION_LEVEL)


def _load(kind: str, blob: bytes) -> Any:
    try:
        version, stored_kind, payload = pickle.loads(zlib.decompress(blob))
    except Exception as exc:  # any unpickling problem means the same thing: unreadable
        raise SnapshotError(f"unreadable {kind} snapshot: {type(exc).__name__}: {exc}") from None
    if version != FORMAT or stored_kind != kind:
        raise SnapshotError(f"{kind} snapshot has format {version!r}/{stored_kind!r}, this version reads {FORMAT}/{kind}")
    return payload


def dump_clients(store: StateStore) -> bytes:
    """Every tracked client of ``store``, least recently seen first, its eviction count and its watermark."""
    return _dump("clients", (list(store.clients.values()), store.evicted, store.watermark))


def load_clients(blob: bytes, store: StateStore) -> None:
    """Put the clients of a :func:`dump_clients` blob into an empty ``store``, in the same recency order.

    >>> a = StateStore(window=8)
    >>> for client, t in (("x", 1.0), ("y", 2.0), ("x", 3.0)):
    ...     a.touch("m", client, t).append(f"{client}{t}", t, None)
    >>> b = StateStore(window=8)
    >>> load_clients(dump_clients(a), b)
    >>> list(b.clients), b.clients[("m", "x")].n_events, b.watermark
    ([('m', 'y'), ('m', 'x')], 2, 3.0)
    """
    clients, evicted, watermark = _load("clients", blob)
    restored: OrderedDict[tuple[str, str], ClientState] = OrderedDict()
    for client in clients:
        restored[(client.model_id, client.client_id)] = client
    store.clients = restored
    store.evicted = evicted
    store.watermark = watermark


def dump_model(state: ModelState, anomaly: WindowAnomalyModel | None) -> bytes:
    """One model's cross-client state (input scale, labels, featurizers' shared structures, online thresholds)
    and its River anomaly model."""
    return _dump("model", (state, anomaly))


def load_model(blob: bytes) -> tuple[ModelState, WindowAnomalyModel | None]:
    """The inverse of :func:`dump_model`."""
    return _load("model", blob)
