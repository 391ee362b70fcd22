"""Calibrated detection on probes that hide behind noise and blinding, and on clients that only look
like probing: calibrate on one sample of benign traffic, replay another with attackers in it.

The model's inputs are 16 features in [0, 1] drawn around a few prototypes, like small images.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from pathlib import Path

import numpy as np
import orjson
import pytest

from detector.assembly import load_ruleset
from detector.calibration import load_calibration
from detector.commands.calibrate import calibrate
from detector.parse import parse
from detector.pipeline import Pipeline
from detector.settings import Settings

DIM = 16
PROTOTYPES = np.random.default_rng(99).uniform(0.1, 0.9, size=(12, DIM))


def sample(rng: np.random.Generator, n: int) -> np.ndarray:
    """Real-looking inputs: a prototype and its own variation."""
    return np.clip(PROTOTYPES[rng.integers(len(PROTOTYPES), size=n)] + 0.12 * rng.standard_normal((n, DIM)), 0, 1)


def person(rng, n=60):
    return sample(rng, n)


def heavy_retry(rng, n=80):
    """Most requests re-sent 2-5 times, copies carrying re-encoding noise of ~1e-3 of the range."""
    out = []
    for x in sample(rng, n // 3):
        for _ in range(int(rng.integers(2, 6))):
            out.append(np.clip(x + 1e-3 * rng.standard_normal(DIM), 0, 1))
    return np.array(out[:n])


def augmenting(rng, n=96):
    """Test-time augmentation: 8 views of each input (brightness, noise), then another input."""
    out = []
    for x in sample(rng, n // 8):
        out += [np.clip(x * rng.uniform(0.9, 1.1) + 0.03 * rng.standard_normal(DIM), 0, 1) for _ in range(8)]
    return np.array(out)


def noisy_walk(rng, n=400, noise=0.01):
    """Finite-difference inversion with i.i.d. Gaussian noise of ``noise`` x the range on every probe."""
    centre, out = sample(rng, 1)[0], []
    while len(out) < n:
        for i in range(DIM):
            for sign in (1, -1):
                probe = centre.copy()
                probe[i] += sign * 0.01
                out.append(np.clip(probe + noise * rng.standard_normal(DIM), 0, 1))
        centre = np.clip(centre + 0.01 * rng.standard_normal(DIM), 0, 1)
    return np.array(out[:n])


def blinded_walk(rng, n=400, copies=4):
    """The same walk, each probe sent ``copies`` times through a fresh random near-invariant transform
    (contrast and brightness within 3%, a little noise), for the answers to be averaged."""
    probes = noisy_walk(rng, n // copies, noise=0.0)
    out = []
    for probe in probes:
        for _ in range(copies):
            out.append(np.clip(probe * rng.uniform(0.97, 1.03) + rng.uniform(-0.03, 0.03) + 0.005 * rng.standard_normal(DIM), 0, 1))
    return np.array(out)


def events(kinds: dict[str, tuple], seed: int) -> tuple[list[bytes], dict[str, str]]:
    """Every client's queries interleaved on one timeline; the client ids' kinds."""
    rng = np.random.default_rng(seed)
    streams, kind_of = [], {}
    for kind, (make, count) in kinds.items():
        for i in range(count):
            client = f"{kind}-{seed}-{i}"
            kind_of[client] = kind
            inputs = make(rng)
            start = float(rng.uniform(0, 600))
            times = start + np.cumsum(rng.exponential(0.5, len(inputs)))
            streams += [(t, client, x) for t, x in zip(times, inputs)]
    streams.sort(key=lambda item: item[0])
    lines = []
    for t, client, x in streams:
        logits = x[:4] * 4
        scores = np.exp(logits) / np.exp(logits).sum()
        lines.append(orjson.dumps({"event_id": str(uuid.UUID(int=int(rng.integers(2**62)))), "ts": float(1.8e9 + t),
                                   "client_id": client, "model_id": "m", "input": x.round(6).tolist(),
                                   "output": {"scores": scores.round(6).tolist()}}))  # fmt: skip
    return lines, kind_of


BENIGN = {"person": (person, 60), "retry": (heavy_retry, 20), "augment": (augmenting, 20)}


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("calibration")
    lines, _ = events({kind: (make, 2 * count) for kind, (make, count) in BENIGN.items()}, seed=1)
    sample_file = folder / "benign.jsonl"
    sample_file.write_bytes(b"\n".join(lines) + b"\n")
    output = folder / "calibration.yaml"
    calibrate([sample_file], target_fpr=0.01, settings=Settings(), output=output, progress=False)
    return output


def alerts(lines: list[bytes], settings: Settings) -> dict[str, set[str]]:
    ruleset = load_ruleset(settings)
    calibration = load_calibration(settings.calibration_file, ruleset) if settings.calibration_file else None
    pipeline = Pipeline(settings, ruleset, calibration=calibration)
    fired: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        for change in pipeline.process(parse(line)):
            if change.alert.detector.startswith("rule:"):
                fired[change.alert.client_id].add(change.alert.detector)
    return fired


@pytest.fixture(scope="module")
def held_out(calibrated: Path) -> tuple[dict[str, set[str]], dict[str, str]]:
    kinds = {**BENIGN, "noisy": (noisy_walk, 2), "blinded": (blinded_walk, 2)}
    lines, kind_of = events(kinds, seed=2)
    return alerts(lines, Settings(calibration_file=calibrated)), kind_of


def test_the_calibration_covers_the_model(calibrated: Path) -> None:
    section = load_calibration(calibrated).models["m"]
    assert section.clients >= 150 and section.thresholds["neighbourhood-probing"]["crowded"] > 0.03


@pytest.mark.parametrize("kind", ["noisy", "blinded"])
def test_noisy_and_blinded_walks_are_alerted(held_out, kind: str) -> None:
    fired, kind_of = held_out
    attackers = [client for client, k in kind_of.items() if k == kind]
    for client in attackers:
        assert "rule:neighbourhood-probing" in fired[client], f"{client}: {sorted(fired[client]) or 'no alert'}"


def test_heavy_retries_and_augmentation_raise_no_alert(held_out) -> None:
    fired, kind_of = held_out
    wrongly = {client: sorted(fired[client]) for client, k in kind_of.items() if k in BENIGN and fired[client]}
    assert not wrongly


def test_retries_with_re_encoding_noise_raise_no_alert_on_shipped_thresholds() -> None:
    lines, kind_of = events({"person": (person, 30), "retry": (heavy_retry, 20)}, seed=3)
    fired = alerts(lines, Settings(online_calibration=False))
    assert not {client: sorted(v) for client, v in fired.items()}


def probe_cloud(rng, n=200, noise=0.01):
    """Probes drawn independently around one point (per-probe noise of ``noise`` x the range)."""
    return np.clip(sample(rng, 1)[0] + noise * rng.standard_normal((n, DIM)), 0, 1)


def camera_feed(rng, n=200, noise=0.01, correlation=0.8):
    """Frames of one scene: a slow mean-reverting drift plus sensor noise correlated frame to frame."""
    centre, shock, drift, out = sample(rng, 1)[0], rng.standard_normal(DIM), np.zeros(DIM), []
    for _ in range(n):
        shock = correlation * shock + np.sqrt(1 - correlation**2) * rng.standard_normal(DIM)
        drift = 0.98 * drift + 0.0015 * rng.standard_normal(DIM)
        out.append(np.clip(centre + drift + noise * shock, 0, 1))
    return np.array(out)


def test_a_probe_cloud_is_alerted_and_a_feed_as_crowded_is_not_on_shipped_thresholds() -> None:
    lines, kind_of = events({"person": (person, 30), "cloud": (probe_cloud, 3), "feed": (camera_feed, 3)}, seed=4)
    settings = Settings(online_calibration=False)
    pipeline = Pipeline(settings, load_ruleset(settings))
    fired: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        for change in pipeline.process(parse(line)):
            fired[change.alert.client_id].add(change.alert.detector)
    crowded = {}
    for client, kind in kind_of.items():
        if kind != "person":
            features = pipeline.extractor.features(pipeline.store.clients[("m", client)], pipeline.store.model("m"))
            crowded[client] = features["neighbourhood_low"]
    feeds = [c for c, k in kind_of.items() if k == "feed"]
    clouds = [c for c, k in kind_of.items() if k == "cloud"]
    assert max(crowded[c] for c in feeds) < 1.5 * min(crowded[c] for c in clouds), "the feeds are about as crowded"
    assert all(fired[c] == {"rule:probe-cloud"} for c in clouds), {c: sorted(fired[c]) for c in clouds}
    assert not any(fired[c] for c, k in kind_of.items() if k != "cloud"), {c: sorted(fired[c]) for c in fired}
