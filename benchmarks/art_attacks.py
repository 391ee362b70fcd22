"""The attacks of the real-attack benchmark: ART 1.20's implementations, run black-box through the logged API.

Each attack is a function ``(endpoint, log, rng) -> Outcome`` that drives one
ART attack (or, for Papernot's Jacobian augmentation, which ART lacks, a loop
of ART estimators; for ActiveThief, which it lacks too, the simulator's
implementation with a scikit-learn substitute) against the endpoint through a
fresh logged classifier, until the algorithm ends or the client's query budget is spent
(:class:`QueryBudgetSpent`). Evasion attacks work through the attacker's own
real samples one after another; what the attack achieved is reported with the
detection results, so a quiet detector cannot hide behind a broken attack.

Parameters are the papers' and ART's defaults where those fit a budget of a
few thousand queries; a few are set so that the attack makes progress on
these models (ZOO's trade-off constant, MI-Face's learning rate), never by
looking at the detector. ART draws from NumPy's global generator; the runner
seeds it per attack (``art_scenario.seeded_numpy``).

Left out: ART's ``FunctionallyEquivalentExtraction`` (needs a ReLU network's
logits: on a probability API its first probes leave the input range by ~40x
and it fails on NaN after six queries), ``GeoDA`` (uses ``np.mat``, removed
in NumPy 2), ``KnockoffNets``' adaptive strategy (trains the substitute on
one sample at a time, which scikit-learn classifiers refuse), ``SignOPT``
on binary models (ART refuses them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from art.attacks.evasion import BoundaryAttack, HopSkipJump, SignOPTAttack, SimBA, SquareAttack, ZooAttack
from art.attacks.extraction import KnockoffNets
from art.attacks.inference.membership_inference import LabelOnlyDecisionBoundary
from art.attacks.inference.model_inversion import MIFace
from art.estimators.classification.scikitlearn import ScikitlearnClassifier, SklearnClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from benchmarks.art_targets import (
    CLIP,
    Endpoint,
    QueryBudgetSpent,
    QueryLog,
    classifier,
    gradient_classifier,
    image_classifier,
)
from detector.simulator.attacks_active import STRATEGIES, active_thief
from detector.simulator.datasets import Dataset
from detector.simulator.traffic import Probe


@dataclass(frozen=True)
class Outcome:
    """What an attack achieved (in words), and for inversion the class it drove up."""

    result: str
    target_class: int | None = None


Attack = Callable[[Endpoint, QueryLog, np.random.Generator], Outcome]


@dataclass(frozen=True)
class AttackSpec:
    """One attack kind: how it is run, which API style serves it, and which models it fits."""

    run: Attack
    top1: bool = False
    images_only: bool = False
    multiclass_only: bool = False

    def fits(self, data: Dataset) -> bool:
        return (not self.images_only or data.image_shape is not None) and (
            not self.multiclass_only or data.n_classes > 2
        )


SAMPLES = 200
"""Most real samples an evasion attacker works through (its budget ends it sooner)."""


def _samples(data: Dataset, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The attacker's own real samples (held-out rows) and their true labels, in a random order."""
    rows = rng.permutation(len(data.x_held_out))[:SAMPLES]
    return data.x_held_out[rows].astype(np.float32), data.y_held_out[rows]


def _evade(
    endpoint: Endpoint,
    log: QueryLog,
    rng: np.random.Generator,
    generate: Callable[[np.ndarray, int], np.ndarray],
    setting: str = "",
) -> Outcome:
    """Attack the attacker's samples one after another with ``generate(x (1, d), true label) -> adversarial (1, d)``;
    count the samples whose adversarial the model classifies differently, and their median L2 distance
    (``setting`` names the attack's drawn variant in the result)."""
    model = endpoint.target.model
    x, y = _samples(endpoint.target.data, rng)
    distances, tried = [], 0
    try:
        for row, label in zip(x, y):
            tried += 1
            adversarial = generate(row[None], int(label)).reshape(1, -1)
            if model.predict(adversarial)[0] != model.predict(row[None])[0]:
                distances.append(float(np.linalg.norm(adversarial - row)))
    except QueryBudgetSpent:
        tried -= 1
    result = (f"{setting}: " if setting else "") + f"evaded {len(distances)}/{tried} samples"
    if distances:
        result += f", median L2 {np.median(distances):.2f}"
    if tried < len(x):
        result += f"; budget spent during sample {tried + 1}"
    return Outcome(result)


