"""Benchmarks: run on demand, print tables, write JSON reports under ``benchmarks/results/``."""
