"""Output distribution: how unsure the model is of a client's queries, against how unsure it is of its own traffic.

Extraction by active learning (ActiveThief, Pal et al. 2020) asks for the
samples a substitute is least sure about, drawn from a pool of natural data
of another domain; Knockoff-style transfer sets are other-domain too, and
the model answers other-domain data unsurely. Low-margin answers alone do
not tell an attacker: a labelling tool sends the model's least sure records
on purpose, a camera frame or a slider drag sits on a decision boundary for
many queries. What those benign clients send is typical of the model's
inputs, or the same input again; what an extraction pool holds is neither.
So, per answer to a new input (``novel_input``: retries, frames and slider
steps repeat their answer), against the model's own answers:

- **unsure**: its margin (top score minus the runner-up) below the model's
  ``LOW_QUANTILE`` margin; from a top-1 API, its confidence below the
  model's ``LOW_QUANTILE`` confidence; label-only answers tell nothing;
- **atypical**: its input's off-distribution score
  (:mod:`featurizers.input_distribution`) above the model's
  ``TYPICAL_QUANTILE`` score;
- **per client**, a Bernoulli CUSUM (:class:`~featurizers.sequential.BernoulliCusum`)
  of the share of answers both unsure and atypical, ``P1`` against ``P0``.

The model's reference is three KLL quantile sketches (Apache DataSketches,
``K``; a few KiB however long the model lives) of margins, confidences and
off-distribution scores, learned from clients: each contributes at most
``CLIENT_SHARE`` answers from after its first ``TRUSTED_AFTER`` (64) events,
held back until its scored window settles, and a client a detector flagged
contributes nothing (:class:`~featurizers.sequential.HeldBack`).
"""

from __future__ import annotations

import math

import numpy as np
from datasketches import kll_floats_sketch

from featurizers.base import Featurizer, Observation
from featurizers.gradient_walk import novel_input
from featurizers.input_distribution import InputDistribution
from featurizers.ring import Ring
from featurizers.sequential import BernoulliCusum, HeldBack
from featurizers.state import ClientState, ModelState

K = 200
"""KLL accuracy parameter: ranks within about 1.3% (normalised rank error at 99% confidence)."""
SKETCH_MAX_NBYTES = 4096
"""A bound on one sketch's retained values and header, in bytes (KLL retains O(K log log n) values)."""
LOW_QUANTILE = 0.1
"""An answer is unsure below this quantile of the model's own margins (or confidences)."""
TYPICAL_QUANTILE = 0.9
"""An input is atypical above this quantile of the model's own off-distribution scores."""
MIN_REFERENCE = 24
"""Answers a reference sketch needs before its quantile is used."""
REFRESH = 32
"""A model's cut-offs are read from its sketches again after this many new answers."""
CLIENT_SHARE = 16
"""Most answers one client may teach the model's reference."""
P0 = 0.05
"""Share of a benign client's answers expected unsure and atypical (five times the 1% of independent cuts)."""
P1 = 0.3
"""Share the test is tuned to detect."""
CUSUM = BernoulliCusum(P0, P1)

MARGIN, CONFIDENCE, OFF = range(3)


