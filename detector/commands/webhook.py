"""``inversion-detector webhook`` (the dispatcher on its own) and ``alerts redeliver``."""

from __future__ import annotations

import sys
from typing import TextIO

from detector.assembly import open_store
from detector.db.alert_store import AlertStore
from detector.settings import ConfigError, Settings
from detector.webhook.dispatcher import Dispatcher
from detector.webhook.outbox import Outbox
from detector.worker.health import database_reachable, start_health_server
from detector.worker.json_logs import configure_logging
from detector.worker.metrics import WorkerMetrics
from detector.worker.shutdown import Shutdown


def run_dispatcher(settings: Settings) -> int:
    """Deliver outbox rows until SIGTERM/SIGINT (beside workers started with ``webhook_in_worker = false``;
    on PostgreSQL any number of dispatchers may run, on SQLite one)."""
    if settings.webhook_url is None:
        raise ConfigError(["setting webhook_url: `inversion-detector webhook` needs one (INVDET_WEBHOOK_URL)"])
    configure_logging(settings.log_format, settings.log_level)
    engine, _ = open_store(settings)
    metrics = WorkerMetrics()
    shutdown = Shutdown(settings.shutdown_timeout_s)
    shutdown.install()
    health = start_health_server(settings.metrics_port, metrics.registry, lambda: database_reachable(engine))
    dispatcher = Dispatcher.from_settings(settings, engine, metrics)
    try:
        dispatcher.run(shutdown.stop, settings.webhook_poll_s)
    finally:
        dispatcher.close()
        if health is not None:
            health.close()
        engine.dispose()
        shutdown.cancel_watchdog()
    return 0


def redeliver(store: AlertStore, alert_id: str | None, settings: Settings, out: TextIO | None = None) -> int:
    """Queue one alert (``alert_id``) or every failed delivery (None) for webhook delivery again."""
    out = out or sys.stdout  # looked up at call time, so redirections of sys.stdout apply
    if alert_id is not None:
        out.write(f"{store.redeliver(alert_id)}: queued for webhook delivery\n")
    else:
        queued = Outbox(store.engine).requeue_failed()
        out.write(f"{len(queued)} failed deliveries queued again\n")
        out.writelines(f"  {queued_id}\n" for queued_id in queued)
    if settings.webhook_url is None:
        out.write("no webhook_url is set: deliveries wait until a dispatcher runs with one\n")
    return 0
