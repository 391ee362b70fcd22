"""``inversion-detector console``: run the console with uvicorn, refusing unsafe binds."""

from __future__ import annotations

import sys
from typing import TextIO

import uvicorn

from detector.console.app import create_app
from detector.console.auth import is_loopback
from detector.db.alert_store import AlertStore
from detector.db.engine import DatabaseError, make_engine
from detector.db.migrate import SchemaOutOfDate, ensure_schema
from detector.settings import Settings

EXIT_REFUSED = 2


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8686, *, err: TextIO | None = None) -> int:
    """Serve the console over the settings' alert store until interrupted; the exit status.

    Refuses (one line on ``err``, status 2) to listen beyond loopback without
    ``console_token``, and to start on a database it cannot use.
    """
    err = err or sys.stderr
    token = settings.console_token.get_secret_value() if settings.console_token else None
    if token is None and not is_loopback(host):
        err.write(
            f"console: refusing to listen on {host}: beyond loopback it needs a token "
            "(set INVDET_CONSOLE_TOKEN; analysts then sign in with it)\n"
        )
        return EXIT_REFUSED
    try:
        engine = make_engine(settings.database_url)
        ensure_schema(engine)
    except (DatabaseError, SchemaOutOfDate) as exc:
        err.write(f"console: {exc}\n")
        return EXIT_REFUSED
    shown = f"[{host}]" if ":" in host else host
    err.write(f"console on http://{shown}:{port}/ (Ctrl-C stops it)\n")
    try:
        uvicorn.run(create_app(AlertStore(engine), token=token), host=host, port=port, log_level="warning")
    finally:
        engine.dispose()
    return 0
