"""The console application: pages, static files, errors, and the safety layers around them.

Layers, outermost first: security headers on every response; the access rule
(:mod:`detector.console.auth`); then the routes, whose forms are CSRF-checked
(:mod:`detector.console.csrf`). Templates autoescape everything and undefined
names are errors, so a template cannot silently print raw or missing data.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from detector.alert import STATUSES
from detector.console.auth import AccessGuard
from detector.console.csrf import CsrfSigner
from detector.console.headers import SecurityHeaders
from detector.console.paths import alert_path
from detector.console.routes import ConsolePages
from detector.db.alert_store import AlertNotFound, AlertStore, format_time

STATIC = Path(__file__).with_name("static")


def epoch_time(seconds: float) -> str:
    """Event time (epoch seconds) as RFC 3339 UTC.

    >>> epoch_time(1795312008.0)
    '2026-11-22T01:46:48.000Z'
    """
    return format_time(datetime.fromtimestamp(seconds, timezone.utc))


def make_templates() -> Jinja2Templates:
    """The console's templates, autoescaped, with its filters."""
    env = Environment(
        loader=PackageLoader("detector.console", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        quote=lambda text: quote(str(text), safe=""),
        utc=format_time,
        epoch=epoch_time,
        num=lambda value: f"{value:.4g}",
        alert_path=alert_path,
    )
    env.globals.update(statuses=STATUSES, sorts=AlertStore.QUEUE_SORTS)
    return Jinja2Templates(env=env)


def create_app(store: AlertStore, *, token: str | None = None, refresh_s: int = 30) -> Starlette:
    """The console over ``store``. With ``token``, every request must present it; without, only
    requests to a loopback host name are served (bind beyond loopback only with a token: :func:`serve`).
    ``refresh_s`` is how often the queue reloads itself (0: never)."""
    templates = make_templates()
    pages = ConsolePages(store, templates, CsrfSigner(), refresh_s)

    def error_page(request: Request, exc: Exception) -> Response:
        status, detail = (404, str(exc)) if isinstance(exc, AlertNotFound) else (exc.status_code, exc.detail)
        return templates.TemplateResponse(
            request, "error.html", {"status": status, "detail": detail}, status_code=status, headers=getattr(exc, "headers", None)
        )

    return Starlette(
        routes=[*pages.routes(), Mount("/static", StaticFiles(directory=STATIC), name="static")],
        middleware=[Middleware(SecurityHeaders), Middleware(AccessGuard, token=token)],
        exception_handlers={HTTPException: error_page, AlertNotFound: error_page},
    )
