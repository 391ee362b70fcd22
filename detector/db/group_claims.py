"""Group claims: one group id for a split attack whose alerts are raised by several workers at once.

Alerts reach the database at checkpoints, seconds apart between workers, so a worker cannot see in
the alerts table that another one has just put the same keys in a group. Each new group alert
therefore claims its members here first, in one transaction under an advisory lock: the earliest
live claim of any of the members (smallest ``until_ts``, as :class:`~detector.group_ids.GroupIds`
picks in memory) wins, and every member is then claimed for it. A claim outlives a worker's crash,
so the alert raised again by the next owner of the partition gets the same id.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, and_, delete, insert, select

from detector.db.migrate import hold_lock
from detector.db.tables import group_claims

GROUP_LOCK_KEY = 0x696E_7667
"""The advisory lock key of group claims ("invg")."""


class GroupClaims:
    """Claims in the alert store's database (the ``claim`` of :class:`~detector.group_ids.GroupIds`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(
        self, model_id: str, detector: str, client_ids: Sequence[str], at_ts: float, until_ts: float, proposed: str
    ) -> str:
        """The group of a new alert of ``client_ids[0]`` naming the others: the earliest live claim of
        any of them, else ``proposed``; all of them are claimed for it until ``until_ts``."""
        clients = sorted(set(client_ids))
        same = and_(group_claims.c.model_id == model_id, group_claims.c.detector == detector)
        with self.engine.begin() as connection:
            hold_lock(connection, GROUP_LOCK_KEY)
            found = connection.execute(
                select(group_claims.c.group_id)
                .where(same, group_claims.c.client_id.in_(clients), group_claims.c.until_ts >= at_ts)
                .order_by(group_claims.c.until_ts, group_claims.c.group_id)
                .limit(1)
            ).scalar_one_or_none()
            group = found if found is not None else proposed
            connection.execute(delete(group_claims).where(same, group_claims.c.client_id.in_(clients)))
            connection.execute(delete(group_claims).where(same, group_claims.c.until_ts < at_ts))
            connection.execute(
                insert(group_claims),
                [{"model_id": model_id, "detector": detector, "client_id": c, "group_id": group, "until_ts": until_ts}
                 for c in clients],
            )  # fmt: skip
        return group
