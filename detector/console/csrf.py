"""CSRF protection: every form carries an HMAC token that only this process can make.

A page from elsewhere can make an analyst's browser POST to the console, but it
cannot read the console's pages, so it cannot know a token. The key is made at
start (per process): restarting the console invalidates open forms, which is fine.
A token is bound to the path its form posts to and expires after ``max_age_s``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

FIELD = "csrf"
"""Name of the hidden form field carrying the token."""


class CsrfSigner:
    """Makes and checks form tokens: ``<issued epoch s>.<hex HMAC-SHA256 of "issued:path">``.

    >>> signer = CsrfSigner(b"k" * 32, clock=lambda: 1000.0)
    >>> token = signer.token("/alerts/A/status")
    >>> signer.valid(token, "/alerts/A/status"), signer.valid(token, "/alerts/B/status"), signer.valid(None, "/")
    (True, False, False)
    >>> CsrfSigner(b"k" * 32, clock=lambda: 1000.0 + 13 * 3600).valid(token, "/alerts/A/status")
    False
    """

    def __init__(self, key: bytes | None = None, *, max_age_s: float = 12 * 3600,
                 clock: Callable[[], float] = time.time) -> None:
        self._key = key or secrets.token_bytes(32)
        self.max_age_s = max_age_s
        self._clock = clock

    def _mac(self, issued: str, path: str) -> str:
        return hmac.new(self._key, f"{issued}:{path}".encode(), hashlib.sha256).hexdigest()

    def token(self, path: str) -> str:
        """A fresh token for a form that posts to ``path``."""
        issued = str(int(self._clock()))
        return f"{issued}.{self._mac(issued, path)}"

    def valid(self, token: str | None, path: str) -> bool:
        """Whether ``token`` was made here, for ``path``, and has not expired."""
        issued, _, mac = (token or "").partition(".")
        if not issued.isdigit() or not hmac.compare_digest(mac, self._mac(issued, path)):
            return False
        return 0 <= self._clock() - int(issued) <= self.max_age_s
