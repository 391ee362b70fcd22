"""Webhook delivery of new alerts from the outbox: signed POSTs, retried with backoff, never twice at once."""
