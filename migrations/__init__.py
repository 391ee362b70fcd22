"""Alembic migrations owning the alert store's schema (``inversion-detector db upgrade``)."""
