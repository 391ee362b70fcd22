"""The registry: dependency order, unique and documented feature names."""

from __future__ import annotations

import pytest

from featurizers.base import Featurizer
from featurizers.confidence_climb import ConfidenceClimb
from featurizers.gradient_walk import GradientWalk
from featurizers.query_rate import QueryRate
from featurizers.registry import ALL_FEATURES, FEATURE_DOCS, check_order, default_featurizers


def test_default_featurizers_are_fresh_and_in_dependency_order() -> None:
    first, second = default_featurizers(), default_featurizers()
    assert [type(f) for f in first] == [type(f) for f in second]
    assert all(a is not b for a, b in zip(first, second))
    check_order(first)
    names = [f.name for f in first]
    for position, featurizer in enumerate(first):
        assert set(getattr(featurizer, "requires", ())) <= set(names[:position])


def test_feature_docs_cover_every_feature_exactly_once() -> None:
    every = [name for f in default_featurizers() for name in f.FEATURES]
    assert len(every) == len(set(every)) == len(FEATURE_DOCS)
    assert ALL_FEATURES == frozenset(every) == FEATURE_DOCS.keys()
    assert all(isinstance(doc, str) and len(doc) > 20 for doc in FEATURE_DOCS.values())


def test_a_featurizer_before_what_it_requires_is_rejected() -> None:
    with pytest.raises(ValueError, match="confidence_climb needs gradient_walk"):
        check_order([QueryRate(), ConfidenceClimb(), GradientWalk()])


def test_two_featurizers_defining_one_feature_are_rejected() -> None:
    class Echo(QueryRate):
        name = "echo"

    with pytest.raises(ValueError, match="'events_total' defined by both query_rate and echo"):
        check_order([QueryRate(), Echo()])


def test_featurizers_keep_no_state_of_their_own() -> None:
    """All state lives in the client and model, so pickling those is a full checkpoint."""
    for featurizer in default_featurizers():
        assert isinstance(featurizer, Featurizer)
        assert all(not hasattr(value, "__len__") for value in vars(featurizer).values())
