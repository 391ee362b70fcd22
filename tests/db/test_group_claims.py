"""Group claims: the alerts of one split attack raised by two workers at once get one group id."""

from __future__ import annotations

import numpy as np

from detector.db.model_scales import ScaleStore
from featurizers.input_scale import InputScale
from detector.db.group_claims import GroupClaims
from detector.group_ids import GroupIds


def test_two_workers_raising_one_groups_alerts_give_them_one_id(engine) -> None:
    claims = GroupClaims(engine)
    a, b = GroupIds(claim=claims.claim), GroupIds(claim=claims.claim)
    first = a.assign("m", "rule:s", "k1", ["k2", "k3"], at_ts=10.0, until_ts=3610.0)
    assert b.assign("m", "rule:s", "k4", ["k3", "k5"], at_ts=11.0, until_ts=3611.0) == first
    assert a.assign("m", "rule:s", "k6", ["k5"], at_ts=12.0, until_ts=3612.0) == first, "k5 was claimed by b"
    apart = GroupIds(), GroupIds()
    assert apart[0].assign("m", "rule:s", "k1", ["k2", "k3"], at_ts=10.0, until_ts=3610.0) != apart[1].assign(
        "m", "rule:s", "k4", ["k3", "k5"], at_ts=11.0, until_ts=3611.0
    ), "without claims, each worker names the group after its own first alert"


def test_a_claim_ends_with_its_alerts_suppression(engine) -> None:
    claims = GroupClaims(engine)
    first = GroupIds(claim=claims.claim).assign("m", "rule:s", "k1", ["k2"], at_ts=10.0, until_ts=100.0)
    assert GroupIds(claim=claims.claim).assign("m", "rule:s", "k3", ["k2"], at_ts=200.0, until_ts=300.0) != first


def test_the_first_scale_shared_is_every_workers(engine) -> None:
    store = ScaleStore(engine)
    assert store.find("m", 3) is None
    mine = InputScale(3, 256, np.array([1.0, 2.0, 3.0], dtype=np.float32), np.array([0.0, 1.0, 0.0], np.float32), 0)
    first = store.share("m", mine)
    later = store.share("m", InputScale(3, 512, np.full(3, 9.0, dtype=np.float32), np.zeros(3, np.float32), 0))
    assert first.same_as(later) and first.same_as(store.find("m", 3)) and first.same_as(mine)
    assert (first.count, later.count) == (256, 256)
