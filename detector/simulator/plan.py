"""Cast a scenario: every client it asks for, with identity, model, start time and traffic.

Everything random comes from one seed: the casting draws from its own
generator and every actor gets an independent child generator, so the same
seed gives the same clients, queries and times.

Clients of a kind are spread over the models in turn (the first on
``digits-classifier:1``); a kind that needs images uses only image models.
Request context is drawn from pools by traffic style: people use browsers
from public addresses, scripts (benign jobs and attackers alike) use HTTP
libraries from public or internal addresses, probes use health checkers
from internal ones.
"""

from __future__ import annotations

import numpy as np

from detector.simulator.actors import Actor, Identity
from detector.simulator.api import ModelAPI
from detector.simulator import variants
from detector.simulator.benign import BENIGN_KINDS
from detector.simulator.datasets import dataset
from detector.simulator.kinds import ATTACK_KINDS, SCRIPT_CV
from detector.simulator.models import MODEL_DATASETS, target_model
from detector.simulator.scenarios import Scenario
from detector.simulator.traffic import Cadence, answered, scripted

USER_AGENTS: dict[str, tuple[str, ...]] = {
    "person": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        "okhttp/4.12.0",
    ),
    "script": (
        "python-requests/2.32.3",
        "python-httpx/0.27.2",
        "aiohttp/3.10.10",
        "Go-http-client/1.1",
        "curl/8.5.0",
        "Java-http-client/21.0.5",
    ),
    "probe": ("kube-probe/1.31", "Blackbox-Exporter/0.25.0", "ELB-HealthChecker/2.0"),
}
STYLE_OF_BENIGN = {
    "interactive": "person",
    "retry": "person",
    "heavy-retry": "person",
    "reencode": "person",
    "editing": "person",
    "typeahead": "person",
    "healthcheck": "probe",
}
"""Traffic style of benign kinds; the rest (and every attacker) are scripts."""


class Casting:
    """Draws identities, start times and models for one scenario and seed."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seeds = np.random.SeedSequence(seed)
        self.rng = np.random.default_rng(self.seeds.spawn(1)[0])
        self.client_ids: set[str] = set()

    def child_rng(self) -> np.random.Generator:
        """An independent generator for the next actor."""
        return np.random.default_rng(self.seeds.spawn(1)[0])

    def identity(self, style: str) -> Identity:
        """A new API key with a source address and user agent of ``style``."""
        client_id = f"key_{self.rng.integers(2**32):08x}"
        while client_id in self.client_ids:
            client_id = f"key_{self.rng.integers(2**32):08x}"
        self.client_ids.add(client_id)
        internal = style == "probe" or (style == "script" and self.rng.random() < 0.5)
        if internal:
            address = f"10.{self.rng.integers(0, 256)}.{self.rng.integers(0, 256)}.{self.rng.integers(1, 255)}"
        else:
            address = f"{self.rng.choice(['198.51.100', '203.0.113', '192.0.2'])}.{self.rng.integers(1, 255)}"
        return Identity(client_id, {"source_ip": address, "user_agent": str(self.rng.choice(USER_AGENTS[style]))})

    def start_s(self) -> float:
        """When a client starts, seconds after the scenario's start."""
        return float(self.rng.uniform(0.0, 0.8 * self.scenario.duration_s))

    def model_id(self, index: int, image_only: bool = False) -> str:
        """The model of the ``index``-th client of a kind."""
        models = [m for m, name in MODEL_DATASETS.items() if not image_only or dataset(name).image_shape is not None]
        return models[index % len(models)]

    def benign(self, kind: str, index: int) -> Actor:
        """The ``index``-th benign client of ``kind``."""
        model = target_model(self.model_id(index))
        rng, start = self.child_rng(), self.start_s()
        traffic = BENIGN_KINDS[kind](model.data, rng, self.scenario.duration_s - start, model.proba)
        api = ModelAPI(model, top1=bool(self.rng.random() < self.scenario.top1_share))
        return Actor(
            kind=kind,
            model_id=model.model_id,
            identities=[self.identity(STYLE_OF_BENIGN.get(kind, "script"))],
            served=answered(traffic.chunks, api),
            n_events=traffic.n_events,
            start_s=start,
            jitter_rng=self.child_rng(),
            attack=False,
        )

    def attack(self, kind: str, index: int, variant: str = "plain") -> Actor:
        """The ``index``-th attacker of ``kind`` playing ``variant``; one behind several keys is a group
        named after the variant and its first key."""
        spec = ATTACK_KINDS[kind]
        model = target_model(self.model_id(index, spec.image_only))
        data, rng = model.data, self.child_rng()
        target = int(self.rng.integers(data.n_classes)) if spec.targeted else None
        probe = spec.build(data, rng, target)
        disguise = variants.disguise(variant, data, rng, model.proba)
        if disguise is not None:
            probe = variants.relay(probe, disguise)
        budget = self.rng.integers(spec.budget[0], spec.budget[1] + 1) * self.scenario.budget_scale
        budget = round(budget * variants.budget_factor(variant, disguise))
        cadence = Cadence(self.rng.uniform(*spec.mean_gap_s), SCRIPT_CV)
        start = self.start_s()
        schedule = variants.schedule(variant, budget, self.scenario.duration_s - start, rng)
        identities = [self.identity("script") for _ in range(schedule.n_keys)]
        return Actor(
            kind=kind,
            model_id=model.model_id,
            identities=identities,
            served=scripted(probe, ModelAPI(model, top1=variant == "top1"), cadence, rng),
            n_events=budget,
            start_s=start,
            jitter_rng=self.child_rng(),
            attack=True,
            variant=variant,
            group=variants.group_of(variant, [identity.client_id for identity in identities]),
            target_class=target,
            schedule=schedule,
        )


def cast(scenario: Scenario, seed: int) -> list[Actor]:
    """Every actor of ``scenario`` for ``seed``: benign kinds, plain attacks, then the variants, each
    variant's attackers playing the attack kinds in turn (the ``i``-th on model ``i // kinds + i % kinds``,
    so that every kind meets every model as the count grows)."""
    casting = Casting(scenario, seed)
    actors = [casting.benign(kind, i) for kind, count in scenario.benign.items() for i in range(count)]
    actors += [casting.attack(kind, i) for kind, count in scenario.attacks.items() for i in range(count)]
    kinds = list(ATTACK_KINDS)
    for variant, count in scenario.careful.items():
        for i in range(count):
            actors.append(casting.attack(kinds[i % len(kinds)], i // len(kinds) + i % len(kinds), variant))
    return actors
