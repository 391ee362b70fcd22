"""The analyst console: a small server-rendered web app over the alert store.

:func:`create_app` builds the application over an :class:`~detector.db.alert_store.AlertStore`;
:func:`serve` runs it (``inversion-detector console``).
"""

from detector.console.app import create_app
from detector.console.server import serve

__all__ = ["create_app", "serve"]
