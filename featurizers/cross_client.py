"""Cross-client: one probing sequence spread over many API keys.

A careful attacker splits its queries over many client ids, so that no single
client's window looks like a walk. Blacklight (Li et al. 2022) catches this by
fingerprinting every query and matching it against *all* recent queries of the
model, whoever sent them. Blacklight hashes overlapping segments of quantized
pixels; here the fingerprint is p-stable locality-sensitive hashing (Datar et
al. 2004) of the normalised input, which works for any input vector, not only
images: ``BANDS`` keys per input, each the quantized projections of the input
on ``ROWS`` random directions with bucket width ``BUCKET_WIDTH`` (normalised
RMS units). Two inputs share at least one key with probability ~0.79 at
distance 0.05, ~0.30 at 0.1, ~3e-5 at 0.5 and ~2e-7 at 1.0, so near-identical
queries meet and unrelated ones practically never do.

The index is shared by all clients of a model (``model.shared["cross_client"]``)
and bounded: at most ``max_keys`` keys, least recently used dropped first,
entries older than ``ttl_s`` of event time ignored and dropped, at most
``ENTRIES_PER_KEY`` clients per key. The default ``ttl_s`` is two minutes: the
keys of a split walk meet each other's probes within seconds, while two users
who happen to send near-identical inputs do so minutes or hours apart. Benign sharing must not make a group, so a
match counts only when the inputs are near but not identical (a health-check
sample that many clients send is identical, so it never links them) and keys
seen from more than ``POPULAR_CLIENTS`` clients are ignored.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict

import numpy as np

from featurizers.base import Featurizer, Observation
from featurizers.ring import Ring
from featurizers.state import ClientState, ModelState

BANDS = 4
ROWS = 8
BUCKET_WIDTH = 0.3
ENTRIES_PER_KEY = 4
POPULAR_CLIENTS = 32
MAX_PARTNERS = 64
"""Other clients remembered per client (the most recently matched)."""

SEED = 20220807
_BANDS = tuple((band * 4 * ROWS, (band + 1) * 4 * ROWS, bytes([band])) for band in range(BANDS))
"""Byte range of each band's bucket numbers (int32) and the tag that keeps bands apart."""

_FLOOR_SHIFT = 2.0**15
"""Added to every projection so that truncation to int is floor (bucket numbers stay positive); at this
magnitude float32 resolves 1/256 of a bucket, far finer than the distances that matter."""
KEY_NBYTES = 600
"""Approximate bytes of one index key with its entries (measured ~450 with one sender; for the memory bound)."""

PARTNER_NBYTES = 120


class _Key:
    """Who sent inputs with one fingerprint key recently: client id -> (time, exact hash), newest last."""

    __slots__ = ("entries", "clients_seen", "last_ts")

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, int]] = {}
        self.clients_seen = 0
        self.last_ts = -math.inf


