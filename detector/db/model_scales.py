"""The settled input scale of each model, shared by every worker of a deployment.

Feature values (every normalised distance) and fingerprint bucket keys depend on a model's input
scale, and each worker learns the scale from its own partitions: left alone, two workers would
compute different features and put one input in two different buckets. So the first worker whose
scale of a model settles (``featurizers.input_scale``) stores it, and every worker (that one
included) adopts the stored one, for good: an insert that loses the race stores nothing and reads
the winner's. Delete a model's row to have its scale learned again.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
from sqlalchemy import Engine, and_, select
from sqlalchemy.exc import IntegrityError

from detector.db.tables import model_scales
from featurizers.input_scale import InputScale


class ScaleStore:
    """``model_scales`` rows: (model_id, input length) -> float32 weights and centre, and the inputs behind them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def find(self, model_id: str, dim: int) -> InputScale | None:
        """The stored scale of the model's inputs of length ``dim``, if a worker stored one."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(model_scales.c.weights, model_scales.c.centre, model_scales.c.inputs).where(
                    and_(model_scales.c.model_id == model_id, model_scales.c.dim == dim)
                )
            ).first()
        if row is None:
            return None
        weights, centre = (np.frombuffer(blob, dtype=np.float32).copy() for blob in (row.weights, row.centre))
        return InputScale(dim, row.inputs, weights, centre, version=0)

    def share(self, model_id: str, scale: InputScale) -> InputScale:
        """Store ``scale`` unless one is stored already; the stored one."""
        row = {"model_id": model_id, "dim": scale.dim, "weights": scale.weights.tobytes(), "centre": scale.centre.tobytes(),
               "inputs": scale.count, "created_at": datetime.now(timezone.utc)}  # fmt: skip
        try:
            with self.engine.begin() as connection:
                connection.execute(model_scales.insert(), row)
        except IntegrityError:
            pass  # another worker stored its own first
        stored = self.find(model_id, scale.dim)
        assert stored is not None, "a scale was just stored"
        return stored
