"""The test suite; ``tests.services`` is importable so benchmarks can start the same servers."""
