"""Start a server process for the tests: a free loopback port, its output in a log file, a bounded wait.

The PostgreSQL and Kafka-protocol servers differ in how they start and how
readiness is checked; what they share (the ``with`` protocol, picking a port,
noticing that the process died, quoting its log in the error) lives here once.
"""

from __future__ import annotations

import socket
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Self

from tests.services.polling import poll_until


class ServiceError(RuntimeError):
    """A test service that is missing or would not start; the message says what to install or shows its log."""


class LaunchedServer(ABC):
    """A server started on entering a ``with`` block and cleaned up on leaving it, also when starting fails."""

    @abstractmethod
    def start(self) -> None:
        """Start the server and return once it accepts connections."""

    @abstractmethod
    def close(self) -> None:
        """Stop the server and remove the temporary files it made."""

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    >>> 1024 <= free_loopback_port() <= 65535
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def accepts_connections(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def log_tail(log_path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a server's log, for error messages."""
    try:
        text = log_path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def spawn(argv: list[str], log_path: Path) -> subprocess.Popen:
    """Run ``argv`` in the background with its output appended to ``log_path``."""
    with log_path.open("ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def wait_until_ready(
    process: subprocess.Popen, is_ready: Callable[[], bool], *, what: str, log_path: Path, timeout: float
) -> None:
    """Poll ``is_ready`` until it holds; fail at once, with the log, if ``process`` exits meanwhile."""

    def ready_or_dead() -> bool:
        if process.poll() is not None:
            raise ServiceError(
                f"{what} exited with status {process.returncode} while starting; log {log_path}:\n{log_tail(log_path)}"
            )
        return is_ready()

    try:
        poll_until(ready_or_dead, timeout=timeout, what=f"{what} accepting connections")
    except TimeoutError as exc:
        raise ServiceError(f"{exc}; log {log_path}:\n{log_tail(log_path)}") from exc
