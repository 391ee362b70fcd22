"""``serve``: the bind rule (no token, no listening beyond loopback), and what it hands to uvicorn."""

from __future__ import annotations

import io

import pytest
from starlette.testclient import TestClient

from detector.console import server
from detector.console import serve
from detector.settings import Settings


@pytest.fixture
def started(monkeypatch) -> list[dict]:
    """Records each uvicorn.run call instead of listening."""
    calls: list[dict] = []
    monkeypatch.setattr(server.uvicorn, "run", lambda app, **options: calls.append({"app": app, **options}))
    return calls


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "console.internal"])
def test_refuses_to_listen_beyond_loopback_without_a_token(host, tmp_path, started) -> None:
    err = io.StringIO()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", console_token=None)
    assert serve(settings, host=host, port=8686, err=err) != 0
    assert started == []
    message = err.getvalue()
    assert message.count("\n") == 1 and "INVDET_CONSOLE_TOKEN" in message and host in message


def test_beyond_loopback_with_a_token_the_app_requires_it(tmp_path, started) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", console_token="tok-123")
    assert serve(settings, host="0.0.0.0", port=9999, err=io.StringIO()) == 0
    (call,) = started
    assert (call["host"], call["port"]) == ("0.0.0.0", 9999)
    with TestClient(call["app"], base_url="http://console.internal:9999") as remote:
        assert remote.get("/").status_code == 401
        assert remote.get("/", headers={"Authorization": "Bearer tok-123"}).status_code == 200


def test_loopback_is_the_default_and_needs_no_token(tmp_path, started) -> None:
    assert serve(Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}"), err=io.StringIO()) == 0
    assert started[0]["host"] == "127.0.0.1" and started[0]["port"] == 8686


def test_a_bad_database_is_one_line_and_no_start(tmp_path, started) -> None:
    err = io.StringIO()
    settings = Settings(database_url="postgresql+asyncpg://nobody@localhost/none")
    assert serve(settings, err=err) != 0
    assert started == [] and err.getvalue().startswith("console: ") and err.getvalue().count("\n") == 1
