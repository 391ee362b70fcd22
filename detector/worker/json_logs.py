"""Structured logs: one JSON object per line, with the context fields a log line carries.

Context such as ``client_id``, ``alert_id``, ``partition`` is passed with
``extra={...}`` and lands as top-level keys, so a log pipeline can filter on it.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone

import orjson

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...extra, "exc"?}`` per record.

    >>> record = logging.LogRecord("detector.worker", logging.INFO, "", 0, "alert %s", ("raised",), None)
    >>> record.alert_id = "01JD"
    >>> line = orjson.loads(JsonFormatter().format(record))
    >>> line["msg"], line["alert_id"], line["level"]
    ('alert raised', '01JD', 'info')
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(log_format: str, level: str) -> None:
    """Route every logger to stderr, one JSON object (or one plain line) per record."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("kafka", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
