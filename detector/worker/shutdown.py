"""Signals: SIGTERM/SIGINT stop the worker gracefully within a bound, a second one at once; SIGHUP
asks for the rules to be reloaded.

Handlers only set flags and arm a watchdog: the worker's loop notices the
flags between batches, finishes the batch, checkpoints and leaves the group.
If that takes longer than the bound (a stuck broker, a database that does not
come back), the watchdog ends the process with status 1; the next start
resumes from the last checkpoint, so nothing is lost either way.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

log = logging.getLogger(__name__)

EXIT_TIMEOUT = 1
EXIT_SECOND_SIGNAL = 130


class Shutdown:
    """The stop and reload requests of one process.

    >>> s = Shutdown(timeout_s=5.0)
    >>> s.requested, s.remaining()
    (False, inf)
    >>> s.request("test"); s.requested, 0 < s.remaining() <= 5.0
    (True, True)
    >>> s.cancel_watchdog()
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.deadline: float | None = None
        self._watchdog: threading.Timer | None = None

    @property
    def requested(self) -> bool:
        return self.stop.is_set()

    def remaining(self) -> float:
        """Seconds left before the watchdog ends the process (infinite while running normally)."""
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def request(self, why: str) -> None:
        """Ask the loop to stop; the second request ends the process at once."""
        if self.stop.is_set():
            log.warning("second stop request (%s): exiting now", why)
            os._exit(EXIT_SECOND_SIGNAL)
        log.info("stop requested (%s): finishing the batch, checkpointing, leaving the group", why,
                 extra={"timeout_s": self.timeout_s})  # fmt: skip
        self.deadline = time.monotonic() + self.timeout_s
        self._watchdog = threading.Timer(self.timeout_s, self._expired)
        self._watchdog.daemon = True
        self._watchdog.start()
        self.stop.set()

    def _expired(self) -> None:
        log.error("graceful stop took longer than %.1f s: exiting; the next start resumes from the last checkpoint",
                  self.timeout_s)  # fmt: skip
        logging.shutdown()
        os._exit(EXIT_TIMEOUT)

    def cancel_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()

    def install(self) -> None:
        """Handle SIGTERM, SIGINT and SIGHUP in this (main) thread."""
        signal.signal(signal.SIGTERM, lambda signum, _frame: self.request(signal.Signals(signum).name))
        signal.signal(signal.SIGINT, lambda signum, _frame: self.request(signal.Signals(signum).name))
        signal.signal(signal.SIGHUP, lambda _signum, _frame: self.reload.set())
