"""Who may use the console: anyone on this machine, or, with a token, whoever presents it.

Without a token the console serves only requests addressed to a loopback host
name, so a web page that rebinds its DNS name to 127.0.0.1 still cannot read
alerts. With a token every request must carry it, as ``Authorization: Bearer
<token>`` or as the password of HTTP Basic (any user name), which browsers ask for.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

REALM = "inversion-detector console"


def is_loopback(host: str) -> bool:
    """Whether a bind address or Host header (port allowed) names this machine only.

    >>> [is_loopback(h) for h in ("127.0.0.1", "localhost:8686", "[::1]:8686", "::1", "0.0.0.0", "example.org")]
    [True, True, True, True, False, False]
    """
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def presented_token(authorization: str) -> str | None:
    """The token in an ``Authorization`` header: a Bearer token or a Basic password.

    >>> presented_token("Bearer s3cret"), presented_token("Basic " + base64.b64encode(b"ana:s3cret").decode())
    ('s3cret', 's3cret')
    >>> presented_token("Basic !!!") is None
    True
    """
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


class AccessGuard:
    """ASGI middleware applying the rule above before any route runs."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allowed(Headers(scope=scope)):
            if self.token is None:
                response = PlainTextResponse("this console answers only to a loopback host name\n", status_code=403)
            else:
                response = PlainTextResponse(
                    "sign in with the console token\n",
                    status_code=401,
                    headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
                )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def allowed(self, headers: Headers) -> bool:
        if self.token is None:
            return is_loopback(headers.get("host", ""))
        given = presented_token(headers.get("authorization", ""))
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())