class OutputReference:
    """One model's sketches of its clients' margins, confidences and off-distribution scores, and the
    cut-offs read from them (NaN until a sketch holds ``MIN_REFERENCE`` values); pickled as serialised sketches.

    >>> ref = OutputReference()
    >>> for v in np.linspace(0.0, 1.0, 120):  # the cut-offs are read at 24 values, then every 32
    ...     ref.learn((float(v), float(v), float(v)))
    >>> [round(c, 1) for c in ref.cuts]
    [0.1, 0.1, 0.9]
    >>> import pickle
    >>> pickle.loads(pickle.dumps(ref)).cuts == ref.cuts
    True
    """

    __slots__ = ("sketches", "cuts", "fresh")

    QUANTILES = (LOW_QUANTILE, LOW_QUANTILE, TYPICAL_QUANTILE)

    def __init__(self) -> None:
        self.sketches = [kll_floats_sketch(K) for _ in self.QUANTILES]
        self.cuts = [math.nan] * len(self.QUANTILES)
        self.fresh = 0
        """Values learned since the cut-offs were read."""

    def learn(self, values: tuple[float, float, float]) -> None:
        """One answer's margin, confidence and input score (each may be NaN: not known)."""
        for sketch, value in zip(self.sketches, values):
            if value == value:
                sketch.update(value)
        self.fresh += 1
        if self.fresh >= REFRESH or any(c != c and s.n >= MIN_REFERENCE for c, s in zip(self.cuts, self.sketches)):
            self.fresh = 0
            self.cuts = [s.get_quantile(q) if s.n >= MIN_REFERENCE else math.nan for s, q in zip(self.sketches, self.QUANTILES)]

    @property
    def nbytes(self) -> int:
        return sum(4 * s.num_retained + 64 for s in self.sketches) + 64

    @property
    def max_nbytes(self) -> int:
        return len(self.sketches) * SKETCH_MAX_NBYTES + 64

    def __getstate__(self) -> tuple[list[bytes], list[float], int]:
        return [s.serialize() for s in self.sketches], self.cuts, self.fresh

    def __setstate__(self, state: tuple[list[bytes], list[float], int]) -> None:
        blobs, self.cuts, self.fresh = state
        self.sketches = [kll_floats_sketch.deserialize(blob) for blob in blobs]


class ClientAnswers:
    """One client's answers over its window (low margin, low confidence: 1, 0, or NaN where unknown),
    its CUSUM, and the answers it may yet teach the model."""

    __slots__ = ("rows", "cusum", "held")

    def __init__(self, window: int) -> None:
        self.rows = Ring(window, width=2, dtype=np.float64)
        self.cusum = 0.0
        self.held: HeldBack[tuple[float, float, float]] = HeldBack(CLIENT_SHARE)

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes + 24 * len(self.held.pending) + 64

    @property
    def max_nbytes(self) -> int:
        return self.rows.nbytes + 24 * CLIENT_SHARE + 64


def _below(value: float, cut: float) -> float:
    """1.0 if ``value`` is below ``cut``, 0.0 if not, NaN if either is unknown."""
    return math.nan if value != value or cut != cut else float(value < cut)


