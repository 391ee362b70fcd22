"""Evidence: the bounded per-query series behind an alert, kept so that an analyst can see it.

Written with the alert (table ``alert_evidence``) so the console never needs
the raw stream. Shape (JSON)::

    {"series": {"target_confidence": {"t": [...], "y": [...]},
                "dist_prev": {"t": [...], "y": [...]},
                "knn_dist": {"t": [...], "y": [...]}},
     "group": {"other_client_id": [t, ...]}}

``t`` are event times (epoch seconds), oldest first; every list is bounded by
the client's window. Series a featurizer cannot provide are absent.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Series(BaseModel):
    """One per-query series: event times and values, same length, oldest first."""

    t: list[float]
    y: list[float]


class Evidence(BaseModel):
    """Series of the alerted client's window, and for group alerts the other clients' query times.

    >>> Evidence(series={"dist_prev": Series(t=[1.0, 2.0], y=[0.1, 0.05])}).model_dump()["series"]["dist_prev"]
    {'t': [1.0, 2.0], 'y': [0.1, 0.05]}
    """

    series: dict[str, Series] = Field(default_factory=dict)
    group: dict[str, list[float]] = Field(default_factory=dict)

    def query_times(self) -> list[float]:
        """The alerted client's own query times: those of its longest series (every series is per query,
        some skip a query or two, such as a distance to the previous one).

        >>> Evidence(series={"a": Series(t=[2.0], y=[0.0]), "b": Series(t=[1.0, 2.0], y=[0.0, 0.0])}).query_times()
        [1.0, 2.0]
        """
        return max((s.t for s in self.series.values()), key=len, default=[])
