"""The client id of a logged prediction: a request header, stored as it is or as a keyed hash.

KServe's logger records the request headers listed in ``metadataHeaders`` (a JSON object of header
name to a list of values); servers that log OIP pairs may record theirs as an object of name to
value. An API key is a secret: with a hash key, the detector stores ``hmac:<32 hex digits>`` (the
first 128 bits of HMAC-SHA256 over the header value) instead, stable for one key, so alerts still
name one client per key without the key itself reaching the database, the console or the webhook.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from detector.formats.rejected import FormatError

HASH_PREFIX = "hmac:"


class ClientIdentity:
    """Reads the client id from logged headers (names compared case-insensitively).

    >>> ClientIdentity("X-Api-Key").from_headers({"x-api-key": ["key_7f3a"]})
    'key_7f3a'
    >>> ClientIdentity("X-Api-Key", hash_key="k").from_headers({"X-Api-Key": "key_7f3a"})
    'hmac:0616e29d1306a9418b55c915f6a4f955'
    >>> ClientIdentity("X-Api-Key").from_headers({"User-Agent": "curl"})
    Traceback (most recent call last):
    ...
    detector.formats.rejected.FormatError: no X-Api-Key header among the logged headers (User-Agent)
    """

    def __init__(self, header: str | None, hash_key: str | None = None) -> None:
        self.header = header or None
        self.hash_key = hash_key.encode("utf-8") if hash_key else None

    def stored(self, value: str) -> str:
        """What is kept for a header value: the value, or its keyed hash."""
        if self.hash_key is None:
            return value
        return HASH_PREFIX + hmac.new(self.hash_key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def from_headers(self, headers: Mapping[str, object]) -> str:
        """The client id from logged headers; raises :class:`FormatError` (``no_client_id``) without one."""
        if self.header is None:
            raise FormatError("no_client_id", "no client-id header is configured (INVDET_CLIENT_ID_HEADER)")
        value = logged_header(headers, self.header)
        if value is None:
            logged = ", ".join(sorted(str(name) for name in headers)) or "none"
            raise FormatError("no_client_id", f"no {self.header} header among the logged headers ({logged})")
        return self.stored(value)


def logged_header(headers: Mapping[str, object], name: str) -> str | None:
    """A logged header's value (the first of a list), looked up case-insensitively; None when it is
    absent, empty or not text.

    >>> logged_header({"User-Agent": ["curl/8", "x"]}, "user-agent"), logged_header({"A": 1}, "a")
    ('curl/8', None)
    """
    wanted = name.lower()
    for logged, value in headers.items():
        if isinstance(logged, str) and logged.lower() == wanted:
            if isinstance(value, list):
                value = value[0] if value else None
            return value if isinstance(value, str) and value else None
    return None
