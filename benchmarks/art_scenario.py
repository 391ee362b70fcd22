"""One timeline of real attacks and benign traffic against the ART benchmark's models, as JSONL.

Every attacker runs its ART attack to the end (or its budget) first, under
one of the simulator's attacker variants (``detector.simulator.variants``):
what it sends is disguised inside the attack's query loop (the
:class:`~benchmarks.art_targets.Endpoint`), and its logged requests then
become an actor of the simulator's event writer with the variant's schedule
(slow, split over keys, slow and split), beside benign actors of every
simulator kind plus ``bulk`` (a scoring job through the batch endpoint,
paced like a batched attacker). Identities, start times and the merge by
serving time are the simulator's, so the files have the simulator's format
and ``benchmarks.detection`` reads them. Benign clients are cast first, so
a plan's benign-only timeline (``attacks=False``) with the same seed holds
the very same benign clients.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.art_attacks import ATTACKS, Attack, AttackSpec, Outcome
from benchmarks.art_targets import MODELS, Endpoint, QueryBudgetSpent, QueryLog, target
from detector.simulator import variants
from detector.simulator.actors import Actor
from detector.simulator.benign import BENIGN_KINDS, Scorer, Traffic
from detector.simulator.datasets import Dataset
from detector.simulator.kinds import SCRIPT_CV
from detector.simulator.plan import STYLE_OF_BENIGN, Casting
from detector.simulator.scenarios import Scenario
from detector.simulator.traffic import Cadence, Chunk, answered

# The simulator writes its own scenarios through these; a benchmark that is not
# a simulator scenario reuses them rather than keeping a second copy.
from detector.simulator.writer import json_line, timeline

REQUESTS_PER_S = (5.0, 50.0)
"""An automated attacker's request rate: one request per 20-200 ms (network round trip and client loop)."""
BULK_REQUESTS_PER_S = (1.0, 10.0)
"""A benign scoring job's request rate through the batch endpoint."""
ROW_S = 0.002
"""Serving time of one row of a batched request."""
MAX_ROWS = 100
"""The API's largest batch."""


@dataclass(frozen=True)
class Plan:
    """How many clients of each kind, per model, over ``duration_s`` seconds."""

    name: str
    duration_s: float
    benign: dict[str, int]
    """Benign clients per kind and model."""
    attackers: int
    """Plain clients per (attack, model) pair the attack fits."""
    budget: tuple[int, int]
    """A plain attacker's query budget (a variant's grows by its factor, so the attack gets as far)."""
    top1_share: float = 0.25
    variants: dict[str, int] = dataclasses.field(default_factory=dict)
    """Clients per (attack, variant) the variant applies to, on the attack's models in turn."""

    def benign_only(self) -> "Plan":
        """The same benign clients without attackers, named ``<name>-benign``."""
        return dataclasses.replace(self, name=f"{self.name}-benign", attackers=0, variants={})


def applies(spec: AttackSpec, variant: str) -> bool:
    """Whether ``variant`` changes anything for an attack: ``top1`` does not for one served top-1 already.

    >>> applies(ATTACKS["hopskipjump"], "top1"), applies(ATTACKS["zoo"], "top1"), applies(ATTACKS["zoo"], "blind")
    (False, True, True)
    """
    return variant != "top1" or not spec.top1


NEW_KINDS = ("heavy-retry", "reencode", "tta", "editing", "typeahead", "shifted", "labeller")
"""The benign catalogue's kinds beyond the simulator's first seven (light enough for 6 clients a model)."""


