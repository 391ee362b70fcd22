"""The webhook signature: ``X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``.

Receivers recompute the HMAC over the exact bytes they received, with the
shared secret, and compare in constant time (:func:`verify`).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Signature-256"


def sign(body: bytes, secret: str) -> str:
    """The header value for ``body``.

    >>> sign(b'{"alert_id": "01JD"}', "s3cret")
    'sha256=d0a05cf7d179fe52c5d121b9e4759d1b1687e8e504ef0a1ec3deaa68ed84c8cf'
    """
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header_value: str | None) -> bool:
    """Whether ``header_value`` is the signature of ``body`` under ``secret`` (constant-time).

    >>> body = b'{"alert_id": "01JD"}'
    >>> verify(body, "s3cret", sign(body, "s3cret")), verify(body + b" ", "s3cret", sign(body, "s3cret"))
    (True, False)
    >>> verify(body, "s3cret", None)
    False
    """
    return header_value is not None and hmac.compare_digest(sign(body, secret), header_value)
