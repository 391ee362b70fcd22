"""The settled input scale of each model, shared by every worker of a deployment.

Feature values (every normalised distance) and fingerprint bucket keys depend on a model's input
scale, and each worker learns the scale from its own partitions: left alone, two workers would
compute different features and put one input in two different buckets. So the first worker whose
scale of a model settles (``featurizers.input_scale``) stores it, and every worker (that one
included) adopts the stored one, for good: an insert that loses the race stores nothing and reads
the winner's. Delete a model's row to have its scale learned again.

Until then each worker keeps its share of the model's counted inputs in ``model_scale_parts`` (running
statistics, never inputs), so that the scale settles on the union of all workers' as soon as it holds
enough, as it would in one process: with four workers, no single one may ever count enough on its own.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
from sqlalchemy import Engine, and_, delete, select
from sqlalchemy.exc import IntegrityError

from detector.db.tables import model_scale_parts, model_scales
from featurizers.input_scale import InputNormaliser, InputScale


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

    def contribute(self, model_id: str, worker_id: str, part: InputNormaliser) -> list[InputNormaliser]:
        """Store this worker's share of the model's counted inputs (replacing its earlier one); every
        worker's share, this one's included."""
        dim = len(part.mean)
        key = and_(model_scale_parts.c.model_id == model_id, model_scale_parts.c.dim == dim)
        with self.engine.begin() as connection:
            connection.execute(delete(model_scale_parts).where(and_(key, model_scale_parts.c.worker_id == worker_id)))
            connection.execute(model_scale_parts.insert(), {
                "model_id": model_id, "dim": dim, "worker_id": worker_id, "inputs": part.count,
                "mean": part.mean.astype(np.float64).tobytes(), "m2": part.m2.astype(np.float64).tobytes(),
                "updated_at": datetime.now(timezone.utc)})  # fmt: skip
            rows = connection.execute(
                select(model_scale_parts.c.inputs, model_scale_parts.c.mean, model_scale_parts.c.m2).where(key)
            ).all()
        parts = []
        for row in rows:
            stored = InputNormaliser(dim)
            stored.count = row.inputs
            stored.mean = np.frombuffer(row.mean, dtype=np.float64).copy()
            stored.m2 = np.frombuffer(row.m2, dtype=np.float64).copy()
            parts.append(stored)
        return parts

    def forget_parts(self, model_id: str) -> None:
        """Drop the model's shares once its scale is stored: they are of no more use."""
        with self.engine.begin() as connection:
            connection.execute(delete(model_scale_parts).where(model_scale_parts.c.model_id == model_id))