PLANS: dict[str, Plan] = {
    "full": Plan(
        "real-attacks",
        duration_s=4 * 3600.0,
        benign={
            "interactive": 60,
            "retry": 30,
            "batch": 4,
            "bulk": 4,
            "healthcheck": 8,
            "video": 6,
            "drift": 6,
            "augment": 20,
            **{kind: 6 for kind in NEW_KINDS},
            "rescoring": 5,
            "shadow": 5,
        },
        attackers=1,
        budget=(400, 1500),
        variants={variant: 1 for variant in variants.VARIANTS if variant != "plain"},
    ),
    "quick": Plan(
        "real-attacks-quick",
        duration_s=2 * 3600.0,
        benign={
            "interactive": 15,
            "retry": 8,
            "batch": 1,
            "bulk": 1,
            "healthcheck": 2,
            "video": 2,
            "drift": 2,
            "augment": 5,
            **{kind: 2 for kind in NEW_KINDS},
            "rescoring": 1,
            "shadow": 1,
        },
        attackers=1,
        budget=(200, 500),
        variants={variant: 1 for variant in variants.VARIANTS if variant != "plain"},
    ),
}
"""Benchmark plans: every benign kind (at least 20 clients of each in ``full``), every attack plainly on
every model it fits, and under every variant that applies to it. Benign events outnumber attack events
(as in any real log, where the per-model input statistics and the anomaly model see mostly benign
traffic); ``quick`` is a smaller timeline."""


def bulk(data: Dataset, rng: np.random.Generator, remaining_s: float, owner: Scorer) -> Traffic:
    """A scoring job through the batch endpoint: every real sample once, in requests of
    ``MAX_ROWS`` rows at 1-10 requests a second."""
    pool = data.x_all[rng.permutation(len(data.x_all))]
    cadence = Cadence(1.0 / rng.uniform(*BULK_REQUESTS_PER_S), SCRIPT_CV)

    def chunks() -> Iterator[Chunk]:
        for start in range(0, len(pool), MAX_ROWS):
            rows = pool[start : start + MAX_ROWS]
            gaps = np.full(len(rows), ROW_S)
            gaps[0] = cadence.gaps(rng, 1)[0]
            yield gaps, rows

    return Traffic(len(pool), chunks())


@dataclass(frozen=True)
class AttackRun:
    """One attacker: its attack, variant, model, API keys and what the attack achieved."""

    kind: str
    variant: str
    model_id: str
    client_ids: tuple[str, ...]
    queries: int
    requests: int
    requests_per_s: float
    outcome: Outcome


class Cast:
    """Draws every client of a plan from one seed (the simulator's casting for identities and start times)."""

    def __init__(self, plan: Plan, seed: int) -> None:
        self.plan = plan
        self.casting = Casting(Scenario(plan.name, plan.duration_s, benign={}), seed)

    def benign(self, kind: str, model_id: str) -> Actor:
        rng, start = self.casting.child_rng(), self.casting.start_s()
        make = bulk if kind == "bulk" else BENIGN_KINDS[kind]
        traffic = make(target(model_id).data, rng, self.plan.duration_s - start, target(model_id).proba)
        endpoint = Endpoint(target(model_id), top1=bool(self.casting.rng.random() < self.plan.top1_share))
        return Actor(
            kind=kind,
            model_id=model_id,
            identities=[self.casting.identity(STYLE_OF_BENIGN.get(kind, "script"))],
            served=answered(traffic.chunks, endpoint),
            n_events=traffic.n_events,
            start_s=start,
            jitter_rng=self.casting.child_rng(),
            attack=False,
        )

    def attack(self, kind: str, model_id: str, variant: str = "plain") -> tuple[Actor, AttackRun]:
        """Run the attack now under ``variant`` (it must see answers); the actor replays its logged requests
        on the variant's schedule."""
        spec, rng, served = ATTACKS[kind], self.casting.child_rng(), target(model_id)
        rate = float(rng.uniform(*REQUESTS_PER_S))
        disguise = variants.disguise(variant, served.data, rng, served.proba)
        budget = int(rng.integers(*self.plan.budget)) * variants.budget_factor(variant, disguise)
        log = QueryLog(Cadence(1.0 / rate, SCRIPT_CV), ROW_S, budget, rng, MAX_ROWS)
        endpoint = Endpoint(served, spec.top1 or variant == "top1", disguise)
        with seeded_numpy(rng):
            outcome = run_quietly(spec.run, endpoint, log, rng)
        start = self.casting.start_s()
        schedule = variants.schedule(variant, log.n_queries, self.plan.duration_s - start, rng)
        identities = [self.casting.identity("script") for _ in range(schedule.n_keys)]
        client_ids = [identity.client_id for identity in identities]
        actor = Actor(
            kind=kind,
            model_id=model_id,
            identities=identities,
            served=iter(log.chunks),
            n_events=log.n_queries,
            start_s=start,
            jitter_rng=self.casting.child_rng(),
            attack=True,
            variant=variant,
            group=variants.group_of(variant, client_ids),
            target_class=outcome.target_class,
            schedule=schedule,
        )
        run = AttackRun(kind, variant, model_id, tuple(client_ids), log.n_queries, log.requests, rate, outcome)
        return actor, run


