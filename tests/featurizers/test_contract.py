"""The contract every featurizer keeps, checked the same way for each one in the default registry.

Like river's estimator checks: deterministic, bounded memory, no aliasing of
the caller's arrays, state that survives pickling, sensible before warm-up,
robust to events that lack an input or carry only a top-1 answer, and every
feature it returns documented. Each featurizer runs behind the ones before it
in the registry, as in the pipeline, since it may read what they keep.
"""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Iterator

import numpy as np
import pytest

from featurizers.base import Featurizer
from featurizers.registry import default_featurizers
from featurizers.state import StateStore
from tests.featurizers.streams import Query, Replay

WINDOW = 32
DIM = 12
CLASSES = 6
CLIENTS = ("a", "b", "c")
NAMES = [f.name for f in default_featurizers()]


def chain(name: str) -> list[Featurizer]:
    """Fresh default featurizers up to and including ``name``."""
    featurizers = default_featurizers()
    return featurizers[: NAMES.index(name) + 1]


def mixed(seed: int, n: int, clients: tuple[str, ...] = CLIENTS) -> list[Query]:
    """Every kind of event the contract allows, from a few clients probing near each other and the model."""
    rng = np.random.default_rng(seed)
    labels = ["cat", "dog", "owl"]
    probe = rng.standard_normal(DIM)
    seen: list[np.ndarray] = []
    queries = []
    for i in range(n):
        client, kind, ts = clients[i % len(clients)], i % 7, 1000.0 + 0.5 * i
        x = rng.standard_normal(DIM).astype(np.float32)
        scores = rng.dirichlet(np.ones(CLASSES)).astype(np.float32)
        if kind == 0:
            queries.append(Query(client, ts, x=x, scores=scores))
        elif kind == 1:  # a probe near the shared point, from whichever client
            probe = probe + 0.002 * rng.standard_normal(DIM)
            x = probe.astype(np.float32)
            queries.append(Query(client, ts, x=x, scores=scores))
        elif kind == 2:
            queries.append(Query(client, ts, x=x, label=labels[i % 3], confidence=float(rng.random())))
        elif kind == 3:
            queries.append(Query(client, ts, label=labels[i % 3]))
        elif kind == 4:
            queries.append(Query(client, ts, scores=scores))
        elif kind == 5 and seen:  # an identical retry
            x = seen[int(rng.integers(len(seen)))].copy()
            queries.append(Query(client, ts, x=x, scores=scores))
        else:
            queries.append(Query(client, ts, x=x, confidence=float(rng.random())))
        if kind in (0, 1, 2):
            seen.append(x)
    return queries


def run(name: str, queries: list[Query], every: int = 5) -> Iterator[tuple[int, str, dict[str, float]]]:
    """Feed ``queries``; every ``every`` events yield (event number, client, features of that client)."""
    replay = Replay(chain(name), StateStore(window=WINDOW))
    featurizer = replay.featurizers[-1]
    for i, query in enumerate(queries, 1):
        replay.send(query)
        if i % every == 0:
            yield i, query.client_id, featurizer.compute(replay.client(query.client_id), replay.model())


def assert_valid(featurizer: Featurizer, feats: dict[str, float]) -> None:
    assert set(feats) <= set(featurizer.FEATURES), f"undocumented: {set(feats) - set(featurizer.FEATURES)}"
    for key, value in feats.items():
        assert type(value) is float and math.isfinite(value), f"{key} = {value!r}"


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return request.param


def test_same_events_give_the_same_features(name: str) -> None:
    queries = mixed(0, 6 * WINDOW)
    assert list(run(name, queries)) == list(run(name, queries))


def test_compute_changes_nothing(name: str) -> None:
    queries = mixed(1, 4 * WINDOW)
    every_event = list(run(name, queries, every=1))
    at_the_end = list(run(name, queries, every=len(queries)))
    assert every_event[-1] == at_the_end[-1]


