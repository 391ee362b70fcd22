"""Group ids: one id shared by the alerts of every member of a split attack.

The keys of a split attack do not all see the same group. Each key's window
matches the keys whose recent probes its own queries nearly copy: for a walk
split over 20 keys, 6 to 11 of them, a different subset for each key. So a
group id cannot be a function of one alert's member set alone, or the members'
alerts would not share it. Instead the group is the connected set of clients
that the alerts name, and its first alert names it: the id is a hash of the
model, the detector and that alert's sorted members (the client and its
related clients), so the same keys caught again get the same id. Every alert
puts its client and the clients it names in its group; a later alert whose
client or related clients are already in a group (while the alert that put
them there is within its suppression window) takes that group's id, the
earliest such group's if there are several. So the group holds together
through any member, whichever partition or worker raised it, and two parts of
one attack get two ids only when their first alerts named no client in common.

Members are looked up in memory first (one :class:`GroupIds` is shared by every
partition of a process), then in the alert store among the alerted clients:
after a restart, or when another process raised the first alert of the group. Workers that raise
a group's alerts at the same moment (the fingerprint exchange) also pass a ``claim``
(:class:`~detector.db.group_claims.GroupClaims`): the id found here is only proposed, and the
database's earliest live claim of any member wins.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence

import orjson

GroupLookup = Callable[[str, str, Sequence[str], float], "str | None"]
"""(model_id, detector, client_ids, at_ts) -> the group id of the earliest-raised stored alert of any of
those clients whose suppression window covers ``at_ts`` (earliest: smallest ``suppress_until_ts``), if any."""

GroupClaim = Callable[[str, str, Sequence[str], float, float, str], str]
"""(model_id, detector, client_ids, at_ts, until_ts, proposed group id) -> the group id to use, recorded
for every one of ``client_ids`` until ``until_ts`` where every worker sees it."""


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
    """Which group each client an alert raised or named belongs to: (model, detector, client) ->
    (the alert's suppression end, group id), least recently set dropped first beyond ``max_members``.

    Two keys of one walk, then keys that matched only a key named before, then one after it all expired:

    >>> groups = GroupIds()
    >>> first = groups.assign("m", "rule:s", "k1", ["k2"], at_ts=10.0, until_ts=3610.0)
    >>> groups.assign("m", "rule:s", "k3", ["k2"], at_ts=12.0, until_ts=3612.0) == first
    True
    >>> groups.assign("m", "rule:s", "k4", ["k3"], at_ts=20.0, until_ts=3620.0) == first
    True
    >>> groups.assign("m", "rule:s", "k2", ["k5"], at_ts=30.0, until_ts=3630.0) == first  # named by k1's alert
    True
    >>> groups.assign("m", "rule:s", "k9", ["k3"], at_ts=4000.0, until_ts=7600.0) == first
    False
    """

    def __init__(
        self, lookup: GroupLookup | None = None, max_members: int = 100_000, claim: GroupClaim | None = None
    ) -> None:
        self.lookup = lookup
        self.claim = claim
        self.max_members = max_members
        self.members: OrderedDict[tuple[str, str, str], tuple[float, str]] = OrderedDict()

    def assign(
        self, model_id: str, detector: str, client_id: str, related: Sequence[str], *, at_ts: float, until_ts: float
    ) -> str:
        """The group id of a new alert of ``client_id`` naming ``related``; both are then in that group
        until ``until_ts``."""
        clients = [client_id, *related]
        known = [
            found
            for other in clients
            if (found := self.members.get((model_id, detector, other))) is not None and found[0] >= at_ts
        ]
        group = min(known)[1] if known else None
        if group is None and self.lookup is not None:
            group = self.lookup(model_id, detector, clients, at_ts)
        if group is None:
            group = group_id_of(model_id, detector, clients)
        if self.claim is not None:
            group = self.claim(model_id, detector, clients, at_ts, until_ts, group)
        for other in clients:
            key = (model_id, detector, other)
            self.members[key] = (until_ts, group)
            self.members.move_to_end(key)
        while len(self.members) > self.max_members:
            self.members.popitem(last=False)
        return group
