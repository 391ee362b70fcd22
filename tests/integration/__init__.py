"""Tests against a real PostgreSQL server and a real Kafka-protocol broker."""
