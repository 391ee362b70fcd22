"""The owner of fingerprint-topic partitions: matches every sender's fingerprints of its buckets.

All senders of a bucket meet on its partition (:func:`~detector.exchange.wire.bucket_partition`), so
the one worker that owns the partition sees every client whose input fell in the bucket, whichever
worker holds that client. Matching is the in-process index's own (:class:`~featurizers.cross_client.
BucketIndex`: near-but-not-identical inputs of other clients within the TTL, popular buckets
ignored), one index per model, each bounded by ``max_keys`` and the models by ``max_models`` (least
recently seen dropped first). A crash loses the indexes; the next owner rebuilds them by reading the
partition again from its resume point (:class:`ResumePoints`), the oldest record still within the TTL.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable

from detector.exchange.wire import Fingerprint, Match
from featurizers.cross_client import BucketIndex

MAX_MARKS = 100_000
"""Records remembered per partition for its resume point (older ones are given up: a new owner
then rebuilds a little less than the TTL)."""


class BucketOwner:
    """Per model, the recent senders of each bucket this worker owns; :meth:`match` finds the partners.

    A walk's three keys on two workers, then a stranger:

    >>> owner = BucketOwner(max_keys=1000, ttl_s=120.0)
    >>> key = b"\\x00" * 33
    >>> owner.match([Fingerprint("m", "k1", 1.0, 11, key), Fingerprint("m", "k2", 2.0, 12, key)])
    [Match(model_id='m', client_id='k2', ts=2.0, exact=12, partners=('k1',))]
    >>> owner.match([Fingerprint("m", "k3", 3.0, 13, key), Fingerprint("other", "k4", 3.0, 14, key)])
    [Match(model_id='m', client_id='k3', ts=3.0, exact=13, partners=('k1', 'k2'))]
    """

    def __init__(self, max_keys: int, ttl_s: float, max_models: int = 1000) -> None:
        self.max_keys = max_keys
        self.ttl_s = ttl_s
        self.max_models = max_models
        self.indexes: OrderedDict[str, BucketIndex] = OrderedDict()

    def match(self, prints: Iterable[Fingerprint]) -> list[Match]:
        """Record each fingerprint and return, for those that nearly copy other clients' recent ones, whom."""
        matches = []
        for p in prints:
            index = self._index(p.model_id)
            partners = index.match_and_add([p.key], p.client_id, p.ts, p.exact)
            if partners:
                matches.append(Match(p.model_id, p.client_id, p.ts, p.exact, tuple(sorted(partners))))
        return matches

    def _index(self, model_id: str) -> BucketIndex:
        index = self.indexes.get(model_id)
        if index is None:
            index = self.indexes[model_id] = BucketIndex(self.max_keys, self.ttl_s)
            while len(self.indexes) > self.max_models:
                self.indexes.popitem(last=False)
        else:
            self.indexes.move_to_end(model_id)
        return index

    @property
    def nbytes(self) -> int:
        return sum(index.nbytes for index in self.indexes.values())


class ResumePoints:
    """Where a new owner of a partition starts reading so that it rebuilds the buckets' live entries:
    the offset of the oldest record holding a fingerprint within ``ttl_s`` of the partition's newest.

    >>> points = ResumePoints(ttl_s=120.0)
    >>> for offset, newest in ((0, 10.0), (1, 100.0), (2, 200.0)):
    ...     points.seen("fp", 0, offset, newest)
    >>> points.offsets()
    {('fp', 0): 1}
    """

    def __init__(self, ttl_s: float, max_marks: int = MAX_MARKS) -> None:
        self.ttl_s = ttl_s
        self.max_marks = max_marks
        self.marks: dict[tuple[str, int], deque[tuple[int, float]]] = {}
        self.newest: dict[tuple[str, int], float] = {}

    def seen(self, topic: str, partition: int, offset: int, newest_ts: float) -> None:
        """A record at ``offset`` whose latest fingerprint is dated ``newest_ts`` was matched."""
        tp = (topic, partition)
        marks = self.marks.setdefault(tp, deque())
        marks.append((offset, newest_ts))
        newest = self.newest[tp] = max(self.newest.get(tp, newest_ts), newest_ts)
        while marks and (marks[0][1] < newest - self.ttl_s or len(marks) > self.max_marks):
            marks.popleft()

    def offsets(self) -> dict[tuple[str, int], int]:
        """The resume point of every partition with a live record."""
        return {tp: marks[0][0] for tp, marks in self.marks.items() if marks}

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        for tp in partitions:
            self.marks.pop(tp, None)
            self.newest.pop(tp, None)
