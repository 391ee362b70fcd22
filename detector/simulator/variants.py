"""Attackers who know about detectors: the published variants, as wrappers over any attack's queries.

A variant changes an attack in up to three places, and each is one piece of
code that both detection benchmarks (the simulator's attacks and real ART
attack code) put between the attack and the API:

- **what is sent** (a :class:`Disguise`: the attack's batch in, the rows the
  API serves out, and how their answers become the answers the attack
  sees): ``noise`` (i.i.d. Gaussian noise of 0.5-2% of the range on every
  probe), ``blind`` (each probe as m copies under fresh near-invariant
  edits, their scores averaged), ``cover`` (one of the attacker's own real
  samples per attack query), ``mixed`` (a key with real benign use: three
  queries of a benign session per attack query);
- **when, and from which key** (a :class:`Schedule` over the logged
  stream): ``slow`` (a query every few seconds or more, for hours),
  ``split`` (round-robin over 5-20 keys), ``slow-split`` (5-10 keys, each
  active in its own window, at its own low rate, with idle periods; the
  next probe goes out from whichever key is due);
- **the API's style**: ``top1`` (label and its confidence only).

``plain`` changes nothing. Adaptive step size (OARS: grow the probe until
the detector stops firing) needs the detector in the attacker's loop and is
not played here.

>>> sorted(v for group in VARIANT_GROUPS.values() for v in group) == sorted(VARIANTS)
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from detector.simulator.api import Answers
from detector.simulator.benign import BENIGN_KINDS, Scorer, played
from detector.simulator.datasets import Dataset
from detector.simulator.traffic import Cadence, Probe
from detector.simulator.transforms import near_invariant

VARIANTS = ("plain", "noise", "blind", "cover", "mixed", "slow", "split", "slow-split", "top1")
"""Every variant an attack is played under."""

VARIANT_GROUPS: dict[str, tuple[str, ...]] = {
    "plain": ("plain",),
    "careful": ("slow", "split", "cover", "noise", "top1"),
    "detector-aware": ("blind", "slow-split", "mixed"),
}
"""How the reports sum variants up: the attack as published, a careful attacker, one who read the detector's paper."""

MULTI_KEY = ("split", "slow-split")
"""Variants played over several API keys (reported per attack, as a group of keys)."""

NOISE_SIGMA = (0.005, 0.02)
"""``noise``: the probe noise's standard deviation as a share of each feature's range, drawn per client."""
BLIND_COPIES = (2, 6)
"""``blind``: copies per probe, drawn per client."""
BLIND_SHIFT_PX, BLIND_TONE, BLIND_NOISE = (0.1, 0.4), (0.01, 0.05), (0.002, 0.01)
"""``blind``: the largest sub-pixel shift, contrast and brightness change, and noise of one copy (per client)."""
MIXED_BENIGN_PER_QUERY = 3
MIXED_KINDS = ("interactive", "retry", "heavy-retry", "tta", "reencode", "editing", "typeahead", "video", "batch", "drift")
"""``mixed``: the key's own benign use, one of these kinds per client."""
SLOW_MIN_GAP_S = 3.0
"""``slow``, ``slow-split``: the mean gap is at least this (well under a query per second)."""
SPLIT_KEYS = (5, 20)
SLOW_SPLIT_KEYS = (5, 10)
SLOW_SPLIT_MIN_KEY_GAP_S = 10.0
"""``slow-split``: the shortest mean gap between two queries of one key."""
MULTI_KEY_BUDGET_FACTOR = 2
"""``split``, ``slow-split``: a longer attack than one client's (each key still sends few)."""

Reduce = Callable[[Answers], Answers]
"""The served rows' answers -> the answers the attack sees, one per row of its batch."""


class Disguise(Protocol):
    """Changes what an attack sends: batch -> (rows the API serves, how their answers reach the attack)."""

    @property
    def rows_per_query(self) -> int:
        """Rows served per attack query (an attacker's budget grows by it to make the same progress)."""

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, Reduce]: ...


def _unchanged(answers: Answers) -> Answers:
    return answers


@dataclass(frozen=True, eq=False)
class Noised:
    """``noise``: Gaussian noise of ``sigma`` x each feature's range on every probe, clipped to the range."""

    data: Dataset
    sigma: float
    rng: np.random.Generator
    rows_per_query: int = 1

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, Reduce]:
        noise = self.sigma * self.data.span * self.rng.standard_normal(batch.shape)
        return self.data.clip(batch + noise), _unchanged


