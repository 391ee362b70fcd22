"""The console's safety rules: access, CSRF, security headers, escaping of attacker-controlled strings."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from detector.alert import Reason
from detector.console import create_app
from detector.console.headers import SECURITY_HEADERS
from detector.evidence import Evidence, Series
from tests.console.conftest import HOSTILE, T0, csrf_token, listed

TOKEN = "s3cret-console-token"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def guarded(store):
    with TestClient(create_app(store, token=TOKEN), base_url="http://10.0.0.5:8686", follow_redirects=False) as c:
        yield c


def test_with_a_token_every_request_must_present_it(guarded, write) -> None:
    alert = write()
    for path in ("/", f"/alerts/{alert.alert_id}", "/clients/key_7f3a", "/static/console.css"):
        refused = guarded.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith('Basic realm="inversion-detector console"')
        assert guarded.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert guarded.get(path, headers=basic("ana", "wrong")).status_code == 401
        assert guarded.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200, path
        assert guarded.get(path, headers=basic("ana", TOKEN)).status_code == 200, path


def test_without_a_token_only_a_loopback_host_name_is_served(store) -> None:
    app = create_app(store)
    for base in ("http://127.0.0.1:8686", "http://localhost:8686", "http://[::1]:8686"):
        with TestClient(app, base_url=base) as local:
            assert local.get("/").status_code == 200, base
    # a page whose DNS name was rebound to 127.0.0.1 still sends its own name
    with TestClient(app, base_url="http://attacker.example:8686") as rebound:
        assert rebound.get("/").status_code == 403


def test_a_post_without_or_with_a_wrong_csrf_token_is_403_and_changes_nothing(client, write, store) -> None:
    alert = write()
    other = write(client_id="key_other")
    status_action = f"/alerts/{alert.alert_id}/status"
    redeliver_action = f"/alerts/{alert.alert_id}/redeliver"
    page = client.get(f"/alerts/{alert.alert_id}").text
    good = csrf_token(page, status_action)
    issued, _, mac = good.partition(".")
    forged = [None, "", "garbage", f"{issued}.{'0' * len(mac)}", f"{int(issued) + 1}.{mac}"]
    # genuine tokens, but for another form
    elsewhere = {
        status_action: [
            csrf_token(page, redeliver_action),
            csrf_token(client.get(f"/alerts/{other.alert_id}").text, f"/alerts/{other.alert_id}/status"),
        ],
        redeliver_action: [good],
    }
    for action, wrong in elsewhere.items():
        for token in forged + wrong:
            data = {"status": "resolved", "note": "x"} | ({} if token is None else {"csrf": token})
            refused = client.post(action, data=data)
            assert refused.status_code == 403, (action, token)
            assert "reload the page" in refused.text
    assert store.get(alert.alert_id).status == "open"
    assert store.deliveries(alert.alert_id) == []
    # a token from another console process (another key) is no good either
    with TestClient(create_app(store), base_url="http://127.0.0.1") as restarted:
        assert restarted.post(status_action, data={"csrf": good, "status": "resolved"}).status_code == 403
    assert client.post(status_action, data={"csrf": good, "status": "resolved"}).status_code == 303


def test_state_changes_only_by_post(client, write, store) -> None:
    alert = write()
    assert client.get(f"/alerts/{alert.alert_id}/status?status=resolved").status_code == 405
    assert client.get(f"/alerts/{alert.alert_id}/redeliver").status_code == 405
    assert client.post("/", data={}).status_code == 405
    assert store.get(alert.alert_id).status == "open"


def test_security_headers_on_every_response(client, write, store, guarded) -> None:
    alert = write()
    responses = [
        client.get("/"),
        client.get(f"/alerts/{alert.alert_id}"),
        client.get("/clients/key_7f3a"),
        client.get("/static/console.css"),
        client.get("/static/refresh.js"),
        client.get("/alerts/01JD4V8Q3J6X0M5Y7T2K9W1B3C"),  # 404
        client.get("/?severity=urgent"),  # 400
        client.post(f"/alerts/{alert.alert_id}/status", data={}),  # 403
        guarded.get("/"),  # 401
    ]
    with TestClient(create_app(store), base_url="http://attacker.example") as rebound:
        responses.append(rebound.get("/"))  # 403 before any route
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.request.url, response.status_code, name)
    assert "'unsafe-inline'" not in SECURITY_HEADERS["Content-Security-Policy"]


def test_pages_carry_no_inline_script_or_style(client, write) -> None:
    alert = write(evidence=Evidence(series={"dist_prev": Series(t=[T0, T0 + 1], y=[0.1, 0.2])}))
    for path in ("/", f"/alerts/{alert.alert_id}", "/clients/key_7f3a"):
        html = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert not re.search(r"<style|\sstyle=|\son\w+=", html), path


def test_hostile_strings_render_as_text_everywhere(client, write, store) -> None:
    script, attribute = HOSTILE
    member = script + "/../x?y#z"  # a member id that is also a path, query and fragment
    write(client_id=member, model_id=attribute, detector="rule:" + script, related_clients=[script], group_id="g1",
          evidence=Evidence(series={"query_rate": Series(t=[T0 + 0.2, T0 + 0.9], y=[1.0, 1.0])}))
    alert = write(
        client_id=script,
        model_id=attribute,
        detector="rule:" + script,
        summary=f"{script}: probing {attribute}",
        trigger_event_id=attribute,
        reasons=[Reason(feature=attribute, value=1.0, op=">", threshold=0.5)],
        features={script: 1.0, attribute: 2.0},
        evidence_event_ids=[script],
        evidence=Evidence(series={"query_rate": Series(t=[T0, T0 + 1], y=[1.0, 2.0])}, group={attribute: [T0 + 0.7]}),
        related_clients=[attribute, member],
        group_id="g1",
    )
    action = f"/alerts/{alert.alert_id}/status"
    client.post(action, data={"csrf": csrf_token(client.get(f"/alerts/{alert.alert_id}").text, action),
                              "status": "acknowledged", "note": f"{attribute} {script}"})
    assert store.get(alert.alert_id).status == "acknowledged"
    pages = {
        "queue": client.get("/"),
        "filtered queue": client.get("/", params={"client": script, "model": attribute, "detector": "rule:" + script}),
        "alert": client.get(f"/alerts/{alert.alert_id}"),
        "client": client.get("/clients/" + quote(script, safe="")),
        "error": client.get("/alerts/" + quote(attribute, safe="")),
    }
    for name, page in pages.items():
        html = page.text
        assert page.status_code in (200, 404), name
        assert "<script>alert" not in html and "<img src=x" not in html, name
        assert "onerror=alert(1)>" not in html.replace("onerror=alert(1)&gt;", ""), name
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "&#34;&gt;&lt;img src=x" in html, name
    alert_html = pages["alert"].text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in alert_html  # model id, as text
    assert alert_html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6  # client, summary, note, features, group plot...
    links = re.findall(r'<a class="member-link" href="([^"]*)">([^<]*)</a>', alert_html)
    assert [href for href, _ in links] == ["/clients/" + quote(m, safe="") for m in sorted([attribute, member])]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;/../x?y#z" in dict(links).values()
    for href, _ in links:  # each member's link opens that member's client page
        assert client.get(href).status_code in (200, 404)
    assert client.get(links[1][0]).status_code == 200 and listed(client.get(links[1][0]).text)
    rows = re.findall(r'<g class="group-row[^"]*"><title>([^<]*)</title>', alert_html)
    assert len(rows) == 3 and "&lt;script&gt;alert(1)&lt;/script&gt;/../x?y#z" in rows  # times from its own alert
    assert listed(pages["filtered queue"].text) == [alert.alert_id]
    assert listed(pages["client"].text) == [alert.alert_id]

