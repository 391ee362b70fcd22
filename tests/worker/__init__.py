"""Tests of the Kafka worker's parts; ``harness`` drives real workers for the integration tests."""
