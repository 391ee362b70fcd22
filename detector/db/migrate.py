"""Apply the Alembic revisions in ``migrations/`` to a database, safely from many processes at once.

Replicas started together on an empty database would all create the schema, and all but one fail
on ``alembic_version``. So every schema check and change runs in one transaction that first takes a
lock, a PostgreSQL transaction-level advisory lock (released at commit, or when the process dies):
the first process creates the schema, the others wait, then find it current. (SQLite, the embedded
single-process store, needs none.)
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text


def alembic_config() -> Config:
    """An Alembic config pointing at the installed ``migrations`` package."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("migrations")))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


SCHEMA_LOCK_KEY = 0x696E_7664
"""The advisory lock key every detector process takes before it reads or changes the schema ("invd")."""


def hold_lock(connection: Connection, key: int) -> None:
    """Hold the PostgreSQL advisory lock ``key`` until the connection's transaction ends (SQLite, the
    embedded single-process store, needs none)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def lock_schema(connection: Connection) -> None:
    """Hold the schema lock until the connection's transaction ends."""
    hold_lock(connection, SCHEMA_LOCK_KEY)


def _apply(connection: Connection, action, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    action(config, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` in one transaction, under the schema lock."""
    with engine.begin() as connection:
        lock_schema(connection)
        _refuse_unknown(MigrationContext.configure(connection).get_current_revision())
        _apply(connection, command.upgrade, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    with engine.begin() as connection:
        lock_schema(connection)
        _apply(connection, command.downgrade, revision)


class SchemaOutOfDate(Exception):
    """The database's schema is not the one this version of the detector needs (older or newer)."""


def _refuse_unknown(current: str | None) -> None:
    """A revision this code does not know was written by a newer detector: refuse it in one line."""
    if current is None:
        return
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(current)
    except CommandError:
        raise SchemaOutOfDate(
            f"the database schema is at revision {current}, newer than this detector knows (it needs "
            f"{head_revision()}): run the detector version that upgraded it"
        ) from None


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse one that is behind (run ``db upgrade``) or ahead.
    Safe to run from any number of processes at once (see the module docstring)."""
    with engine.begin() as connection:
        lock_schema(connection)
        current = MigrationContext.configure(connection).get_current_revision()
        if current is None:
            _apply(connection, command.upgrade, "head")
            return
        _refuse_unknown(current)
        if current != head_revision():
            raise SchemaOutOfDate(
                f"the database schema is at revision {current}, this detector needs {head_revision()}: "
                "run `inversion-detector db upgrade`"
            )
