"""Which projection the worker fingerprints a model's inputs with for the exchange: the one of the
model's shared scale.

Bucket keys depend on the coordinate weights of the projection, so a model's inputs are published only
once its scale is the one every worker uses: adopted from the database
(:mod:`detector.worker.shared_scales`) or from the calibration file. Until then its clients are matched
only among themselves by each worker's own index.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from featurizers.cross_client import projection_for
from featurizers.state import ModelState

Projection = tuple[np.ndarray, np.ndarray]


class SharedProjections:
    """(model_id, scale version) -> the projection of the model's shared scale, cached (at most
    ``max_models``, least recently used dropped)."""

    def __init__(self, max_models: int) -> None:
        self.max_models = max_models
        self.known: OrderedDict[str, tuple[int, Projection]] = OrderedDict()

    def projection(self, model: ModelState, dim: int) -> Projection | None:
        """The projection of the model's inputs of length ``dim``, or None while its scale is not shared."""
        scale = model.scale
        if scale.source not in ("shared", "calibration") or scale.dim != dim:
            return None
        found = self.known.get(model.model_id)
        if found is not None and found[0] == scale.scale.version:
            self.known.move_to_end(model.model_id)
            return found[1]
        projection = projection_for(scale.scale.weights)
        self.known[model.model_id] = (scale.scale.version, projection)
        self.known.move_to_end(model.model_id)
        while len(self.known) > self.max_models:
            self.known.popitem(last=False)
        return projection
