"""The alert store: tables, engine, migrations and queries (SQLite or PostgreSQL)."""