def _other_class_start(data: Dataset, label: int, rng: np.random.Generator) -> np.ndarray:
    """A real sample of another class, the usual start of a decision-based walk on tabular data
    (uniform noise, ART's default start, all falls in one class there)."""
    return data.x_held_out[rng.choice(np.flatnonzero(data.y_held_out != label))][None].astype(np.float32)


def hop_skip_jump(endpoint: Endpoint, log: QueryLog, rng: np.random.Generator) -> Outcome:
    """HopSkipJump (Chen, Jordan & Wainwright 2020), untargeted, L2 or Linf, label-only; ART's schedule
    cut to 10 iterations of at most 200 gradient probes (several hundred queries a sample)."""
    data = endpoint.target.data
    norm = [2, np.inf][rng.integers(2)]
    attack = HopSkipJump(classifier(endpoint, log), norm=norm, max_iter=10, max_eval=200, init_eval=20, verbose=False)

    def generate(x: np.ndarray, label: int) -> np.ndarray:
        start = _other_class_start(data, label, rng) if data.image_shape is None else None
        return attack.generate(x, x_adv_init=start)

    return _evade(endpoint, log, rng, generate, f"L{norm}")


def boundary(endpoint: Endpoint, log: QueryLog, rng: np.random.Generator) -> Outcome:
    """Boundary attack (Brendel, Rauber & Bethge 2018), untargeted, ART's step sizes, 50 steps a sample."""
    data = endpoint.target.data
    attack = BoundaryAttack(classifier(endpoint, log), targeted=False, max_iter=50, verbose=False)

    def generate(x: np.ndarray, label: int) -> np.ndarray:
        start = _other_class_start(data, label, rng) if data.image_shape is None else None
        return attack.generate(x, x_adv_init=start)

    return _evade(endpoint, log, rng, generate)


def sign_opt(endpoint: Endpoint, log: QueryLog, rng: np.random.Generator) -> Outcome:
    """Sign-OPT (Cheng et al. 2020), untargeted, label-only, 1,000 queries per sample at most."""
    attack = SignOPTAttack(classifier(endpoint, log), targeted=False, num_trial=20, query_limit=1000, verbose=False)
    return _evade(endpoint, log, rng, lambda x, label: attack.generate(x))


def zoo(endpoint: Endpoint, log: QueryLog, rng: np.random.Generator) -> Outcome:
    """ZOO (Chen et al. 2017): coordinate-wise symmetric finite differences with Adam, no resizing or
    importance sampling (small inputs); the trade-off constant starts high because the API answers
    probabilities, not logits."""
    attack = ZooAttack(
        classifier(endpoint, log),
        max_iter=50,
        nb_parallel=8,
        learning_rate=0.1,
        variable_h=0.005,
        binary_search_steps=2,
        initial_const=100.0,
        use_resize=False,
        use_importance=False,
        verbose=False,
    )
    return _evade(endpoint, log, rng, lambda x, label: attack.generate(x))


def simba(endpoint: Endpoint, log: QueryLog, rng: np.random.Generator) -> Outcome:
    """SimBA (Guo et al. 2019) on the image as 1x8x8, pixel or DCT basis, step 0.2."""
    shape = (1, 1, *endpoint.target.data.image_shape)
    basis = ["px", "dct"][rng.integers(2)]
    attack = SimBA(image_classifier(endpoint, log), attack=basis, max_iter=500, epsilon=0.2, verbose=False)
    return _evade(endpoint, log, rng, lambda x, label: attack.generate(x.reshape(shape)), f"{basis} basis")


def square(endpoint: Endpoint, log: QueryLog, rng: np.random.Generator) -> Outcome:
    """Square attack (Andriushchenko et al. 2020), Linf 0.1, on the image as 1x8x8."""
    shape = (1, 1, *endpoint.target.data.image_shape)
    attack = SquareAttack(
        image_classifier(endpoint, log), norm=np.inf, eps=0.1, max_iter=300, p_init=0.3, nb_restarts=1, verbose=False
    )
    return _evade(endpoint, log, rng, lambda x, label: attack.generate(x.reshape(shape)))


