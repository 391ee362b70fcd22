"""The worker's side of the input-scale policy (``featurizers.input_scale``) under scale-out.

A model's scale settles in one worker first; that worker stores it (:class:`~detector.db.model_scales.ScaleStore`,
first writer wins) and every worker, that one included, adopts the stored scale: from then on each
worker computes the model's features and fingerprints with the same one. A worker whose own scale of a
model has not settled yet looks for a stored one at most every ``RECHECK_S`` seconds; a calibrated
model has its scale from the calibration file, the same in every worker, and needs neither.

A database error leaves the model as it is (its scale is stored or looked up again at the next check);
it never holds up consumption.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from sqlalchemy.exc import SQLAlchemyError

from detector.db.model_scales import ScaleStore
from featurizers.state import ModelState

log = logging.getLogger(__name__)

RECHECK_S = 1.0
"""How often a model whose scale is not shared yet is looked for in the store, at most."""


class SharedScales:
    """Shares settled scales and adopts the stored ones, for the models a batch touched."""

    def __init__(self, store: ScaleStore, max_models: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.max_models = max_models
        self.clock = clock
        self.next_check: dict[str, float] = {}

    def sync(self, models: Iterable[ModelState]) -> None:
        """Store the scales that settled here, adopt the ones stored (by any worker)."""
        now = self.clock()
        for model in models:
            scale = model.scale
            if scale.source in ("shared", "calibration") or scale.dim is None:
                continue
            if self.next_check.get(model.model_id, -1.0) > now:
                continue
            try:
                stored = (
                    self.store.share(model.model_id, scale.scale)
                    if scale.source == "settled"
                    else self.store.find(model.model_id, scale.dim)
                )
            except SQLAlchemyError as exc:
                log.warning("input scale of model %s not shared: %s", model.model_id, str(exc).splitlines()[0])
                stored = None
            if stored is None:
                if len(self.next_check) >= self.max_models:
                    self.next_check.clear()
                self.next_check[model.model_id] = now + RECHECK_S
                continue
            self.next_check.pop(model.model_id, None)
            scale.adopt(stored, "shared")