class OutputDistribution(Featurizer):
    """Unsure answers to atypical inputs, per client, against the model's own answers and inputs.

    Inputs along 3 directions of 12 coordinates with confident answers from 40 clients (each trusted after
    its first 64 events), then a client of points off those directions that the model answers unsurely:

    >>> from featurizers.extractor import FeatureExtractor
    >>> from featurizers.gradient_walk import GradientWalk
    >>> from featurizers.state import StateStore
    >>> rng = np.random.default_rng(0)
    >>> basis = rng.normal(size=(3, 12))
    >>> store, extractor = StateStore(window=64), FeatureExtractor([GradientWalk(), InputDistribution(), OutputDistribution()])
    >>> def send(client_id, i, x, top):
    ...     client, model = store.touch("m", client_id, float(i)), store.model("m")
    ...     scores = np.array([top, (1 - top) * 0.6, (1 - top) * 0.4], dtype=np.float32)
    ...     extractor.observe(Observation(str(i), float(i), x.astype(np.float32), scores, 0, top), client, model)
    ...     extractor.settle(client, model, flagged=False)  # scored, and no detector fired
    ...     return extractor.featurizers[-1].compute(client, model)
    >>> for i in range(40 * 96):
    ...     _ = send(f"user{i % 40}", i, rng.normal(size=3) @ basis + 0.05 * rng.normal(size=12), rng.uniform(0.55, 1.0))
    >>> for i in range(60):
    ...     features = send("thief", 40 * 96 + i, rng.uniform(-3, 3, 12), 0.5)
    >>> features["low_margin_frac"], features["unsure_answer_frac"], features["unsure_atypical_cusum"] > 50
    (1.0, 1.0, True)
    """

    name = "output_distribution"
    requires = ("gradient_walk", InputDistribution.name)
    FEATURES = {
        "low_margin_frac": f"fraction of the window's answers (with every class score) whose margin, top score "
        f"minus the runner-up, is below the model's own {LOW_QUANTILE:g} quantile (0..1); decision walks, "
        "active-learning extraction and labelling tools ask where the model is unsure",
        "unsure_answer_frac": f"fraction of the window's answers whose confidence is below the model's own "
        f"{LOW_QUANTILE:g} quantile (0..1; top-1 answers too); other-domain data gets unsure answers",
        "unsure_atypical_cusum": f"the client's sequential evidence of new inputs, atypical of the model's (their "
        f"off-distribution score above its own {TYPICAL_QUANTILE:g} quantile), answered unsurely (margin, or "
        f"from a top-1 API confidence, below the model's {LOW_QUANTILE:g} quantile): a Bernoulli CUSUM of "
        f"{P1:g} against a benign {P0:g} (+{CUSUM.hit:.1f} per such answer, {CUSUM.miss:.2f} per other new "
        "one, floored at 0); active-learning and other-domain extraction pile it up, labelling tools "
        "(typical records) and camera feeds (repeats) do not",
    }

    def observe(self, obs: Observation, client: ClientState, model: ModelState) -> None:
        if obs.scores is None and obs.confidence is None:
            return  # a label alone says nothing of how sure the model is
        reference = model.shared.get(self.name)
        if reference is None:
            reference = model.shared[self.name] = OutputReference()
        answers = client.slots.get(self.name)
        if answers is None:
            answers = client.slots[self.name] = ClientAnswers(client.window)
        margin = math.nan
        if obs.scores is not None and len(obs.scores) >= 2:
            top2 = np.partition(obs.scores, -2)[-2:]
            margin = float(top2[1] - top2[0])
        confidence = obs.confidence if obs.confidence is not None else float(obs.scores.max())
        off = math.nan
        learned = model.shared.get(InputDistribution.name)
        if obs.x is not None and learned is not None and learned.components is not None:
            # only scores against the fitted distribution: the early z-scores before it are on another scale
            scored = client.slots.get(InputDistribution.name)
            off = float(scored.scores.last()[1]) if scored is not None and len(scored.scores) else math.nan
        cuts = reference.cuts
        by_margin = _below(margin, cuts[MARGIN])
        unsure = by_margin if margin == margin else _below(confidence, cuts[CONFIDENCE])
        atypical = math.nan if off != off or cuts[OFF] != cuts[OFF] else float(off > cuts[OFF])
        answers.rows.append((by_margin, _below(confidence, cuts[CONFIDENCE])))
        novel = obs.x is None or novel_input(client)
        if novel and unsure == unsure and atypical == atypical:
            answers.cusum = CUSUM.update(answers.cusum, bool(unsure and atypical))
        if novel and self.trusted(client):
            answers.held.offer((margin, float(confidence), off))

    def settle(self, client: ClientState, model: ModelState, flagged: bool) -> None:
        """The client's held-back answers teach the model's reference if no detector fired on its window."""
        answers = client.slots.get(self.name)
        reference = model.shared.get(self.name)
        if answers is None or reference is None:
            return
        for values in answers.held.settle(flagged):
            reference.learn(values)

    def compute(self, client: ClientState, model: ModelState) -> dict[str, float]:
        answers = client.slots.get(self.name)
        if answers is None:
            return {}
        rows = answers.rows.filled()
        feats = {"unsure_atypical_cusum": answers.cusum}
        for name, column in (("low_margin_frac", 0), ("unsure_answer_frac", 1)):
            known = rows[:, column][~np.isnan(rows[:, column])]
            if len(known):
                feats[name] = float(known.mean())
        return feats
