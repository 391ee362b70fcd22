"""At most ``max_models`` models' state in memory, the least recently seen model evicted first.

A model's state is its :class:`~featurizers.state.ModelState` (input statistics, class labels, the
featurizers' cross-client structures and online thresholds) and its anomaly model. Multi-tenant
platforms and model-version churn (``m:1``, ``m:2``, ...) make thousands of model ids normal, so
both are dropped together, by :meth:`ModelBound.evict` alone, counted, and handed to ``save`` first
(the worker checkpoints them to its database); a model seen again is handed back by ``load`` (the
worker reads its checkpoint), else it starts afresh. Its clients' windows stay where they are.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from detector.anomaly_model import WindowAnomalyModel
from featurizers.state import ModelState

Saved = tuple[ModelState, WindowAnomalyModel | None]
"""What a model leaves behind when evicted, and what loading it gives back."""


class ModelBound:
    """The model states of ``states`` and ``anomaly`` (dicts shared with the pipelines), bounded.

    >>> states, anomaly, saved = {}, {}, {}
    >>> bound = ModelBound(2, states, anomaly, save=lambda m, s, a: saved.update({m: (s, a)}),
    ...                    load=lambda m: saved.pop(m, None))
    >>> for model_id in ("a", "b", "a", "c"):
    ...     bound.seen(model_id)
    ...     _ = states.setdefault(model_id, ModelState(model_id))   # what the pipeline does
    >>> sorted(states), sorted(saved), bound.evicted
    (['a', 'c'], ['b'], 1)
    >>> bound.seen("b")   # back from its checkpoint; "a" is now the least recently seen
    >>> sorted(states), sorted(saved), bound.evicted
    (['b', 'c'], ['a'], 2)
    """

    def __init__(
        self,
        max_models: int,
        states: dict[str, ModelState],
        anomaly: dict[str, WindowAnomalyModel],
        *,
        save: Callable[[str, ModelState, WindowAnomalyModel | None], None] | None = None,
        load: Callable[[str], Saved | None] | None = None,
    ) -> None:
        self.max_models = max_models
        self.states = states
        self.anomaly = anomaly
        self.save = save
        self.load = load
        self.recency: OrderedDict[str, None] = OrderedDict.fromkeys(states)
        self.evicted = 0

    def seen(self, model_id: str) -> None:
        """Mark the model most recently seen (loading its saved state if it has some); evict beyond the bound."""
        if model_id in self.recency:
            self.recency.move_to_end(model_id)
            return
        if model_id not in self.states and self.load is not None:
            saved = self.load(model_id)
            if saved is not None:
                self.states[model_id], model = saved
                if model is not None:
                    self.anomaly[model_id] = model
        self.recency[model_id] = None
        while len(self.recency) > self.max_models:
            self.evict(next(iter(self.recency)))

    def evict(self, model_id: str) -> None:
        """Drop a model's state and anomaly model together, saving them first."""
        self.recency.pop(model_id, None)
        state = self.states.pop(model_id, None)
        model = self.anomaly.pop(model_id, None)
        if state is not None and self.save is not None:
            self.save(model_id, state, model)
        self.evicted += 1

    def __len__(self) -> int:
        return len(self.recency)
