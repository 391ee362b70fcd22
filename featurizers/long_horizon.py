"""Long horizon: how many distinct queries a client has sent over its whole tracked life.

Extraction needs volume. Knockoff nets, ActiveThief and Jacobian augmentation
label thousands to hundreds of thousands of distinct inputs to train a
substitute; equation solving needs fewer, but no fewer than the model has
parameters. Every window statistic forgets them after 64 queries; a count of
distinct inputs over hours does not. Retries and re-encoded copies are not
distinct (``neighbourhood`` collapses them against the window), and exact
re-sends of old inputs (a re-scoring job's fixed set, a client retrying
yesterday's batch) are counted once: each novel query's exact bytes go into a
HyperLogLog sketch (Apache DataSketches, ``lg_k`` = ``LG_K``: about 3% error,
at most ``SKETCH_NBYTES`` bytes however long the client lives, a few dozen
while it is small). The horizon is the client's tracked life: until it is idle
for ``idle_ttl_s`` (six hours by default) or evicted.
"""

from __future__ import annotations

import hashlib

from datasketches import hll_sketch, tgt_hll_type

from featurizers.base import Featurizer, Observation
from featurizers.neighbourhood import History, Neighbourhood
from featurizers.state import ClientState, ModelState

LG_K = 10
"""Log2 of the sketch's buckets: 1,024 buckets, relative error about 1.04 / sqrt(1024) = 3%."""
TYPE = tgt_hll_type.HLL_8
SKETCH_NBYTES = hll_sketch.get_max_updatable_serialization_bytes(LG_K, TYPE)
"""The sketch's bound in bytes (1,064)."""


def array_key(x) -> int:
    """A signed 64-bit hash of an array's exact bytes (an input's float32 values), the same in every process.

    >>> import numpy as np
    >>> a = np.array([0.5, 1.0], dtype=np.float32)
    >>> array_key(a) == array_key(a.copy()), array_key(a) == array_key(a + 1e-6)
    (True, False)
    """
    return int.from_bytes(hashlib.blake2b(x.tobytes(), digest_size=8).digest(), "little", signed=True)


class DistinctInputs:
    """A client's HyperLogLog sketch of distinct inputs; pickled as its compact serialisation.

    >>> import numpy as np
    >>> d = DistinctInputs()
    >>> for i in range(3000):
    ...     d.add(np.array([i % 1000], dtype=np.float32))
    >>> 970 < d.estimate < 1030, d.nbytes <= SKETCH_NBYTES
    (True, True)
    """

    __slots__ = ("sketch",)

    def __init__(self) -> None:
        self.sketch = hll_sketch(LG_K, TYPE)

    def add(self, x) -> None:
        self.sketch.update(array_key(x))

    @property
    def estimate(self) -> float:
        return self.sketch.get_estimate()

    @property
    def nbytes(self) -> int:
        return self.sketch.get_updatable_serialization_bytes()

    @property
    def max_nbytes(self) -> int:
        return SKETCH_NBYTES

    def __getstate__(self) -> bytes:
        return self.sketch.serialize_updatable()

    def __setstate__(self, blob: bytes) -> None:
        self.sketch = hll_sketch.deserialize(blob)


class LongHorizon(Featurizer):
    """Distinct queries over the client's tracked life.

    A re-scoring job sending the same 200 inputs again and again, and a client sending new ones:

    >>> import numpy as np
    >>> from featurizers.gradient_walk import GradientWalk
    >>> from featurizers.state import StateStore
    >>> rng = np.random.default_rng(0)
    >>> def replay(inputs):
    ...     store, chain = StateStore(window=64), (GradientWalk(), Neighbourhood(), LongHorizon())
    ...     model = store.model("m")
    ...     for i, x in enumerate(np.asarray(inputs, dtype=np.float32)):
    ...         client = store.touch("m", "c", float(i))
    ...         client.append(str(i), float(i), x)
    ...         for featurizer in chain:
    ...             featurizer.observe(Observation(str(i), float(i), x, None, -1, None), client, model)
    ...     return chain[-1].compute(client, model)["distinct_queries_total"]
    >>> fixed = rng.normal(size=(200, 8))
    >>> round(replay(np.vstack([fixed] * 5)), -1), round(replay(rng.normal(size=(1000, 8))), -2)
    (200.0, 1000.0)
    """

    name = "long_horizon"
    requires = (Neighbourhood.name,)
    FEATURES = {
        "distinct_queries_total": "distinct queries the client has sent over its tracked life (until idle for "
        "idle_ttl_s; a HyperLogLog estimate, ~3% error): retries, re-encoded copies and exact re-sends of old "
        "inputs counted once; extraction needs thousands",
    }

    def observe(self, obs: Observation, client: ClientState, model: ModelState) -> None:
        history: History | None = client.slots.get(Neighbourhood.name)
        if obs.x is None or history is None or history.stored_slot < 0:
            return  # no input, or a repeat of the window's
        distinct = client.slots.get(self.name)
        if distinct is None:
            distinct = client.slots[self.name] = DistinctInputs()
        distinct.add(obs.x)

    def compute(self, client: ClientState, model: ModelState) -> dict[str, float]:
        distinct = client.slots.get(self.name)
        return {} if distinct is None else {"distinct_queries_total": float(round(distinct.estimate))}
