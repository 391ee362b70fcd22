"""The worker's side of the input-scale policy (``featurizers.input_scale``) under scale-out.

A model's scale settles once ``SETTLE_INPUTS`` inputs were counted towards it (``SETTLE_SHARE`` a client
at most), counted in every worker together: a worker whose own scale of a model has not settled yet
stores its share of the counted inputs (running statistics) at most every ``RECHECK_S`` seconds, and
when the union of every worker's shares holds enough, or its own scale settled, it stores the scale
(:class:`~detector.db.model_scales.ScaleStore`, first writer wins). Every worker, that one included,
adopts the stored scale: from then on each worker computes the model's features and fingerprints with
the same one, settled when one process holding all the traffic would have settled it. A calibrated model
has its scale from the calibration file, the same in every worker, and needs none of this.

A database error leaves the model as it is (its scale is stored or looked up again at the next check);
it never holds up consumption.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable

from sqlalchemy.exc import SQLAlchemyError

from detector.db.model_scales import ScaleStore
from featurizers.input_scale import SETTLE_INPUTS, InputNormaliser, InputScale, ModelScale
from featurizers.state import ModelState

log = logging.getLogger(__name__)

RECHECK_S = 1.0
"""How often a model whose scale is not shared yet is looked for in the store, at most."""


class SharedScales:
    """Pools the inputs counted towards each model's scale, shares the scales settled on them and adopts the
    stored ones, for the models a batch touched."""

    def __init__(
        self, store: ScaleStore, max_models: int, clock: Callable[[], float] = time.monotonic, worker_id: str | None = None
    ) -> None:
        self.store = store
        self.max_models = max_models
        self.clock = clock
        self.worker_id = worker_id or uuid.uuid4().hex
        """Whose share of the counted inputs this process stores (one per process)."""
        self.next_check: dict[str, float] = {}

    def sync(self, models: Iterable[ModelState]) -> None:
        """Store this worker's share of each unsettled model's counted inputs and the scales that settled
        (here, or on the union of every worker's shares); adopt the ones stored (by any worker)."""
        now = self.clock()
        for model in models:
            scale = model.scale
            if scale.source in ("shared", "calibration") or scale.dim is None:
                continue
            if self.next_check.get(model.model_id, -1.0) > now:
                continue
            try:
                stored = self._stored(model.model_id, scale)
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

    def _stored(self, model_id: str, scale: ModelScale) -> InputScale | None:
        """The model's stored scale: this worker's own if it settled here or the union of every worker's
        counted inputs is enough to settle on (storing it unless another was stored first), else the one
        another worker stored, if any."""
        if scale.source == "settled":
            return self._share(model_id, scale.scale)
        stored = self.store.find(model_id, scale.dim)
        if stored is None and scale.settling is not None and scale.settling.count:
            union = InputNormaliser.union(self.store.contribute(model_id, self.worker_id, scale.settling))
            if union.count >= SETTLE_INPUTS:
                stored = self._share(model_id, ModelScale.learned(union))
        return stored

    def _share(self, model_id: str, scale: InputScale) -> InputScale:
        stored = self.store.share(model_id, scale)
        self.store.forget_parts(model_id)
        return stored
