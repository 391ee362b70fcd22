"""The owners of the fingerprint buckets, each seeing only its partitions, find what one process's index finds."""

from __future__ import annotations

import numpy as np
import pytest

from detector.exchange.bucket_owner import BucketOwner, ResumePoints
from detector.exchange.wire import Fingerprint, WireError, bucket_partition, decode_fingerprints, decode_matches
from featurizers.cross_client import FingerprintIndex, exact_hash
from tests.featurizers.streams import benign, coordinate_walk

DIM = 16
PARTITIONS = 8


def traffic(rng: np.random.Generator) -> list[tuple[str, float, np.ndarray]]:
    """A walk dealt round-robin to five keys, among two people's unrelated queries, one second apart."""
    walk = coordinate_walk(rng, DIM, 40)
    people = benign(rng, len(walk), DIM)
    sent = []
    for i, (probe, other) in enumerate(zip(walk, people)):
        sent.append((f"key{i % 5}", 2.0 * i, probe.astype(np.float32)))
        sent.append((f"person{i % 2}", 2.0 * i + 1.0, other.astype(np.float32)))
    return sent


def test_the_owners_of_the_partitions_find_the_partners_one_index_finds() -> None:
    sent = traffic(np.random.default_rng(3))
    index = FingerprintIndex(np.full(DIM, 1.0 / np.sqrt(DIM), dtype=np.float32), 0, max_keys=40_000, ttl_s=120.0)
    owners = [BucketOwner(max_keys=40_000, ttl_s=120.0) for _ in range(PARTITIONS)]
    alone: dict[tuple[str, float], set[str]] = {}
    spread: dict[tuple[str, float], set[str]] = {}
    for client, ts, x in sent:
        keys = index.fingerprint(x)
        alone[(client, ts)] = index.match_and_add(keys, client, ts, exact_hash(x))
        for key in keys:
            owner = owners[bucket_partition("m", key, PARTITIONS)]
            for match in owner.match([Fingerprint("m", client, ts, exact_hash(x), key)]):
                spread.setdefault((match.client_id, match.ts), set()).update(match.partners)
    assert {k: v for k, v in alone.items() if v} == spread
    assert {p for (client, _), partners in spread.items() for p in partners if client.startswith("key")} == {
        f"key{i}" for i in range(5)
    }
    assert not any(client.startswith("person") for client, _ in spread), "strangers share no bucket"


def test_a_new_owner_reading_from_the_resume_point_matches_as_the_old_one_would() -> None:
    key = b"\x07" * 33
    records = [[Fingerprint("m", f"k{i % 3}", float(10 * i), i, key)] for i in range(30)]
    old, points = BucketOwner(1000, ttl_s=120.0), ResumePoints(ttl_s=120.0)
    for offset, prints in enumerate(records[:20]):
        old.match(prints)
        points.seen("fp", 0, offset, max(p.ts for p in prints))
    resume = points.offsets()[("fp", 0)]
    assert 0 < resume < 20, "records older than the TTL are not read again"
    new = BucketOwner(1000, ttl_s=120.0)
    for prints in records[resume:20]:
        new.match(prints)
    for prints in records[20:]:
        assert new.match(prints) == old.match(prints)


def test_each_owner_keeps_at_most_max_keys_per_model_and_max_models() -> None:
    owner = BucketOwner(max_keys=10, ttl_s=120.0, max_models=2)
    for model in ("a", "b", "c"):
        owner.match([Fingerprint(model, "k", 1.0, i, bytes([i]) * 33) for i in range(50)])
    assert list(owner.indexes) == ["b", "c"]
    assert all(len(index.keys) == 10 for index in owner.indexes.values())


def test_records_written_by_something_else_are_refused_with_a_reason() -> None:
    with pytest.raises(WireError, match="fingerprint"):
        decode_fingerprints(b"\x05\x00\x02\x00abc")
    with pytest.raises(WireError, match="match"):
        decode_matches(b'{"not": "a list"}')
