"""The console's page addresses, shared with what links to them (the Slack webhook body)."""

from __future__ import annotations

from urllib.parse import quote


def alert_path(alert_id: str) -> str:
    """The alert page's path.

    >>> alert_path("01JD4V8Q3J6X0M5Y7T2K9W1B3C")
    '/alerts/01JD4V8Q3J6X0M5Y7T2K9W1B3C'
    """
    return "/alerts/" + quote(alert_id, safe="")