def averaged(answers: Answers, copies: int) -> Answers:
    """Each run of ``copies`` consecutive answers as one: the mean of what the client knows of every class
    score (:meth:`Answers.estimates`), its top class and that class's mean score; from a top-1 API it stays
    a label and a confidence.

    >>> a = Answers(np.array([[0.6, 0.4], [0.2, 0.8], [0.9, 0.1], [0.7, 0.3]]), np.array([0, 1, 0, 0]),
    ...             np.array([0.6, 0.8, 0.9, 0.7]), n_classes=2)
    >>> m = averaged(a, 2)
    >>> m.scores.round(2).tolist(), m.labels.tolist()
    ([[0.4, 0.6], [0.8, 0.2]], [1, 0])
    """
    mean = answers.estimates().reshape(-1, copies, answers.n_classes).mean(axis=1)
    labels = mean.argmax(axis=1)
    return Answers(
        None if answers.scores is None else mean, labels, mean[np.arange(len(mean)), labels], answers.n_classes
    )


@dataclass(frozen=True, eq=False)
class Blinded:
    """``blind``: every probe sent as ``copies`` copies, each under a fresh near-invariant edit (a sub-pixel
    shift of up to ``shift_px`` on images, contrast and brightness within ``tone``, noise ``noise`` x the
    range), consecutively; the attack sees the copies' averaged answer (:func:`averaged`)."""

    data: Dataset
    copies: int
    shift_px: float
    tone: float
    noise: float
    rng: np.random.Generator

    @property
    def rows_per_query(self) -> int:
        return self.copies

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, Reduce]:
        repeated = np.repeat(batch, self.copies, axis=0)
        sent = near_invariant(self.data, repeated, self.rng, shift_px=self.shift_px, contrast=self.tone, noise=self.noise)
        return sent, lambda answers: averaged(answers, self.copies)


@dataclass(frozen=True, eq=False)
class Covered:
    """``cover`` and ``mixed``: ``per_query`` rows from ``draw(k)`` for each attack query, at random places
    among the attack's own; the attack sees only its own rows' answers."""

    draw: Callable[[int], np.ndarray]
    per_query: int
    rng: np.random.Generator

    @property
    def rows_per_query(self) -> int:
        return 1 + self.per_query

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, Reduce]:
        total = len(batch) * self.rows_per_query
        own = np.zeros(total, dtype=bool)
        own[self.rng.choice(total, len(batch), replace=False)] = True
        sent = np.empty((total, batch.shape[1]))
        sent[own] = batch
        sent[~own] = self.draw(total - len(batch))
        return sent, lambda answers: answers.take(own)


def benign_rows(kind: str, data: Dataset, rng: np.random.Generator, owner: Scorer) -> Callable[[int], np.ndarray]:
    """The inputs of a benign client of ``kind``, session after session, ``k`` rows at a time."""

    def sessions() -> Iterator[np.ndarray]:
        while True:
            yield from played(BENIGN_KINDS[kind](data, rng, 3600.0, owner))[1]

    rows = sessions()
    return lambda k: np.array([next(rows) for _ in range(k)]).reshape(k, data.n_features)


def disguise(variant: str, data: Dataset, rng: np.random.Generator, owner: Scorer) -> Disguise | None:
    """The disguise a client playing ``variant`` puts on its queries (None: it sends them as they are),
    its parameters drawn from ``rng``; ``owner`` scores the labeller's pool should a mixed key's benign
    use need it."""
    if variant == "noise":
        return Noised(data, rng.uniform(*NOISE_SIGMA), rng)
    if variant == "blind":
        copies = int(rng.integers(BLIND_COPIES[0], BLIND_COPIES[1] + 1))
        return Blinded(data, copies, rng.uniform(*BLIND_SHIFT_PX), rng.uniform(*BLIND_TONE), rng.uniform(*BLIND_NOISE), rng)
    if variant == "cover":
        return Covered(lambda k: data.x_held_out[rng.integers(len(data.x_held_out), size=k)], 1, rng)
    if variant == "mixed":
        kind = str(rng.choice(MIXED_KINDS))
        return Covered(benign_rows(kind, data, rng, owner), MIXED_BENIGN_PER_QUERY, rng)
    return None


def relay(probe: Probe, disguised: Disguise) -> Probe:
    """An attack (a simulator :data:`Probe`) whose every batch goes out disguised, and which sees the
    answers the disguise hands it.

    >>> def asks_twice():
    ...     yield np.zeros((3, 2))
    ...     yield np.zeros((3, 2))
    >>> cover = Covered(lambda k: np.ones((k, 2)), 1, np.random.default_rng(1))
    >>> sent = next(relay(asks_twice(), cover))
    >>> len(sent), int((sent == 0).all(axis=1).sum())  # the attack's 3 queries among 3 cover samples
    (6, 3)
    """
    try:
        batch = next(probe)
        while True:
            sent, reduce = disguised(batch)
            batch = probe.send(reduce((yield sent)))
    except StopIteration:
        return


def group_of(variant: str, client_ids: list[str]) -> str | None:
    """The group name of an attacker's keys in the truth file (None for one key): the variant and its first key.

    >>> group_of("split", ["key_a", "key_b"]), group_of("slow", ["key_c"])
    ('split:key_a', None)
    """
    return f"{variant}:{client_ids[0]}" if len(client_ids) > 1 else None


