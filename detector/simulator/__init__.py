"""Traffic simulator: benign clients and published attacks against real scikit-learn models.

Seeded and fast, it plays many clients on one timeline against models
trained on scikit-learn's bundled datasets and writes inference events
(the version 1 contract) with the ground truth beside them. Used by
``inversion-detector demo`` and ``simulate``, the tests and the benchmarks.

>>> events, truth = generate("tiny", seed=0)
>>> sorted({t.kind for t in truth if t.attack})
['inversion']
"""

from detector.simulator.actors import ClientTruth
from detector.simulator.scenarios import SCENARIOS, Scenario
from detector.simulator.writer import generate, write_scenario

__all__ = ["SCENARIOS", "ClientTruth", "Scenario", "generate", "write_scenario"]
