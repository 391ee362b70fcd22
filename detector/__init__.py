"""inversion-detector: a streaming detector of model-inversion, extraction and
query-based evasion attacks against ML model APIs.

Data flows one way: source -> parse -> per-client state -> featurize -> score
-> decide -> sinks.
"""

__version__ = "0.1.0"
