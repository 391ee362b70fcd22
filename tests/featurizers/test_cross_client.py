"""Cross-client: near-copies across API keys make a group; identical shared inputs and strangers do not."""

from __future__ import annotations

import numpy as np
import pytest

from featurizers.cross_client import BANDS, POPULAR_CLIENTS, CrossClient, FingerprintIndex, exact_hash
from featurizers.gradient_walk import GradientWalk
from featurizers.state import StateStore
from tests.featurizers.streams import Query, Replay, benign, coordinate_walk, population

DIM = 32


def replay(cross: CrossClient | None = None, window: int = 64) -> Replay:
    r = Replay([GradientWalk(), cross or CrossClient()], StateStore(window=window))
    population(r, np.random.default_rng(100), DIM, n=2000)
    return r


def split(r: Replay, walk: np.ndarray, keys: list[str], start: float = 0.0) -> None:
    """One probe sequence sent round-robin from several keys."""
    for i, x in enumerate(walk):
        r.send(Query(keys[i % len(keys)], start + i, x=x))


def test_a_walk_split_over_keys_forms_one_group() -> None:
    rng = np.random.default_rng(0)
    r = replay()
    keys = [f"key{i}" for i in range(5)]
    split(r, coordinate_walk(rng, DIM, 12), keys)
    cross = r.featurizers[-1]
    for key in keys:
        feats = cross.compute(r.client(key), r.model())
        assert feats["xclient_match_frac"] > 0.8 and feats["xclient_group_size"] == 4.0
        assert sorted(cross.related_clients(r.client(key), r.model())) == sorted(set(keys) - {key})


def test_strangers_and_a_shared_health_check_input_make_no_group() -> None:
    rng = np.random.default_rng(1)
    r = replay()
    health = rng.standard_normal(DIM)
    for i in range(400):
        client = f"user{i % 20}"
        r.send(Query(client, float(i), x=health if i % 5 == 0 else rng.standard_normal(DIM)))
    cross = r.featurizers[-1]
    for i in range(20):
        assert cross.compute(r.client(f"user{i}"), r.model())["xclient_match_frac"] == 0.0
        assert cross.related_clients(r.client(f"user{i}"), r.model()) == []


def test_a_clients_own_near_duplicates_are_not_cross_client_matches() -> None:
    rng = np.random.default_rng(2)
    r = replay()
    split(r, coordinate_walk(rng, DIM, 4), ["alone"])
    assert r.featurizers[-1].compute(r.client("alone"), r.model())["xclient_match_frac"] == 0.0


def test_matches_expire_after_the_ttl() -> None:
    rng = np.random.default_rng(3)
    r = replay(CrossClient(ttl_s=100.0))
    walk = coordinate_walk(rng, DIM, 2)
    split(r, walk[:16], ["early"], start=0.0)
    split(r, walk[16:], ["late"], start=500.0)
    split(r, walk[:16] + 1e-3, ["soon"], start=50.0)
    cross = r.featurizers[-1]
    assert cross.compute(r.client("late"), r.model())["xclient_match_frac"] == 0.0
    assert cross.compute(r.client("soon"), r.model())["xclient_match_frac"] > 0.5


def test_keys_seen_from_very_many_clients_are_ignored() -> None:
    rng = np.random.default_rng(4)
    r = replay()
    point = rng.standard_normal(DIM)
    for i in range(POPULAR_CLIENTS + 10):  # many clients each send their own slight variant of one input
        r.send(Query(f"c{i}", float(i), x=point + 1e-4 * rng.standard_normal(DIM)))
    cross = r.featurizers[-1]
    assert cross.compute(r.client("c1"), r.model())["xclient_match_frac"] == 1.0
    assert cross.compute(r.client(f"c{POPULAR_CLIENTS + 9}"), r.model())["xclient_match_frac"] == 0.0


def test_the_index_is_bounded_least_recently_used_first() -> None:
    rng = np.random.default_rng(5)
    r = replay(CrossClient(max_keys=200))
    sizes = []
    for i, x in enumerate(benign(rng, 300, DIM)):
        r.send(Query(f"c{i % 7}", float(i), x=x))
        sizes.append(r.model().shared["cross_client"].nbytes)
    index: FingerprintIndex = r.model().shared["cross_client"]
    assert len(index.keys) == 200 and sizes[-1] == sizes[100] == index.max_nbytes
    newest = index.fingerprint(r.client("c5").inputs.last())
    assert all(key in index.keys for key in newest)


def test_keys_are_stable_and_near_inputs_share_them() -> None:
    r = replay()
    rng = np.random.default_rng(6)
    index = r.featurizers[-1].index(r.model(), DIM)
    x = rng.standard_normal(DIM).astype(np.float32)
    keys = index.fingerprint(x)
    assert len(keys) == len(set(keys)) == BANDS and keys == index.fingerprint(x.copy())
    near = sum(bool(set(keys) & set(index.fingerprint(x + 0.01 * rng.standard_normal(DIM).astype(np.float32))))
               for _ in range(100))
    far = sum(bool(set(keys) & set(index.fingerprint(rng.standard_normal(DIM).astype(np.float32))))
              for _ in range(1000))
    assert near > 90 and far == 0


def test_a_refreshed_input_scale_rebuilds_the_index() -> None:
    r = Replay([CrossClient()], StateStore(window=8))
    model = r.model()
    versions = set()
    for i, x in enumerate(benign(np.random.default_rng(7), 40, DIM)):
        seen_by_observe = model.scale.current(DIM).version
        r.send(Query("c", float(i), x=x))
        index = model.shared["cross_client"]
        assert index.version == seen_by_observe
        versions.add(index.version)
    assert len(versions) > 3


@pytest.mark.parametrize("limit", [0, 1])
def test_related_clients_respects_the_limit(limit: int) -> None:
    r = replay()
    split(r, coordinate_walk(np.random.default_rng(8), DIM, 4), ["a", "b", "c"])
    assert len(r.featurizers[-1].related_clients(r.client("a"), r.model(), limit=limit)) == limit


def test_matches_found_elsewhere_count_for_the_input_they_name() -> None:
    rng = np.random.default_rng(7)
    r = replay()
    xs = coordinate_walk(rng, DIM, 12)
    split(r, xs, ["here"])
    cross, client = r.featurizers[-1], r.client("here")
    assert cross.compute(client, r.model())["xclient_match_frac"] == 0.0
    last = client.inputs.last()
    assert cross.credit_match(client, float(len(xs) - 1), exact_hash(last), {"far1", "far2"})
    assert not cross.credit_match(client, float(len(xs) - 1), exact_hash(last) ^ 1, {"far3"}), "another input"
    assert not cross.credit_match(client, -5.0, exact_hash(last), {"far3"}), "no input of that time in the window"
    feats = cross.compute(client, r.model())
    assert feats["xclient_match_frac"] == pytest.approx(1 / len(client.inputs)) and feats["xclient_group_size"] == 2.0
    assert cross.related_clients(client, r.model()) == ["far1", "far2"]
