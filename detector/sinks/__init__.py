"""Where results go: the alert store (with the webhook outbox) and dead-letter sinks."""