def budget_factor(variant: str, disguised: Disguise | None) -> int:
    """How many times a plain client's budget a ``variant`` client sends, so that its attack gets as far.

    >>> budget_factor("split", None), budget_factor("plain", None)
    (2, 1)
    """
    rows = 1 if disguised is None else disguised.rows_per_query
    return rows * (MULTI_KEY_BUDGET_FACTOR if variant in MULTI_KEY else 1)


@dataclass(frozen=True)
class Schedule:
    """When each of a client's queries goes out and from which of its keys.

    ``keys[i]`` is the key of query ``i``; ``gaps[i]`` the wait before it (seconds), or None to keep the
    attack's own pace.
    """

    keys: np.ndarray
    gaps: np.ndarray | None = None

    @property
    def n_keys(self) -> int:
        return int(self.keys.max()) + 1 if len(self.keys) else 1

    def counts(self, n_keys: int) -> list[int]:
        """Queries per key."""
        return np.bincount(self.keys, minlength=n_keys).tolist()


def round_robin(n: int, keys: int = 1) -> Schedule:
    """The attack's own pace, its queries dealt to ``keys`` keys in turn.

    >>> round_robin(5, 2).keys.tolist()
    [0, 1, 0, 1, 0]
    """
    return Schedule(np.arange(n) % keys)


def _slow_span(n: int, remaining_s: float, rng: np.random.Generator) -> float:
    """How long a slow attacker takes for ``n`` queries: most of the time left, at least ``SLOW_MIN_GAP_S`` a query."""
    return max(rng.uniform(0.5, 1.0) * remaining_s, n * SLOW_MIN_GAP_S)


def slow(n: int, remaining_s: float, rng: np.random.Generator) -> Schedule:
    """``slow``: one key, irregular gaps (cv 0.5) whose mean spreads the ``n`` queries over most of the
    time left, and is never under ``SLOW_MIN_GAP_S``."""
    return Schedule(np.zeros(n, dtype=int), Cadence(_slow_span(n, remaining_s, rng) / n, 0.5).gaps(rng, n))


def slow_split(n: int, remaining_s: float, rng: np.random.Generator) -> Schedule:
    """``slow-split`` (OARS-style scheduling): 5-10 keys, each active in its own window (30-80% of the span),
    within it alternately busy and idle (exponential periods of 2-10% of the span each, per key), and
    while busy sending at its own rate (gaps with cv 0.5; key rates differ by a lognormal factor, and a
    key's mean gap is at least ``SLOW_SPLIT_MIN_KEY_GAP_S``). The keys' due times are merged: each next
    probe goes out from whichever key is due. A span too short for the budget repeats (the same windows the
    next "day")."""
    keys = int(rng.integers(SLOW_SPLIT_KEYS[0], SLOW_SPLIT_KEYS[1] + 1))
    span = _slow_span(n, remaining_s, rng)
    width = rng.uniform(0.3, 0.8, keys) * span
    opens = rng.uniform(0.0, span - width)
    busy, idle = rng.uniform(0.02, 0.1, keys) * span, rng.uniform(0.02, 0.1, keys) * span
    weight = rng.lognormal(0.0, 0.5, keys)
    active = width * busy / (busy + idle)
    base = float((active * weight).sum()) / (1.3 * n)
    mean_gap = np.maximum(base / weight, SLOW_SPLIT_MIN_KEY_GAP_S)
    times: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    day = 0
    while sum(len(t) for t in times) < n:
        for key in range(keys):
            clock, close = day * span + opens[key], day * span + opens[key] + width[key]
            while clock < close:
                end = min(clock + rng.exponential(busy[key]), close)
                draws = int((end - clock) / mean_gap[key] * 2) + 2
                arrivals = clock + np.cumsum(Cadence(mean_gap[key], 0.5).gaps(rng, draws))
                arrivals = arrivals[arrivals < end]
                times.append(arrivals)
                owners.append(np.full(len(arrivals), key))
                clock = end + rng.exponential(idle[key])
        day += 1
    at, key_of = np.concatenate(times), np.concatenate(owners)
    order = np.argsort(at, kind="stable")[:n]
    return Schedule(key_of[order], np.diff(at[order], prepend=0.0))


def schedule(variant: str, n: int, remaining_s: float, rng: np.random.Generator) -> Schedule:
    """The schedule of ``n`` queries of a client playing ``variant``, ``remaining_s`` before the timeline ends."""
    if variant == "slow":
        return slow(n, remaining_s, rng)
    if variant == "split":
        return round_robin(n, int(rng.integers(SPLIT_KEYS[0], SPLIT_KEYS[1] + 1)))
    if variant == "slow-split":
        return slow_split(n, remaining_s, rng)
    return round_robin(n)
