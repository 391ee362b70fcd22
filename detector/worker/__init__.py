"""The long-lived Kafka worker: checkpointed consumer-group member, health and metrics, shutdown."""
