"""Helpers for the simulator tests: run an attack against a model and look at what it sent."""

from __future__ import annotations

import numpy as np

from detector.simulator.api import ModelAPI
from detector.simulator.models import target_model
from detector.simulator.traffic import Cadence, Probe, scripted


def play(probe: Probe, model_id: str, n: int, top1: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` inputs an attack sends to ``model_id``, and the model's full scores for them."""
    api = ModelAPI(target_model(model_id), top1=top1)
    batches: list[np.ndarray] = []
    for _, batch, _ in scripted(probe, api, Cadence(0.1, 0.3), np.random.default_rng(0)):
        batches.append(batch)
        if sum(len(b) for b in batches) >= n:
            break
    sent = np.vstack(batches)[:n]
    return sent, api.model.proba(sent)


def top2_margin(scores: np.ndarray) -> np.ndarray:
    """Top score minus the runner-up, per row."""
    ordered = np.sort(scores, axis=1)
    return ordered[:, -1] - ordered[:, -2]


def changed_coordinates(inputs: np.ndarray) -> np.ndarray:
    """How many coordinates change from each input to the next."""
    return (np.abs(np.diff(inputs, axis=0)) > 0).sum(axis=1)
