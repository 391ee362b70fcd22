"""Database URLs and engines, with one-line errors instead of tracebacks."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError


class DatabaseError(Exception):
    """A database URL that is wrong, or a database that cannot be reached; the message is one line."""


def normalise_url(url: str) -> str:
    """Map plain PostgreSQL URLs to the psycopg2 driver this project ships with.

    >>> normalise_url("postgresql://u@h/db")
    'postgresql+psycopg2://u@h/db'
    >>> normalise_url("postgres://u@h/db")
    'postgresql+psycopg2://u@h/db'
    >>> normalise_url("sqlite:///a.db")
    'sqlite:///a.db'
    """
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg2://" + url[len(plain) :]
    return url


def redact(url: str) -> str:
    """The URL with any password hidden, for messages and logs.

    >>> redact("postgresql+psycopg2://u:secret@h/db")
    'postgresql+psycopg2://u:***@h/db'
    """
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, check: bool = True) -> Engine:
    """An engine for ``url``; with ``check``, connects once so a bad URL fails here, clearly."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg2":
            raise DatabaseError(
                f"database URL {redact(url)}: use postgresql+psycopg2:// (or plain postgresql://), "
                f"the driver {parsed.get_driver_name()!r} is not installed with this project"
            )
        options = {"pool_pre_ping": True}
        if parsed.get_backend_name() == "postgresql":
            options["connect_args"] = {"connect_timeout": 10}
        engine = create_engine(parsed, **options)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise DatabaseError(f"bad database URL {redact(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if check:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            first_line = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else type(exc).__name__
            raise DatabaseError(f"cannot reach database {redact(url)}: {first_line}") from exc
    return engine