def test_memory_stops_growing_once_the_window_is_full(name: str) -> None:
    replay = Replay(chain(name), StateStore(window=WINDOW))
    queries = mixed(2, 10 * WINDOW * len(CLIENTS))
    sizes = []
    for part in (queries[: len(queries) // 5], queries[len(queries) // 5 :]):
        replay.send_all(part)
        clients = [replay.client(c) for c in CLIENTS]
        shared = replay.model().shared
        sizes.append(
            (
                [(c.nbytes, c.max_nbytes) for c in clients],
                [len(pickle.dumps(c)) for c in clients],
                {key: value.nbytes for key, value in shared.items()},
            )
        )
    (nbytes_2x, pickled_2x, shared_2x), (nbytes_10x, pickled_10x, shared_10x) = sizes
    for (_, bound_2x), (size_10x, bound_10x) in zip(nbytes_2x, nbytes_10x):
        assert bound_10x == bound_2x and size_10x <= bound_2x, "per-client memory must stay within its bound"
    for before, after, (size_2x, bound_2x) in zip(pickled_2x, pickled_10x, nbytes_2x):
        headroom = bound_2x - size_2x  # a history still growing towards its declared bound
        assert after <= before * 1.05 + 512 + headroom, "the state's real size must not grow past its bound"
    for key, value in replay.model().shared.items():
        bound = getattr(value, "max_nbytes", shared_2x.get(key))
        assert shared_10x[key] <= bound, key


def test_mutating_the_callers_arrays_after_observe_changes_nothing(name: str) -> None:
    queries = mixed(3, 4 * WINDOW)
    untouched = list(run(name, copy.deepcopy(queries)))
    replay = Replay(chain(name), StateStore(window=WINDOW))
    featurizer = replay.featurizers[-1]
    mutated = []
    for i, query in enumerate(queries, 1):
        replay.send(query)
        for array in (query.x, query.scores):
            if array is not None:
                array[:] = 7.0  # the caller reuses its buffers
        if i % 5 == 0:
            mutated.append((i, query.client_id, featurizer.compute(replay.client(query.client_id), replay.model())))
    assert mutated == untouched


def test_pickled_state_continues_identically(name: str) -> None:
    queries = mixed(4, 6 * WINDOW)
    first, second = queries[: len(queries) // 2], queries[len(queries) // 2 :]
    original = Replay(chain(name), StateStore(window=WINDOW))
    original.send_all(first)
    clients, models = pickle.loads(pickle.dumps((original.store.clients, original.store.models)))
    restored = Replay(chain(name), StateStore(window=WINDOW, models=models))
    restored.store.clients = clients
    original.send_all(second)
    restored.send_all(second)
    for client in CLIENTS:
        assert restored.features(client) == original.features(client)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_features_before_warm_up_are_finite_and_documented(name: str, n: int) -> None:
    replay = Replay(chain(name), StateStore(window=WINDOW))
    replay.store.touch("m", "a", 1000.0)
    replay.send_all(mixed(5, n, clients=("a",)))
    featurizer = replay.featurizers[-1]
    assert_valid(featurizer, featurizer.compute(replay.client("a"), replay.model()))


@pytest.mark.parametrize(
    "kind",
    [
        lambda i: Query("a", float(i), label=i % 3),
        lambda i: Query("a", float(i), confidence=0.5),
        lambda i: Query("a", float(i), label="x", confidence=0.1 * (i % 10)),
        lambda i: Query("a", float(i), x=np.full(DIM, i % 2, dtype=np.float32), label=i % 2),
        lambda i: Query("a", float(i), x=np.zeros(DIM, dtype=np.float32), scores=np.array([1.0], dtype=np.float32)),
        lambda i: Query("a", float(i), scores=np.full(1000, 0.001, dtype=np.float32)),
    ],
    ids=["label-only", "confidence-only", "top1-only", "label-and-input", "single-score", "flat-1000-classes"],
)
def test_partial_or_degenerate_events_do_not_raise(name: str, kind) -> None:
    replay = Replay(chain(name), StateStore(window=WINDOW))
    featurizer = replay.featurizers[-1]
    for i in range(2 * WINDOW):
        replay.send(kind(i))
        assert_valid(featurizer, featurizer.compute(replay.client("a"), replay.model()))


def test_every_returned_feature_is_documented_and_every_documented_one_is_returned(name: str) -> None:
    featurizer = chain(name)[-1]
    produced: set[str] = set()
    for _, _, feats in run(name, mixed(6, 16 * WINDOW), every=1):  # each client past its first TRUSTED_AFTER events
        assert_valid(featurizer, feats)
        produced |= feats.keys()
    assert produced == set(featurizer.FEATURES)
    assert all(doc.strip() for doc in featurizer.FEATURES.values())


def test_series_and_related_clients_are_well_formed(name: str) -> None:
    replay = Replay(chain(name), StateStore(window=WINDOW))
    replay.send_all(mixed(7, 4 * WINDOW))
    featurizer = replay.featurizers[-1]
    for client_id in CLIENTS:
        client = replay.client(client_id)
        start, end = client.first_ts, client.last_ts
        for series_name, (times, values) in featurizer.series(client, replay.model()).items():
            assert len(times) == len(values) > 0, series_name
            assert np.all(np.isfinite(values)) and np.all(np.diff(times) >= 0), series_name
            assert start <= times[0] and times[-1] <= end, series_name
        related = featurizer.related_clients(client, replay.model())
        assert client_id not in related and all(isinstance(other, str) for other in related)
