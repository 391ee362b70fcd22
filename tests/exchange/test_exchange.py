"""The worker's side of the exchange, without Kafka: what it publishes, and which matches it takes."""

from __future__ import annotations

import numpy as np
import pytest

from detector.db.model_scales import ScaleStore
from detector.event import InferenceEvent
from detector.exchange.exchange import MAX_LOTS_WAITING, FingerprintExchange
from detector.exchange.wire import Match, decode_fingerprints
from detector.settings import Settings
from detector.worker.shared_scales import SharedScales
from featurizers.cross_client import BANDS, exact_hash
from featurizers.input_scale import SETTLE_INPUTS
from featurizers.state import ModelState

DIM = 8
PARTITIONS = 8


class Captured:
    """A producer that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int | None]] = []

    def send(self, topic, *, value, key=None, headers=None, partition=None) -> None:
        self.sent.append((topic, value, partition))

    def partitions(self, topic: str) -> int:
        return PARTITIONS


@pytest.fixture
def engine(sqlite_engine):
    return sqlite_engine


def exchange(engine) -> tuple[FingerprintExchange, Captured]:
    producer = Captured()
    found = FingerprintExchange(Settings(fingerprint_topic="fp"), producer)
    found.partitions = producer.partitions("fp")  # start() without the thread
    return found, producer


def model_with_inputs(model_id: str, n: int, rng: np.random.Generator, engine=None) -> ModelState:
    """A model that learned from ``n`` novel inputs; with ``engine``, its scale shared (or adopted) there
    as a worker does after a batch."""
    model = ModelState(model_id)
    for x in rng.normal(size=(n, DIM)).astype(np.float32):
        model.observe_input(x)
    if engine is not None:
        SharedScales(ScaleStore(engine), max_models=8).sync([model])
    return model


def event(client: str, ts: float, x: np.ndarray, model_id: str = "m") -> InferenceEvent:
    return InferenceEvent.model_validate({"event_id": f"{client}-{ts}", "ts": ts, "client_id": client, "model_id": model_id,
                                          "input": x.tolist(), "output": {"scores": [0.4, 0.6]}})  # fmt: skip


def test_each_input_goes_out_as_one_fingerprint_per_band_and_never_as_input(engine) -> None:
    rng = np.random.default_rng(0)
    worker, producer = exchange(engine)
    models = {"m": model_with_inputs("m", SETTLE_INPUTS, rng, engine)}
    xs = rng.normal(size=(20, DIM)).astype(np.float32)
    worker.publish([event(f"c{i % 3}", float(i), x) for i, x in enumerate(xs)], models)
    assert {topic for topic, _, _ in producer.sent} == {"fp"}
    assert len({partition for _, _, partition in producer.sent}) == len(producer.sent), "one record a partition"
    prints = [p for _, value, _ in producer.sent for p in decode_fingerprints(value)]
    assert len(prints) == BANDS * len(xs) == worker.published
    assert {(p.client_id, p.ts, p.exact) for p in prints} == {(f"c{i % 3}", float(i), exact_hash(x)) for i, x in enumerate(xs)}
    assert all(len(p.key) == 33 for p in prints)


def test_a_model_is_published_once_a_worker_shared_its_scale_and_then_with_that_scale(engine) -> None:
    rng = np.random.default_rng(1)
    early, early_out = exchange(engine)
    x = rng.normal(size=DIM).astype(np.float32)
    early.publish([event("a", 1.0, x)], {"m": model_with_inputs("m", SETTLE_INPUTS - 1, rng, engine)})
    assert early_out.sent == [], "no scale is shared before a worker has seen enough of the model"
    settled = model_with_inputs("m", SETTLE_INPUTS, rng)
    first, first_out = exchange(engine)
    first.publish([event("a", 1.0, x)], {"m": settled})
    assert first_out.sent == [], "a scale settled here but not shared yet is not published"
    SharedScales(ScaleStore(engine), max_models=8).sync([settled])
    first.publish([event("a", 1.0, x)], {"m": settled})
    second, second_out = exchange(engine)
    second.publish([event("a", 1.0, x)], {"m": model_with_inputs("m", 4 * SETTLE_INPUTS, rng, engine)})  # learned another
    assert ScaleStore(engine).find("m", DIM) is not None
    assert first_out.sent == second_out.sent != [], "both fingerprint with the scale shared first"


def test_matches_are_taken_once_each_for_the_clients_held_here_without_their_partners_held_here(engine) -> None:
    worker, _ = exchange(engine)
    local = {("m", "key1"), ("m", "mine")}

    def held(model_id: str, client_id: str) -> bool:
        return (model_id, client_id) in local

    worker.heard.put([Match("m", "key1", 5.0, 1, ("key2", "mine")), Match("m", "key1", 6.0, 2, ("mine",))])
    worker.heard.put([Match("m", "key1", 5.0, 1, ("key2", "key3")), Match("m", "away", 7.0, 3, ("key2",))])
    assert worker.matches(held) == [Match("m", "key1", 5.0, 1, ("key2",)), Match("m", "key1", 5.0, 1, ("key3",))]
    local.add(("m", "away"))  # its partition came here: its input is processed again, and matched again
    worker.heard.put([Match("m", "away", 7.0, 3, ("key2",)), Match("m", "key1", 5.0, 1, ("key2",))])
    assert worker.matches(held) == [Match("m", "away", 7.0, 3, ("key2",))]


def test_matches_wait_for_the_worker_within_a_bound(engine) -> None:
    worker, _ = exchange(engine)
    for lot in range(MAX_LOTS_WAITING + 3):
        worker._hear([Match("m", "key1", float(lot), 1, ("key2",))])
    assert worker.dropped == 3
    assert len(worker.matches(lambda model, client: client == "key1")) == MAX_LOTS_WAITING
