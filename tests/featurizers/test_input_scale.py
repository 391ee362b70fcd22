"""A model's input scale: provisional, then settled at ``SETTLE_INPUTS`` novel inputs, or adopted."""

from __future__ import annotations

import numpy as np

from featurizers.input_scale import SETTLE_INPUTS, InputScale, ModelScale
from featurizers.state import ModelState, label_class

DIM = 4


def inputs(n: int, seed: int = 0, spread: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, spread, size=(n, DIM)).astype(np.float32)


def test_the_scale_settles_at_its_count_and_then_stays_put() -> None:
    scale = ModelScale()
    for x in inputs(SETTLE_INPUTS - 1):
        scale.observe(x)
        scale.current(DIM)
    assert scale.source == "provisional"
    scale.observe(inputs(1, seed=1)[0])
    settled = scale.current(DIM)
    assert scale.source == "settled" and settled.count == SETTLE_INPUTS
    for x in inputs(4 * SETTLE_INPUTS, seed=2, spread=50.0):  # traffic of another spread no longer moves it
        scale.observe(x)
    assert scale.current(DIM) is settled


def test_the_settled_scale_is_the_one_learned_from_the_first_novel_inputs_whatever_came_after() -> None:
    a, b = ModelScale(), ModelScale()
    first = inputs(SETTLE_INPUTS)
    for x in first:
        a.observe(x)
        b.observe(x)
    for x in inputs(100, seed=3, spread=9.0):
        b.observe(x)
    assert a.current(DIM).same_as(b.current(DIM))


def test_an_adopted_scale_replaces_the_learned_one_with_a_new_version_and_learning_stops() -> None:
    scale = ModelScale()
    for x in inputs(10):
        scale.observe(x)
    learned = scale.current(DIM)
    other = InputScale(DIM, SETTLE_INPUTS, np.full(DIM, 0.25, np.float32), np.ones(DIM, np.float32), version=0)
    scale.adopt(other, "shared")
    now = scale.current(DIM)
    assert scale.source == "shared" and now.same_as(other) and now.version == learned.version + 1
    scale.observe(inputs(1, seed=4)[0])
    assert scale.current(DIM) is now


def test_adopting_the_scale_in_use_keeps_its_version() -> None:
    """The worker whose own settled scale was stored adopts it back: nothing built on it is rebuilt."""
    scale = ModelScale()
    for x in inputs(SETTLE_INPUTS):
        scale.observe(x)
    mine = scale.current(DIM)
    scale.adopt(InputScale(DIM, mine.count, mine.weights.copy(), mine.centre.copy(), version=7), "shared")
    assert scale.source == "shared" and scale.current(DIM) is mine


def test_inputs_of_another_length_get_unit_weights_and_teach_nothing() -> None:
    scale = ModelScale()
    for x in inputs(5):
        scale.observe(x)
    scale.observe(np.ones(DIM + 1, np.float32))
    assert scale.normaliser.count == 5
    assert np.allclose(scale.current(DIM + 1).weights, 1 / np.sqrt(DIM + 1))


def test_string_labels_get_the_same_class_whatever_order_they_arrive_in() -> None:
    one, two = ModelState("m"), ModelState("m")
    forward = [one.class_of(label) for label in ("cat", "dog", "eel")]
    backward = [two.class_of(label) for label in ("eel", "dog", "cat")][::-1]
    assert forward == backward == [label_class(label) for label in ("cat", "dog", "eel")]
    assert one.n_classes == two.n_classes == 3
    assert all(0 <= c < 2**24 for c in forward), "exact in the float32 rows that keep them"
