"""Group ids: one id shared by the alerts of every member of a split attack.

The keys of a split attack do not all see the same group. Each key's window
matches the keys whose recent probes its own queries nearly copy: for a walk
split over 20 keys, 6 to 11 of them, a different subset for each key. So a
group id cannot be a function of one alert's member set alone, or the members'
alerts would not share it. Instead the first member alerted names the group:
the id is a hash of the model, the detector and that alert's sorted members
(the client and its related clients), so the same keys caught again get the
same id. Every later alert whose related clients include an already alerted
member (while that member's alert is within its suppression window) adopts the
id of the earliest such alert, so the group holds together through any member,
whichever partition or worker raised it.

Members are looked up in memory first (one :class:`GroupIds` is shared by every
partition of a process), then in the alert store: after a restart, or when
another process raised the first alert of the group.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence

import orjson

GroupLookup = Callable[[str, str, Sequence[str], float], "str | None"]
"""(model_id, detector, client_ids, at_ts) -> the group id of the earliest-raised alert of any of those
clients whose suppression window covers ``at_ts`` (earliest: smallest ``suppress_until_ts``), if any."""


def group_id_of(model_id: str, detector: str, members: Sequence[str]) -> str:
    """The id a group gets from its first alert: 32 hex digits of SHA-256 over the model, the
    detector and the sorted members (JSON-encoded, so no choice of client ids makes two sets collide).

    >>> group_id_of("m", "rule:split-probing", ["k2", "k1"]) == group_id_of("m", "rule:split-probing", ["k1", "k2"])
    True
    >>> len(group_id_of("m", "rule:split-probing", ["k1", "k2"]))
    32
    """
    encoded = orjson.dumps([model_id, detector, sorted(set(members))])
    return hashlib.sha256(encoded).hexdigest()[:32]


class GroupIds:
    """Which group each alerted member belongs to: (model, detector, client) -> (suppressed until, group id),
    least recently assigned dropped first beyond ``max_members``.

    Two keys of one walk, then a third that matched only the second:

    >>> groups = GroupIds()
    >>> first = groups.assign("m", "rule:s", "k1", ["k2"], at_ts=10.0, until_ts=3610.0)
    >>> groups.assign("m", "rule:s", "k3", ["k2", "k1"], at_ts=12.0, until_ts=3612.0) == first
    True
    >>> groups.assign("m", "rule:s", "k4", ["k3"], at_ts=20.0, until_ts=3620.0) == first
    True
    >>> groups.assign("m", "rule:s", "k9", ["k3"], at_ts=4000.0, until_ts=7600.0) == first  # k3's alert expired
    False
    """

    def __init__(self, lookup: GroupLookup | None = None, max_members: int = 100_000) -> None:
        self.lookup = lookup
        self.max_members = max_members
        self.members: OrderedDict[tuple[str, str, str], tuple[float, str]] = OrderedDict()

    def assign(
        self, model_id: str, detector: str, client_id: str, related: Sequence[str], *, at_ts: float, until_ts: float
    ) -> str:
        """The group id of a new alert of ``client_id`` naming ``related``, remembered until ``until_ts``."""
        known = [
            found
            for other in related
            if (found := self.members.get((model_id, detector, other))) is not None and found[0] >= at_ts
        ]
        group = min(known)[1] if known else None
        if group is None and self.lookup is not None:
            group = self.lookup(model_id, detector, related, at_ts)
        if group is None:
            group = group_id_of(model_id, detector, [client_id, *related])
        key = (model_id, detector, client_id)
        self.members[key] = (until_ts, group)
        self.members.move_to_end(key)
        while len(self.members) > self.max_members:
            self.members.popitem(last=False)
        return group
