"""The default featurizers in the order the pipeline runs them, and the documentation of every feature.

Order matters: a featurizer may read what an earlier one keeps for the same
event (its ``requires``), so distances are measured once per event.

>>> [f.name for f in default_featurizers()]
['query_rate', 'gradient_walk', 'neighbourhood', 'sign_steps', 'long_horizon', 'input_distribution', 'output_distribution', 'confidence_climb', 'extraction', 'cross_client', 'training_records']
>>> len(ALL_FEATURES) == len(FEATURE_DOCS), "symmetric_pair_frac" in ALL_FEATURES
(True, True)
"""

from __future__ import annotations

from featurizers.base import Featurizer
from featurizers.confidence_climb import ConfidenceClimb
from featurizers.cross_client import CrossClient
from featurizers.extraction import Extraction
from featurizers.gradient_walk import GradientWalk
from featurizers.input_distribution import InputDistribution
from featurizers.long_horizon import LongHorizon
from featurizers.neighbourhood import Neighbourhood
from featurizers.output_distribution import OutputDistribution
from featurizers.query_rate import QueryRate
from featurizers.sign_steps import SignSteps
from featurizers.training_records import TrainingRecords

FEATURIZER_TYPES: tuple[type[Featurizer], ...] = (
    QueryRate,
    GradientWalk,
    Neighbourhood,
    SignSteps,
    LongHorizon,
    InputDistribution,
    OutputDistribution,
    ConfidenceClimb,
    Extraction,
    CrossClient,
    TrainingRecords,
)


def default_featurizers() -> list[Featurizer]:
    """Fresh instances of the default featurizers, dependencies first."""
    return [kind() for kind in FEATURIZER_TYPES]


def check_order(featurizers: list[Featurizer]) -> None:
    """Raise ValueError if a featurizer runs before one it requires, or two document the same feature."""
    seen: set[str] = set()
    documented: dict[str, str] = {}
    for featurizer in featurizers:
        missing = [name for name in getattr(featurizer, "requires", ()) if name not in seen]
        if missing:
            raise ValueError(f"{featurizer.name} needs {', '.join(missing)} to run before it")
        for feature in featurizer.FEATURES:
            if feature in documented:
                raise ValueError(f"feature {feature!r} defined by both {documented[feature]} and {featurizer.name}")
            documented[feature] = featurizer.name
        seen.add(featurizer.name)


check_order(default_featurizers())

FEATURE_DOCS: dict[str, str] = {name: doc for kind in FEATURIZER_TYPES for name, doc in kind.FEATURES.items()}
"""Every default feature's name -> what it measures, its unit and why it matters."""

ALL_FEATURES: frozenset[str] = frozenset(FEATURE_DOCS)