def mi_face(endpoint: Endpoint, log: QueryLog, rng: np.random.Generator) -> Outcome:
    """MI-Face (Fredrikson et al. 2015) with gradients by central differences through the API (``2 d``
    probes a step), driving up a class the start does not already get. ART's MI-Face stops at once where
    the target's confidence is below 0.01, so the attacker tries ART's blank start, then the mean of 20
    of its own samples, then those samples, and inverts a class with confidence 0.01-0.5 at the first
    start that has one."""
    data = endpoint.target.data
    probe = gradient_classifier(endpoint, log, step=0.01)
    own = data.x_held_out[rng.choice(len(data.x_held_out), 20, replace=False)]
    starts = np.vstack([np.zeros((1, data.n_features)), own.mean(axis=0, keepdims=True), own]).astype(np.float32)
    for start in starts[:, None]:
        confidence = probe.predict(start)[0]
        candidates = np.flatnonzero((confidence >= 0.01) & (confidence < 0.5))
        if len(candidates):
            break
    else:
        return Outcome("no start with a class to invert")
    target = int(rng.choice(candidates))
    attack = MIFace(probe, max_iter=10_000, window_length=100, threshold=0.99, learning_rate=5.0, verbose=False)
    try:
        attack.infer(start.copy(), np.array([target]))
    except QueryBudgetSpent:
        pass
    seen = np.concatenate([answers.class_score(target) for answers in log.seen])  # as the attack saw them
    return Outcome(f"target class {target}: confidence {confidence[target]:.2f} -> best {seen.max():.2f}", target)


class _Substitute(ScikitlearnClassifier):
    """A substitute the extraction attacks can train: scikit-learn needs no epochs or batch sizes."""

    def fit(self, x: np.ndarray, y: np.ndarray, **kwargs) -> None:
        super().fit(x, y)


def _agreement(endpoint: Endpoint, substitute: object) -> str:
    x = endpoint.target.data.x_held_out
    return f"substitute agrees on {(substitute.predict(x) == endpoint.target.model.predict(x)).mean():.0%} of held-out"


def knockoff(endpoint: Endpoint, log: QueryLog, rng: np.random.Generator) -> Outcome:
    """Knockoff Nets (Orekondy et al. 2019), random strategy, an MLP substitute on soft labels. The transfer
    set is uniform noise over the input box or a Gaussian fitted to 20 of the attacker's own samples
    (no natural-image set ships with scikit-learn)."""
    data = endpoint.target.data
    uniform = bool(rng.random() < 0.5)
    if uniform:
        transfer = rng.uniform(*CLIP, (log.budget, data.n_features))
    else:
        own = data.x_held_out[rng.choice(len(data.x_held_out), 20, replace=False)]
        cov = np.cov(own, rowvar=False) + 1e-3 * np.eye(data.n_features)
        transfer = np.clip(rng.multivariate_normal(own.mean(axis=0), cov, log.budget), *CLIP)
    thief = _Substitute(MLPClassifier((64,), max_iter=200, random_state=0), clip_values=CLIP)
    attack = KnockoffNets(
        classifier(endpoint, log), nb_stolen=log.budget, sampling_strategy="random", use_probability=True, verbose=False
    )
    attack.extract(transfer.astype(np.float32), thieved_classifier=thief)
    return Outcome(f"{'uniform' if uniform else 'Gaussian-fit'} transfer set: {_agreement(endpoint, thief.model)}")


def jacobian_augmentation(endpoint: Endpoint, log: QueryLog, rng: np.random.Generator) -> Outcome:
    """Papernot et al. 2017 substitute training with Jacobian-based dataset augmentation (ART has no
    implementation): from 5 own samples per class, label the set through the label-only API, fit a
    logistic-regression substitute (ART's estimator, analytic class gradients), and add
    ``x + 0.1 sign(d f_label / dx)`` for every point; each round doubles the set."""
    data = endpoint.target.data
    oracle = classifier(endpoint, log)
    points = np.vstack(
        [data.x_held_out[rng.choice(np.flatnonzero(data.y_held_out == c), 5, replace=False)] for c in range(data.n_classes)]
    ).astype(np.float32)
    labels = np.empty((0, data.n_classes))
    substitute = None
    try:
        while True:
            labels = np.vstack([labels, oracle.predict(points[len(labels) :])])
            substitute = SklearnClassifier(LogisticRegression(max_iter=1000), clip_values=CLIP)
            substitute.fit(points, labels)
            gradients = substitute.class_gradient(points, label=labels.argmax(axis=1)).reshape(points.shape)
            points = np.vstack([points, np.clip(points + 0.1 * np.sign(gradients), *CLIP).astype(np.float32)])
    except QueryBudgetSpent:
        pass
    return Outcome("no substitute" if substitute is None else _agreement(endpoint, substitute.model))