def projection_for(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The random directions (scaled by ``weights`` and the bucket width) and offsets of the LSH: the same
    for every process given the same ``weights``, so that two processes fingerprint an input alike."""
    rng = np.random.default_rng(SEED)
    directions = rng.standard_normal((BANDS * ROWS, len(weights)), dtype=np.float32)
    return directions * (weights / BUCKET_WIDTH), rng.random(BANDS * ROWS, dtype=np.float32) + _FLOOR_SHIFT


def fingerprint(projection: np.ndarray, offsets: np.ndarray, x: np.ndarray) -> list[bytes]:
    """The ``BANDS`` keys of one input: each band's ``ROWS`` bucket numbers, tagged with the band."""
    cells = (projection @ x + offsets).astype(np.int32).tobytes()
    return [cells[start:end] + tag for start, end, tag in _BANDS]


def exact_hash(x: np.ndarray) -> int:
    """CRC-32 of the input's float32 bytes: tells an identical input from a near one."""
    return zlib.crc32(np.asarray(x, dtype=np.float32).tobytes())


class BucketIndex:
    """The bounded, time-expiring map from fingerprint keys to their recent senders, and the matching
    over it: pure, so the in-process index and the owner of a fingerprint-topic partition share it.

    Two keys of a walk, a third that sends the second's input exactly (no near copy of it), a fourth after the TTL:

    >>> index = BucketIndex(max_keys=100, ttl_s=120.0)
    >>> index.match_and_add([b"k1"], "a", 0.0, exact=1), index.match_and_add([b"k1"], "b", 1.0, exact=2)
    (set(), {'a'})
    >>> index.match_and_add([b"k1"], "c", 2.0, exact=2), index.match_and_add([b"k1"], "d", 200.0, exact=3)
    ({'a'}, set())
    """

    __slots__ = ("keys", "max_keys", "ttl_s")

    def __init__(self, max_keys: int, ttl_s: float) -> None:
        self.keys: OrderedDict[bytes, _Key] = OrderedDict()
        self.max_keys = max_keys
        self.ttl_s = ttl_s

    def match_and_add(self, keys: list[bytes], client_id: str, ts: float, exact: int) -> set[str]:
        """Other clients that recently sent a near-but-not-identical input with a shared key; then record this one."""
        horizon = ts - self.ttl_s
        partners: set[str] = set()
        index = self.keys
        for key in keys:
            slot = index.get(key)
            if slot is None:
                slot = index[key] = _Key()
            else:
                index.move_to_end(key)
                if slot.clients_seen <= POPULAR_CLIENTS:
                    for other, (t, h) in slot.entries.items():
                        if t >= horizon and h != exact and other != client_id:
                            partners.add(other)
            entries = slot.entries
            if entries.pop(client_id, None) is None:
                slot.clients_seen += 1
                if len(entries) >= ENTRIES_PER_KEY:
                    del entries[next(iter(entries))]
            entries[client_id] = (ts, exact)
            if ts > slot.last_ts:
                slot.last_ts = ts
        self._evict(horizon)
        return partners

    def _evict(self, horizon: float) -> None:
        keys = self.keys
        while len(keys) > self.max_keys:
            keys.popitem(last=False)
        while keys and next(iter(keys.values())).last_ts < horizon:
            keys.popitem(last=False)

    @property
    def nbytes(self) -> int:
        return KEY_NBYTES * len(self.keys)


class FingerprintIndex(BucketIndex):
    """The model-wide index of one process: a :class:`BucketIndex` and the projection its keys come from."""

    __slots__ = ("version", "projection", "offsets")

    def __init__(self, weights: np.ndarray, version: int, max_keys: int, ttl_s: float) -> None:
        super().__init__(max_keys, ttl_s)
        self.version = version
        self.projection, self.offsets = projection_for(weights)

    def fingerprint(self, x: np.ndarray) -> list[bytes]:
        """The ``BANDS`` keys of one input under this index's projection."""
        return fingerprint(self.projection, self.offsets, x)

    @property
    def nbytes(self) -> int:
        return self.projection.nbytes + self.offsets.nbytes + KEY_NBYTES * len(self.keys)

    @property
    def max_nbytes(self) -> int:
        """The most :attr:`nbytes` can reach."""
        return self.projection.nbytes + self.offsets.nbytes + KEY_NBYTES * self.max_keys


class _CrossSlot:
    """Per input, whether it matched other clients; and the other clients matched, newest last."""

    __slots__ = ("matched", "partners")

    def __init__(self, window: int) -> None:
        self.matched = Ring(window)
        self.partners: OrderedDict[str, list[float]] = OrderedDict()
        """client id -> [matches, last match time]."""

    def add(self, partners: set[str], ts: float) -> None:
        self.matched.append(1.0 if partners else 0.0)
        self._remember(partners, ts)

    def credit(self, back: int, partners: set[str], ts: float) -> None:
        """The input appended ``back`` inputs ago matched ``partners`` after all (found elsewhere)."""
        matched = self.matched
        matched.data[(matched.head - 1 - back) % matched.capacity] = 1.0
        self._remember(partners, ts)

    def _remember(self, partners: set[str], ts: float) -> None:
        for other in sorted(partners):
            seen = self.partners.pop(other, None) or [0.0, ts]
            self.partners[other] = [seen[0] + 1.0, max(seen[1], ts)]
        while len(self.partners) > MAX_PARTNERS:
            self.partners.popitem(last=False)

    def recent(self, since: float) -> list[tuple[str, list[float]]]:
        return [(c, seen) for c, seen in self.partners.items() if seen[1] >= since]

    @property
    def nbytes(self) -> int:
        return self.matched.nbytes + PARTNER_NBYTES * len(self.partners) + 64


class CrossClient(Featurizer):
    """Fraction of a client's queries that are near-copies of other clients' recent queries, and who those are.

    Three keys walking around one point in turn, and two clients that send
    the same health-check input besides their own unrelated queries:

    >>> from featurizers.state import StateStore
    >>> rng = np.random.default_rng(5)
    >>> store, f = StateStore(window=32), CrossClient()
    >>> model = store.model("m")
    >>> for x in rng.normal(size=(300, 32)).astype(np.float32):
    ...     model.observe_input(x)
    >>> def send(client_id, x, t):
    ...     client = store.touch("m", client_id, t)
    ...     client.append(f"{client_id}-{t}", t, np.asarray(x, dtype=np.float32))
    ...     f.observe(Observation(f"{client_id}-{t}", t, client.inputs.last(), None, -1, None), client, model)
    ...     return client
    >>> centre, health = rng.normal(size=32), rng.normal(size=32)
    >>> for t in range(60):
    ...     _ = send(f"key{t % 3}", centre + 0.01 * rng.normal(size=32), float(t))
    ...     _ = send(f"user{t % 2}", health if t % 10 == 0 else rng.normal(size=32), float(t))
    >>> key, user = store.clients[("m", "key2")], store.clients[("m", "user1")]
    >>> f.compute(key, model), f.related_clients(key, model)
    ({'xclient_match_frac': 1.0, 'xclient_group_size': 2.0}, ['key0', 'key1'])
    >>> f.compute(user, model), f.related_clients(user, model)
    ({'xclient_match_frac': 0.0, 'xclient_group_size': 0.0}, [])
    """

    name = "cross_client"
    FEATURES = {
        "xclient_match_frac": "fraction of the client's recent inputs that are near-copies (not identical) of "
        "other clients' recent inputs of the same model (0..1); a probe sequence split over API keys",
        "xclient_group_size": "other clients whose recent inputs this client's window nearly copied (count); "
        "the size of a split attack's group",
    }

    def __init__(self, max_keys: int = 40_000, ttl_s: float = 120.0) -> None:
        """``max_keys`` fingerprint keys per model (each input adds up to ``BANDS``), kept ``ttl_s`` of event time."""
        self.max_keys = max_keys
        self.ttl_s = ttl_s

    def index(self, model: ModelState, width: int) -> FingerprintIndex:
        """The model's index, rebuilt (empty) when the model's input scale was refreshed."""
        scale = model.scale.current(width)
        index = model.shared.get(self.name)
        if index is None or index.version != scale.version or index.projection.shape[1] != width:
            index = model.shared[self.name] = FingerprintIndex(scale.weights, scale.version, self.max_keys, self.ttl_s)
        return index

    def observe(self, obs: Observation, client: ClientState, model: ModelState) -> None:
        if obs.x is None or client.inputs is None:
            return
        slot = client.slots.get(self.name)
        if slot is None:
            slot = client.slots[self.name] = _CrossSlot(client.window)
        x = client.inputs.last()
        index = self.index(model, len(x))
        partners = index.match_and_add(index.fingerprint(x), client.client_id, obs.ts, exact_hash(x))
        slot.add(partners, obs.ts)

    def credit_match(self, client: ClientState, ts: float, exact: int, partners: set[str]) -> bool:
        """Matches found outside this index (by the owner of a fingerprint bucket, over other processes'
        clients) for the client's input sent at ``ts`` with :func:`exact_hash` ``exact``: the input
        counts as matched and ``partners`` join the client's. False when that input is no longer in
        the window (nothing changes)."""
        slot = client.slots.get(self.name)
        if slot is None or client.inputs is None or client.input_ts is None or not partners:
            return False
        for back in range(min(len(slot.matched), len(client.inputs))):
            if client.input_ts.last(back) == ts and exact_hash(client.inputs.last(back)) == exact:
                slot.credit(back, partners, ts)
                return True
        return False

    def _window_start(self, client: ClientState) -> float:
        return float(client.input_ts.filled().min()) if client.input_ts is not None else math.inf

    def compute(self, client: ClientState, model: ModelState) -> dict[str, float]:
        slot = client.slots.get(self.name)
        if slot is None or len(slot.matched) == 0:
            return {}
        return {
            "xclient_match_frac": float(slot.matched.filled().mean()),
            "xclient_group_size": float(len(slot.recent(self._window_start(client)))),
        }

    def related_clients(self, client: ClientState, model: ModelState, limit: int = 50) -> list[str]:
        """The other clients matched during the client's window, most matches first (ties by id)."""
        slot = client.slots.get(self.name)
        if slot is None:
            return []
        recent = sorted(slot.recent(self._window_start(client)), key=lambda item: (-item[1][0], item[0]))
        return [c for c, _ in recent[:limit]]

    def series(self, client: ClientState, model: ModelState) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``xclient_match``: 1 for each input that nearly copied another client's, else 0, by input time."""
        slot = client.slots.get(self.name)
        if slot is None or client.input_ts is None or len(slot.matched) == 0:
            return {}
        values = slot.matched.ordered().astype(np.float64)
        return {"xclient_match": (client.input_ts.ordered()[-len(values) :], values)}
