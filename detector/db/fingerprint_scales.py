"""The per-model input scale that every worker of the fingerprint exchange fingerprints with.

Bucket keys depend on the coordinate weights of the projection, and each worker learns its model's
input statistics from its own partitions: left alone, two workers would put one input in two
different buckets. So the first worker that knows a model's scale stores it, and every worker (that
one included) fingerprints with the stored one, for good: an insert that loses the race stores
nothing and reads the winner's.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
from sqlalchemy import Engine, and_, select
from sqlalchemy.exc import IntegrityError

from detector.db.tables import fingerprint_scales


class ScaleStore:
    """``fingerprint_scales`` rows: (model_id, input length) -> float32 weights."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def find(self, model_id: str, dim: int) -> np.ndarray | None:
        with self.engine.connect() as connection:
            blob = connection.execute(self._select(model_id, dim)).scalar_one_or_none()
        return None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()

    def share(self, model_id: str, dim: int, weights: np.ndarray) -> np.ndarray:
        """Store ``weights`` unless a scale is stored already; the stored one."""
        row = {"model_id": model_id, "dim": dim, "weights": np.asarray(weights, dtype=np.float32).tobytes(),
               "created_at": datetime.now(timezone.utc)}  # fmt: skip
        try:
            with self.engine.begin() as connection:
                connection.execute(fingerprint_scales.insert(), row)
        except IntegrityError:
            pass  # another worker stored its own first
        stored = self.find(model_id, dim)
        assert stored is not None, "a scale was just stored"
        return stored

    @staticmethod
    def _select(model_id: str, dim: int):
        return select(fingerprint_scales.c.weights).where(
            and_(fingerprint_scales.c.model_id == model_id, fingerprint_scales.c.dim == dim)
        )