@contextmanager
def seeded_numpy(rng: np.random.Generator) -> Iterator[None]:
    """Make ART repeatable: it draws from NumPy's global generator, and HopSkipJump's and the Boundary
    attack's random starts from a fresh ``np.random.RandomState()`` seeded by the operating system. Inside,
    the global generator is seeded from ``rng`` and ``RandomState()`` without a seed takes its seed from
    ``rng`` too (a subclass, so ``isinstance`` checks still hold).

    >>> def draw():
    ...     with seeded_numpy(np.random.default_rng(7)):
    ...         return np.random.rand(), np.random.RandomState().rand()
    >>> draw() == draw(), np.random.RandomState.__name__
    (True, 'RandomState')
    """
    unseeded = np.random.RandomState

    class Seeded(unseeded):
        def __init__(self, seed: object = None) -> None:
            super().__init__(int(rng.integers(2**32)) if seed is None else seed)

    np.random.seed(int(rng.integers(2**32)))
    np.random.RandomState = Seeded
    try:
        yield
    finally:
        np.random.RandomState = unseeded


def run_quietly(attack: Attack, endpoint: Endpoint, log: QueryLog, rng: np.random.Generator) -> Outcome:
    """Run one attack without ART's progress chatter; an attack that fails is reported, not fatal."""
    art_logger = logging.getLogger("art")
    level = art_logger.level
    art_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return attack(endpoint, log, rng)
    except QueryBudgetSpent:
        return Outcome("budget spent")
    except Exception as error:  # noqa: BLE001 - a broken attack is a result of the benchmark
        return Outcome(f"failed after {log.n_queries} queries: {type(error).__name__}: {error}")
    finally:
        art_logger.setLevel(level)


def write_real_attacks(
    plan: Plan, directory: Path, seed: int = 0, attacks: bool = True
) -> tuple[Path, Path, list[AttackRun]]:
    """Cast the benign clients, run every attack (plainly on every model it fits, then under every variant
    of the plan), and write ``<plan>.jsonl`` and ``<plan>.truth.jsonl``. With ``attacks=False`` only the
    benign clients are written (the same ones as with attacks, for the same seed), as ``<plan>-benign``:
    a calibration sample, or a held-out benign timeline with another seed."""
    if not attacks:
        plan = plan.benign_only()
    cast = Cast(plan, seed)
    actors = [cast.benign(kind, model_id) for model_id in MODELS for kind, count in plan.benign.items() for _ in range(count)]
    runs = []
    with threadpool_limits(1, "blas"):  # BLAS threads only slow the attackers' small fits down
        for kind, spec in ATTACKS.items():
            fitting = [model_id for model_id in MODELS if spec.fits(target(model_id).data)]
            played = [(model_id, "plain") for model_id in fitting for _ in range(plan.attackers)]
            for offset, variant in enumerate(variants.VARIANTS):
                if applies(spec, variant):
                    played += [(fitting[(i + offset) % len(fitting)], variant) for i in range(plan.variants.get(variant, 0))]
            for model_id, variant in played:
                actor, run = cast.attack(kind, model_id, variant)
                runs.append(run)
                if actor.n_events:
                    actors.append(actor)
    directory.mkdir(parents=True, exist_ok=True)
    events_path, truth_path = directory / f"{plan.name}.jsonl", directory / f"{plan.name}.truth.jsonl"
    with open(truth_path, "w", encoding="utf-8") as out:
        out.writelines(json_line(dataclasses.asdict(row)) for actor in actors for row in actor.truth())
    with open(events_path, "w", encoding="utf-8") as out:
        out.writelines(json_line(event) for event in timeline(actors, seed))
    return events_path, truth_path, runs
