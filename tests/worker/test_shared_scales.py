"""Under scale-out every worker adopts the input scale the first worker to settle it stored; the model
snapshot row keeps the view that took in the most events."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.exc import OperationalError

from detector.db.model_scales import ScaleStore
from detector.worker.checkpoint_store import CheckpointStore
from detector.worker.shared_scales import RECHECK_S, SharedScales
from featurizers.input_scale import SETTLE_INPUTS, InputScale
from featurizers.state import ModelState

DIM = 6


@pytest.fixture
def engine(sqlite_engine):
    return sqlite_engine


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def learned(n: int, seed: int) -> ModelState:
    model = ModelState("m")
    for x in np.random.default_rng(seed).normal(0.0, 1.0 + seed, size=(n, DIM)).astype(np.float32):
        model.observe_input(x)
    return model


def test_every_worker_adopts_the_scale_settled_first_that_one_included(engine) -> None:
    first, second, late = learned(SETTLE_INPUTS, 1), learned(SETTLE_INPUTS, 2), learned(10, 3)
    mine = first.scale.current(DIM)
    assert first.scale.source == second.scale.source == "settled"
    assert not mine.same_as(second.scale.current(DIM)), "the two workers learned different scales"
    for model in (first, second, late):
        SharedScales(ScaleStore(engine), max_models=8).sync([model])
    assert first.scale.source == second.scale.source == late.scale.source == "shared"
    assert first.scale.current(DIM) is mine, "the first worker keeps its own (same version)"
    assert second.scale.current(DIM).same_as(mine) and late.scale.current(DIM).same_as(mine)


def test_a_worker_still_learning_looks_for_the_stored_scale_at_most_every_recheck(engine) -> None:
    clock = Clock()
    sharing = SharedScales(ScaleStore(engine), max_models=8, clock=clock)
    early = learned(10, 1)
    sharing.sync([early])
    assert early.scale.source == "provisional"
    SharedScales(ScaleStore(engine), max_models=8).sync([learned(SETTLE_INPUTS, 2)])
    clock.now = RECHECK_S / 2
    sharing.sync([early])
    assert early.scale.source == "provisional", "not looked up again before the recheck"
    clock.now = RECHECK_S
    sharing.sync([early])
    assert early.scale.source == "shared"


def test_a_calibrated_scale_is_not_replaced_and_a_database_error_holds_nothing_up(engine) -> None:
    calibrated = learned(3, 1)
    calibrated.scale.adopt(InputScale.unit(DIM), "calibration")
    SharedScales(ScaleStore(engine), max_models=8).sync([learned(SETTLE_INPUTS, 2)])
    SharedScales(ScaleStore(engine), max_models=8).sync([calibrated])
    assert calibrated.scale.source == "calibration" and calibrated.scale.current(DIM).same_as(InputScale.unit(DIM))

    class Down(ScaleStore):
        def share(self, model_id, scale):
            raise OperationalError("INSERT", {}, Exception("database is down"))

    settled = learned(SETTLE_INPUTS, 3)
    SharedScales(Down(engine), max_models=8).sync([settled])
    assert settled.scale.source == "settled", "shared at a later check"


def test_a_model_snapshot_is_not_overwritten_by_a_view_that_saw_fewer_events(engine) -> None:
    store = CheckpointStore(engine, "group")
    for blob, observed in ((b"first", 100), (b"stale", 40), (b"later", 100), (b"richer", 250), (b"stale", 200)):
        with engine.begin() as connection:
            store.save_model(connection, "m", blob, observed)
    assert store.model("m") == b"richer"


def test_workers_none_of_which_counted_enough_settle_on_the_union_of_their_inputs(engine) -> None:
    rng = np.random.default_rng(5)
    inputs = rng.normal(0.0, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], size=(SETTLE_INPUTS, DIM)).astype(np.float32)
    halves = [ModelState("m"), ModelState("m")]
    for i, x in enumerate(inputs):
        halves[i % 2].observe_input(x)
    alone = ModelState("m")
    for x in inputs:
        alone.observe_input(x)  # one process holding all the traffic settles on them all
    workers = [SharedScales(ScaleStore(engine), max_models=8, worker_id=f"w{i}") for i in range(2)]
    workers[0].sync([halves[0]])
    assert halves[0].scale.source == "provisional", "half the inputs are not enough"
    workers[1].sync([halves[1]])
    workers[0].next_check.clear()
    workers[0].sync([halves[0]])
    assert halves[0].scale.source == halves[1].scale.source == "shared"
    union = halves[1].scale.current(DIM)
    assert union.count == SETTLE_INPUTS and halves[0].scale.current(DIM).same_as(union)
    np.testing.assert_allclose(union.weights, alone.scale.current(DIM).weights, rtol=1e-4)
