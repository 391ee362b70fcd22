"""The records of the fingerprint exchange: what crosses Kafka, and how a bucket finds its partition.

A fingerprint is one LSH band key of one input with its sender (model, client), the input's event
time and its exact-input hash: never the input. A worker sends the fingerprints of a batch bound for
one partition as one record (an event costs ``BANDS`` fingerprints of about 50 bytes plus the ids),
so the record count per batch is bounded by the partitions, not by the events. Matches go back as
JSON (rare: only near-copies across clients match).

>>> prints = [Fingerprint("m", "key-1", 12.5, 7, b"\\x01" * 33), Fingerprint("m", "key-2", 13.0, 8, b"\\x02" * 33)]
>>> decode_fingerprints(encode_fingerprints(prints)) == prints
True
>>> matches = [Match("m", "key-2", 13.0, 8, ("key-1",))]
>>> decode_matches(encode_matches(matches)) == matches
True
>>> bucket_partition("m", b"\\x01" * 33, 8)
5
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

_IDS = struct.Struct("<HH")
_TIME_HASH_KEY = struct.Struct("<dIB")


class WireError(ValueError):
    """A record of the exchange topics that cannot be read (written by something else)."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """One band key of one input: who sent it (model, client), when (event time) and its exact hash."""

    model_id: str
    client_id: str
    ts: float
    exact: int
    key: bytes


@dataclass(frozen=True, slots=True)
class Match:
    """The owner of a bucket found that ``client_id``'s input (``ts``, ``exact``) nearly copies recent
    inputs of ``partners``."""

    model_id: str
    client_id: str
    ts: float
    exact: int
    partners: tuple[str, ...]


def bucket_partition(model_id: str, key: bytes, partitions: int) -> int:
    """The fingerprint-topic partition of a bucket: the same in every worker (CRC-32, not a client
    library's partitioner, which differ between libraries)."""
    return zlib.crc32(model_id.encode() + key) % partitions


def encode_fingerprints(prints: Iterable[Fingerprint]) -> bytes:
    parts = []
    for p in prints:
        model, client = p.model_id.encode(), p.client_id.encode()
        parts += (_IDS.pack(len(model), len(client)), model, client, _TIME_HASH_KEY.pack(p.ts, p.exact, len(p.key)), p.key)
    return b"".join(parts)


def decode_fingerprints(value: bytes) -> list[Fingerprint]:
    prints, at, end = [], 0, len(value)
    try:
        while at < end:
            model_len, client_len = _IDS.unpack_from(value, at)
            at += _IDS.size
            model, client = value[at : at + model_len].decode(), value[at + model_len : at + model_len + client_len].decode()
            at += model_len + client_len
            ts, exact, key_len = _TIME_HASH_KEY.unpack_from(value, at)
            at += _TIME_HASH_KEY.size
            key = value[at : at + key_len]
            at += key_len
            if len(key) != key_len:
                raise WireError("fingerprint record cut short")
            prints.append(Fingerprint(model, client, ts, exact, key))
    except (struct.error, UnicodeDecodeError) as exc:
        raise WireError(f"unreadable fingerprint record: {exc}") from None
    return prints


def encode_matches(matches: Iterable[Match]) -> bytes:
    return orjson.dumps([[m.model_id, m.client_id, m.ts, m.exact, list(m.partners)] for m in matches])


def decode_matches(value: bytes) -> list[Match]:
    try:
        return [Match(str(m), str(c), float(t), int(h), tuple(map(str, p))) for m, c, t, h, p in orjson.loads(value)]
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise WireError(f"unreadable match record: {exc}") from None
