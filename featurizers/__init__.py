"""Per-client state and feature computations: pure, bounded, no I/O.

Every featurizer turns the state of one (model_id, client_id) pair into a flat
dict of named, documented features (see each module's ``FEATURES``).
"""
