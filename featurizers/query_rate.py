"""Query rate: how many queries, how bursty, how machine-regular.

Attacks need hundreds to thousands of queries; automation sends them at a
regular cadence. Rates are exponentially decayed counts, so they cost O(1) per
event, need no unbounded history and tolerate slightly out-of-order times.
"""

from __future__ import annotations

import math

import numpy as np

from featurizers.base import Featurizer, Observation
from featurizers.state import ClientState, ModelState

RATE_WINDOWS_S = (10.0, 60.0, 600.0)
SERIES_SPAN = 5


class _RateSlot:
    __slots__ = ("decayed", "at")

    def __init__(self) -> None:
        self.decayed = [0.0] * len(RATE_WINDOWS_S)
        self.at = 0.0

    nbytes = 64


class QueryRate(Featurizer):
    """Decayed query counts over 10 s, 60 s and 10 min, and inter-arrival regularity.

    >>> from featurizers.state import StateStore
    >>> store, f = StateStore(window=32), QueryRate()
    >>> client, model = store.touch("m", "c", 0.0), store.model("m")
    >>> for i in range(20):
    ...     client.append(str(i), i * 0.5, None)
    ...     f.observe(Observation(str(i), i * 0.5, None, None, -1, None), client, model)
    >>> feats = f.compute(client, model)
    >>> round(feats["rate_10s"], 1), round(feats["interarrival_cv"], 3), feats["events_total"]
    (13.0, 0.0, 20.0)
    """

    name = "query_rate"
    FEATURES = {
        "events_total": "queries seen from this client (count); attacks need many",
        "rate_10s": "queries in about the last 10 s (exponentially decayed count); bursts",
        "rate_60s": "queries in about the last 60 s (decayed count); sustained automated probing",
        "rate_600s": "queries in about the last 10 min (decayed count); slow, patient attackers",
        "events_per_s": "mean queries per second over the window (1/s)",
        "interarrival_cv": "coefficient of variation of gaps between queries in the window "
        "(unitless); near 0 for a script on a timer, about 1 for human or Poisson traffic",
        "burstiness": "(sd - mean) / (sd + mean) of gaps (Goh-Barabasi, -1 regular .. 1 bursty)",
    }

    def observe(self, obs: Observation, client: ClientState, model: ModelState) -> None:
        slot = client.slots.get(self.name)
        if slot is None:
            slot = client.slots[self.name] = _RateSlot()
            slot.at = obs.ts
        elapsed = max(obs.ts - slot.at, 0.0)
        for i, tau in enumerate(RATE_WINDOWS_S):
            slot.decayed[i] = slot.decayed[i] * math.exp(-elapsed / tau) + 1.0
        slot.at = max(slot.at, obs.ts)

    def compute(self, client: ClientState, model: ModelState) -> dict[str, float]:
        slot = client.slots.get(self.name)
        feats = {"events_total": float(client.n_events)}
        for i, tau in enumerate(RATE_WINDOWS_S):
            value = 0.0
            if slot is not None:
                value = slot.decayed[i] * math.exp(-max(client.last_ts - slot.at, 0.0) / tau)
            feats[f"rate_{int(tau)}s"] = value
        times = np.sort(client.ts.filled())
        gaps = times[1:] - times[:-1]
        span = float(times[-1] - times[0]) if len(times) > 1 else 0.0
        feats["events_per_s"] = (len(times) - 1) / span if span > 0 else 0.0
        # ndarray.mean and .std, without their per-call overhead (this runs on every scored window)
        mean = float(np.add.reduce(gaps)) / len(gaps) if len(gaps) >= 2 else 0.0
        if mean > 0:
            deviations = gaps - mean
            sd = math.sqrt(float(np.add.reduce(deviations * deviations)) / len(gaps))
            feats["interarrival_cv"] = sd / mean
            feats["burstiness"] = (sd - mean) / (sd + mean)
        else:
            feats["interarrival_cv"] = 1.0
            feats["burstiness"] = 0.0
        return feats

    def series(self, client: ClientState, model: ModelState) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``query_rate``: queries per second at each query, over the last few gaps (up to 5)."""
        times = np.sort(client.ts.filled())
        if len(times) < 2:
            return {}
        index = np.arange(1, len(times))
        span = np.minimum(index, SERIES_SPAN)
        elapsed = np.maximum(times[index] - times[index - span], 1e-3)
        return {"query_rate": (times[1:], span / elapsed)}
