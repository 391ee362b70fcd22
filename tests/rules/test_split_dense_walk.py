"""A decision-based walk split over many keys is named as a group although its steps are dense: its
proposals scatter around the current point and turn back, as Boundary and HopSkipJump do."""

from __future__ import annotations

import uuid

import numpy as np
import orjson

from detector.settings import Settings
from tests.rules.test_noise_and_blinding import DIM, alerts, events, person, sample

RULE = "rule:split-probing"
KEYS = [f"sybil-{i}" for i in range(8)]


def dense_walk(rng: np.random.Generator, n: int = 600, radius: float = 0.008) -> np.ndarray:
    """Proposals with Gaussian noise on every coordinate around a point that moves slowly towards a
    target (a Boundary attack's random step, then a step towards the original input)."""
    centre, target, out = sample(rng, 1)[0], sample(rng, 1)[0], []
    for i in range(n):
        out.append(np.clip(centre + radius * rng.standard_normal(DIM), 0, 1))
        if i % 10 == 9:
            centre = centre + 0.02 * (target - centre)
    return np.array(out)


def split_lines(walk: np.ndarray, start: float) -> list[tuple[float, bytes]]:
    """The walk sent round-robin over ``KEYS``, four probes a second."""
    out = []
    for i, x in enumerate(walk):
        t = start + 0.25 * i
        scores = np.exp(4 * x[:4]) / np.exp(4 * x[:4]).sum()
        out.append((t, orjson.dumps({"event_id": str(uuid.UUID(int=i + 1)), "ts": 1.8e9 + t, "client_id": KEYS[i % len(KEYS)],
                                     "model_id": "m", "input": x.round(6).tolist(),
                                     "output": {"scores": scores.round(6).tolist()}})))  # fmt: skip
    return out


def test_a_dense_walk_split_over_keys_is_alerted_and_the_people_around_it_are_not() -> None:
    people, kind_of = events({"person": (person, 30)}, seed=4)
    timeline = [(orjson.loads(line)["ts"] - 1.8e9, line) for line in people]
    timeline += split_lines(dense_walk(np.random.default_rng(3)), start=100.0)
    timeline.sort(key=lambda item: item[0])
    fired = alerts([line for _, line in timeline], Settings(online_calibration=False))
    grouped = [key for key in KEYS if RULE in fired[key]]
    assert len(grouped) >= len(KEYS) / 2, f"only {grouped} alerted as a group"
    assert not [client for client in kind_of if fired[client]]
