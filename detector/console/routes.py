"""The console's pages and form actions, all through :class:`~detector.db.alert_store.AlertStore`.

Pages are ``def`` endpoints (Starlette runs them in its thread pool, so a slow
database never blocks the event loop); form actions read the form, check its
CSRF token, then call the store in the thread pool and redirect (POST/redirect/GET).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from sqlalchemy import Row
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from detector.console.csrf import FIELD, CsrfSigner
from detector.console.group_view import group_view
from detector.console.paths import alert_path
from detector.console.plots import alert_plots
from detector.console.queue_query import PAGE_SIZE, QueueQuery
from detector.db.alert_store import AlertFilter, AlertStore, alert_from_row

ACTIONS = {"acknowledged": "Acknowledge", "resolved": "Resolve", "false_positive": "Mark false positive"}
"""Status changes the alert page offers: new status -> button text."""
MAX_NOTE = 2000
CLIENT_ALERTS = 200
"""Most alerts the client page lists (newest first)."""

FormAction = Callable[["ConsolePages", Request, FormData], Awaitable[Response]]


def checked_form(action: FormAction) -> Callable[["ConsolePages", Request], Awaitable[Response]]:
    """Wrap a form action so that it runs only with a valid CSRF token for its path (else 403)."""

    async def endpoint(self: ConsolePages, request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=8)
        token = form.get(FIELD)
        if not self.signer.valid(token if isinstance(token, str) else None, request.url.path):
            raise HTTPException(403, "this form has expired or did not come from this console: reload the page")
        return await action(self, request, form)

    endpoint.__doc__ = action.__doc__
    return endpoint


class ConsolePages:
    """The endpoints, with what they share: the store, the templates, the CSRF signer."""

    def __init__(self, store: AlertStore, templates: Jinja2Templates, signer: CsrfSigner, refresh_s: int) -> None:
        self.store = store
        self.templates = templates
        self.signer = signer
        self.refresh_s = refresh_s

    def routes(self) -> list[Route]:
        return [
            Route("/", self.queue, methods=["GET"], name="queue"),
            Route("/alerts/{alert_id}", self.alert, methods=["GET"], name="alert"),
            Route("/alerts/{alert_id}/status", self.change_status, methods=["POST"]),
            Route("/alerts/{alert_id}/redeliver", self.redeliver, methods=["POST"]),
            Route("/clients/{client_id:path}", self.client, methods=["GET"], name="client"),
        ]

    def queue(self, request: Request) -> Response:
        """The alert queue: filters, sort, pages, counts per severity; refreshes itself."""
        try:
            query = QueueQuery.model_validate(dict(request.query_params))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise HTTPException(400, f"bad queue query: {problems}") from exc
        where = query.filter()
        total = self.store.count(where)
        return self.templates.TemplateResponse(
            request,
            "queue.html",
            {
                "query": query,
                "rows": self.store.page(where, sort=query.sort, offset=query.offset),
                "total": total,
                "pages": max(1, math.ceil(total / PAGE_SIZE)),
                "counts": self.store.severity_counts(where),
                "detectors": self.store.detectors(),
                "refresh_s": self.refresh_s,
            },
        )

    def alert(self, request: Request) -> Response:
        """One alert: summary, group, reasons, evidence plots, features, history, webhook, actions."""
        asked = request.path_params["alert_id"]
        row = self.store.get(asked)
        if row.alert_id != asked:  # a unique prefix: show the alert at its own address
            return RedirectResponse(alert_path(row.alert_id), status_code=303)
        alert = alert_from_row(row)
        evidence = self.store.evidence(alert.alert_id)
        group = group_view(self.store, alert, evidence)
        times = group.times if group is not None else evidence.group if evidence is not None else {}
        plots = []
        if evidence is not None or times:
            series = {name: (s.t, s.y) for name, s in evidence.series.items()} if evidence is not None else {}
            plots = alert_plots(series, times, alert.client_id)
        path = alert_path(alert.alert_id)
        return self.templates.TemplateResponse(
            request,
            "alert.html",
            {
                "alert": alert,
                "row": row,
                "group": group,
                "plots": plots,
                "history": self.store.history(alert.alert_id),
                "deliveries": self.store.deliveries(alert.alert_id),
                "actions": ACTIONS,
                "status_form": (path + "/status", self.signer.token(path + "/status")),
                "redeliver_form": (path + "/redeliver", self.signer.token(path + "/redeliver")),
                "csrf_field": FIELD,
            },
        )

    def client(self, request: Request) -> Response:
        """Every alert of one client across models, and its newest features per model."""
        client_id = request.path_params["client_id"]
        where = AlertFilter(client_id=client_id, limit=CLIENT_ALERTS)
        rows = self.store.page(where)
        newest: dict[str, Row] = {}
        for row in rows:
            newest.setdefault(row.model_id, row)
        return self.templates.TemplateResponse(
            request,
            "client.html",
            {"client_id": client_id, "rows": rows, "total": self.store.count(where), "newest": newest},
            status_code=200 if rows else 404,
        )

    @checked_form
    async def change_status(self, request: Request, form: FormData) -> Response:
        """Acknowledge, resolve or mark false positive, with the analyst's note."""
        status, note = form.get("status"), form.get("note") or ""
        if status not in ACTIONS or not isinstance(note, str):
            raise HTTPException(400, f"status must be one of {', '.join(ACTIONS)}")
        if len(note) > MAX_NOTE:
            raise HTTPException(400, f"the note is longer than {MAX_NOTE} characters")
        full_id = await run_in_threadpool(
            self.store.set_status, request.path_params["alert_id"], status, note.strip() or None
        )
        return RedirectResponse(alert_path(full_id), status_code=303)

    @checked_form
    async def redeliver(self, request: Request, form: FormData) -> Response:
        """Queue the alert for the webhook again."""
        full_id = await run_in_threadpool(self.store.redeliver, request.path_params["alert_id"])
        return RedirectResponse(alert_path(full_id), status_code=303)
