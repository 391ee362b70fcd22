"""One HTTP port for probes and scraping: ``/healthz`` (the process serves), ``/readyz`` (it owns
partitions and reaches its database) and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine, text

from detector.settings import ConfigError

log = logging.getLogger(__name__)


def database_reachable(engine: Engine) -> tuple[bool, str]:
    """Whether a ``SELECT 1`` succeeds, and what went wrong if not."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach it means not ready
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return False, f"database unreachable: {reason[0] if reason else type(exc).__name__}"
    return True, "database reachable"


def start_health_server(port: int, registry: CollectorRegistry, ready: Callable[[], tuple[bool, str]]) -> HealthServer | None:
    """The probe and metrics port (0 = none); a port that cannot be opened is a configuration error."""
    if port == 0:
        return None
    try:
        return HealthServer(port, registry, ready)
    except OSError as exc:
        raise ConfigError([f"setting metrics_port: cannot listen on port {port}: {exc.strerror}"]) from None


class HealthServer:
    """Serves in a daemon thread until :meth:`close`.

    >>> import httpx
    >>> server = HealthServer(0, CollectorRegistry(), ready=lambda: (False, "no partitions assigned"))
    >>> [httpx.get(f"http://127.0.0.1:{server.port}{path}").status_code for path in ("/healthz", "/readyz", "/nope")]
    [200, 503, 404]
    >>> server.close()
    """

    def __init__(
        self, port: int, registry: CollectorRegistry, ready: Callable[[], tuple[bool, str]], host: str = "0.0.0.0"
    ) -> None:
        handler = _handler(registry, ready)
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="health-http", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(registry: CollectorRegistry, ready: Callable[[], tuple[bool, str]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, b"ok\n")
            elif path == "/readyz":
                ok, why = ready()
                self._send(200 if ok else 503, f"{why}\n".encode())
            elif path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b"not found\n")

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the http.server API
            log.debug("health %s", format % args)

    return Handler