def _drive(probe: Probe, endpoint: Endpoint, log: QueryLog) -> None:
    """Send an attack written as a simulator probe through the logged endpoint until it ends or the budget does."""
    try:
        batch = next(probe)
        while True:
            batch = probe.send(endpoint.query(batch, log))
    except (StopIteration, QueryBudgetSpent):
        return


def active_learning(endpoint: Endpoint, log: QueryLog, rng: np.random.Generator) -> Outcome:
    """ActiveThief (Pal et al. 2020; ART has no implementation): an MLP substitute, as Knockoff's, learns
    from the labels of other-domain natural samples (the simulator's Knockoff surrogate pool, four times
    the budget), a random seed batch of 50 first, then rounds of 50 or more the substitute is least sure
    about (margin, entropy or k-center, drawn per client), retrained between rounds."""
    strategy = str(rng.choice(STRATEGIES))
    thief = MLPClassifier((64,), max_iter=200, random_state=0)
    probe = active_thief(
        endpoint.target.data, rng, thief, strategy=strategy, pool_size=4 * log.budget, seed_size=50, batch=50
    )
    _drive(probe, endpoint, log)
    return Outcome(f"{strategy}: " + (_agreement(endpoint, thief) if hasattr(thief, "classes_") else "no substitute"))


def label_only_membership(endpoint: Endpoint, log: QueryLog, rng: np.random.Generator) -> Outcome:
    """Label-only membership inference by decision-boundary distance (Choquette-Choo et al. 2021):
    calibrate the distance threshold on random inputs (unsupervised), then HopSkipJump from candidate
    records, half of them training members."""
    data = endpoint.target.data
    hsj = {"max_iter": 2, "max_eval": 50, "init_eval": 10, "verbose": False}
    attack = LabelOnlyDecisionBoundary(classifier(endpoint, log))
    members = rng.choice(len(data.x_train), SAMPLES // 2, replace=False)
    others = rng.choice(len(data.x_held_out), SAMPLES // 2, replace=False)
    x = np.vstack([data.x_train[members], data.x_held_out[others]]).astype(np.float32)
    y = np.concatenate([data.y_train[members], data.y_held_out[others]])
    truth = np.repeat([1, 0], SAMPLES // 2)
    order = rng.permutation(len(x))
    guessed, right = 0, 0
    try:
        attack.calibrate_distance_threshold_unsupervised(top_t=50, num_samples=5, max_queries=1, **hsj)
        for i in order:
            right += int(attack.infer(x[i : i + 1], y[i : i + 1], **hsj)[0] == truth[i])
            guessed += 1
    except QueryBudgetSpent:
        pass
    return Outcome(f"membership right for {right}/{guessed} records" if guessed else "calibration only")


ATTACKS: dict[str, AttackSpec] = {
    "hopskipjump": AttackSpec(hop_skip_jump, top1=True),
    "boundary": AttackSpec(boundary),
    "signopt": AttackSpec(sign_opt, top1=True, multiclass_only=True),
    "zoo": AttackSpec(zoo),
    "simba": AttackSpec(simba, images_only=True),
    "square": AttackSpec(square, images_only=True),
    "miface": AttackSpec(mi_face),
    "knockoff": AttackSpec(knockoff),
    "jbda": AttackSpec(jacobian_augmentation, top1=True),
    "labelonly-membership": AttackSpec(label_only_membership, top1=True),
    "activethief": AttackSpec(active_learning),
}
"""Attack kinds by name: decision-based ones (and Papernot's label-only substitute training) are
served by a top-1 API, the rest by one that returns every class score."""
