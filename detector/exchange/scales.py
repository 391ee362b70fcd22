"""Which projection the worker fingerprints a model's inputs with for the exchange: the shared one.

A model's scale is shared (:class:`~detector.db.fingerprint_scales.ScaleStore`) once this worker has
seen ``MIN_INPUTS`` novel inputs of it, or as soon as another worker has; until then the model's
inputs are not published (its clients are still matched among themselves by each worker's own
index). A model with no shared scale yet is looked up again at most every ``RECHECK_S`` seconds.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from detector.db.fingerprint_scales import ScaleStore
from featurizers.cross_client import projection_for
from featurizers.gradient_walk import input_scale
from featurizers.state import ModelState

log = logging.getLogger(__name__)

MIN_INPUTS = 64
"""Novel inputs of a model a worker must have seen before its scale is the one everyone uses."""
RECHECK_S = 1.0

Projection = tuple[np.ndarray, np.ndarray]


class SharedScales:
    """(model_id, input length) -> the shared projection, cached (at most ``max_models``, least recently used dropped)."""

    def __init__(self, store: ScaleStore, max_models: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.max_models = max_models
        self.clock = clock
        self.known: OrderedDict[tuple[str, int], Projection] = OrderedDict()
        self.next_check: dict[tuple[str, int], float] = {}

    def projection(self, model: ModelState, dim: int) -> Projection | None:
        """The shared projection of the model's inputs of length ``dim``, or None while there is none."""
        key = (model.model_id, dim)
        found = self.known.get(key)
        if found is not None:
            self.known.move_to_end(key)
            return found
        now = self.clock()
        if self.next_check.get(key, -np.inf) > now:
            return None
        scale = input_scale(model, dim)
        try:
            weights = (
                self.store.share(model.model_id, dim, scale.weights)
                if scale.count >= MIN_INPUTS
                else self.store.find(model.model_id, dim)
            )
        except SQLAlchemyError as exc:
            log.warning("fingerprint scale of model %s not read: %s", model.model_id, str(exc).splitlines()[0])
            weights = None
        if weights is None:
            if len(self.next_check) >= self.max_models:
                self.next_check.clear()
            self.next_check[key] = now + RECHECK_S
            return None
        self.next_check.pop(key, None)
        found = self.known[key] = projection_for(weights)
        while len(self.known) > self.max_models:
            self.known.popitem(last=False)
        return found
