"""The console's pages and actions over a real SQLite store, through Starlette's test client."""

from __future__ import annotations

import re
from urllib.parse import quote

from detector.console.queue_query import PAGE_SIZE
from detector.db.alert_store import AlertFilter
from tests.console.conftest import T0, csrf_token, listed, walk_evidence


def test_queue_lists_newest_first_with_counts_per_severity_and_refresh(client, write) -> None:
    first = write(severity="low")
    second = write(severity="critical")
    third = write(severity="critical")
    page = client.get("/")
    assert page.status_code == 200
    assert listed(page.text) == [third.alert_id, second.alert_id, first.alert_id]
    counts = dict(re.findall(r'data-severity="(\w+)">(\d+)<', page.text))
    assert counts == {"critical": "2", "high": "0", "medium": "0", "low": "1", "info": "0"}
    assert 'data-refresh="30"' in page.text and 'src="/static/refresh.js"' in page.text
    script = client.get("/static/refresh.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "location.reload" in script.text


def test_queue_filters_by_every_field(client, write, store) -> None:
    target = write(client_id="key_a", model_id="m1", detector="rule:a", severity="medium")
    write(client_id="key_b", model_id="m1", detector="rule:a", severity="medium")
    write(client_id="key_a", model_id="m2", detector="rule:a", severity="medium")
    write(client_id="key_a", model_id="m1", detector="rule:b", severity="medium")
    write(client_id="key_a", model_id="m1", detector="rule:a", severity="high")
    closed = write(client_id="key_a", model_id="m1", detector="rule:a", severity="medium")
    store.set_status(closed.alert_id, "resolved")
    page = client.get("/", params={"client": "key_a", "model": "m1", "detector": "rule:a",
                                   "severity": "medium", "status": "open"})
    assert listed(page.text) == [target.alert_id]
    assert listed(client.get("/", params={"status": "resolved"}).text) == [closed.alert_id]
    # created-since, given as a datetime-local input sends it (UTC): the first alert was created at 05:00:01
    assert len(listed(client.get("/", params={"since": "2026-11-22T05:00:03"}).text)) == 4
    # the detector filter offers every detector that raised an alert
    assert re.findall(r'<option value="(rule:\w)"', client.get("/").text) == ["rule:a", "rule:b"]
    # counts per severity follow the other filters but not the severity filter itself
    counts = dict(re.findall(r'data-severity="(\w+)">(\d+)<', page.text))
    assert counts["medium"] == "1" and counts["high"] == "1"


def test_queue_sorts_by_severity_and_score(client, write) -> None:
    low = write(severity="low", score=0.9)
    critical = write(severity="critical", score=0.2)
    medium = write(severity="medium", score=0.5)
    assert listed(client.get("/?sort=severity").text) == [critical.alert_id, medium.alert_id, low.alert_id]
    assert listed(client.get("/?sort=score").text) == [low.alert_id, medium.alert_id, critical.alert_id]


def test_queue_pages_through_every_alert_once(client, write) -> None:
    written = [write(client_id=f"key_{i}").alert_id for i in range(PAGE_SIZE + 7)]
    first = client.get("/")
    assert f"page 1 of 2 · {PAGE_SIZE + 7} alerts" in first.text
    assert 'rel="next" href="/?page=2"' in first.text and 'rel="prev"' not in first.text
    second = client.get("/?page=2")
    assert 'rel="prev" href="/"' in second.text and 'rel="next"' not in second.text
    shown = listed(first.text) + listed(second.text)
    assert len(listed(first.text)) == PAGE_SIZE
    assert shown == list(reversed(written))


def test_queue_rejects_a_bad_query_with_400(client, write) -> None:
    for query in ("severity=urgent", "since=yesterday", "page=0", "sort=client"):
        page = client.get("/?" + query)
        assert page.status_code == 400, query
        assert "bad queue query" in page.text


def test_alert_page_shows_summary_reasons_features_plots_history_and_webhook(client, write) -> None:
    alert = write(evidence=walk_evidence(group={"key_other": [1_795_312_008.5, 1_795_312_009.0]}), webhook=True)
    page = client.get(f"/alerts/{alert.alert_id}")
    assert page.status_code == 200
    html = page.text
    assert alert.summary.replace(">", "&gt;") in html
    assert re.search(r"target_confidence_slope</td><td class=\"num\">0.02</td><td class=\"op\">&gt;</td>"
                     r"<td class=\"num\">0.005</td>", html)
    assert re.search(r'rate_60s</td><td class="num">240</td>', html)
    series = re.findall(r'<svg class="plot" data-series="(\w+)"', html)
    assert series == ["target_confidence", "dist_prev", "nn_distance", "query_rate", "group"]
    assert "(1 at zero, drawn on the axis)" in html  # the first dist_prev is 0 on a log scale
    assert "key_other" in html
    assert re.search(r"<td>– → open</td><td class=\"note-text\">raised</td>", html)
    assert '<td class="delivery-state">pending</td>' in html


def test_a_group_alert_lists_its_members_and_plots_them_on_one_time_axis(client, write) -> None:
    """key_b's state sat beside key_a's (its times are in key_a's evidence); key_c was seen elsewhere
    and raised its own alert in the group; key_d raised none and is not in the evidence."""
    other = write(client_id="key_c", related_clients=["key_a"], group_id="g7", evidence=walk_evidence(12))
    alert = write(client_id="key_a", related_clients=["key_d", "key_c", "key_b"], group_id="g7",
                  evidence=walk_evidence(group={"key_b": [T0 + 1.0, T0 + 2.0]}))
    write(client_id="key_e")  # not in the group
    html = client.get(f"/alerts/{alert.alert_id}").text
    members = re.findall(r'<tr class="member"><td class="id"><a class="member-link" href="([^"]+)">([^<]+)</a></td>'
                         r'<td>(.*?)</td></tr>', html)
    assert [(href, name) for href, name, _ in members] == [(f"/clients/{k}", k) for k in ("key_b", "key_c", "key_d")]
    assert [cell for _, name, cell in members if "href" in cell] == [f'<a href="/alerts/{other.alert_id}">{other.alert_id}</a>']
    assert '<a id="group-link" href="/?group=g7">g7</a> (4 clients, 2 alerts)' in html
    assert listed(client.get("/?group=g7").text) == [alert.alert_id, other.alert_id]
    rows = re.findall(r'<g class="group-row( alerted)?"><title>(\w+)</title>.*?<path class="row-marks" d="([^"]*)"/>', html)
    marks = {name: d.count("M") for _, name, d in rows}
    assert marks == {"key_a": 40, "key_b": 2, "key_c": 12, "key_d": 0}
    assert [name for alerted, name, _ in rows if alerted] == ["key_a"]
    assert client.get("/clients/key_b").status_code == 404  # a member with no alert of its own: an empty client page


def test_alert_page_by_unique_prefix_redirects_and_unknown_is_404(client, write) -> None:
    alert = write()
    moved = client.get(f"/alerts/{alert.alert_id[:20]}")
    assert moved.status_code == 303 and moved.headers["location"] == f"/alerts/{alert.alert_id}"
    missing = client.get("/alerts/01JD4V8Q3J6X0M5Y7T2K9W1B3C")
    assert missing.status_code == 404 and "no alert" in missing.text


def test_status_change_with_note_is_visible_through_the_store(client, write, store) -> None:
    alert = write()
    action = f"/alerts/{alert.alert_id}/status"
    token = csrf_token(client.get(f"/alerts/{alert.alert_id}").text, action)
    done = client.post(action, data={"csrf": token, "status": "false_positive", "note": "load test by the QA team"})
    assert done.status_code == 303 and done.headers["location"] == f"/alerts/{alert.alert_id}"
    assert store.get(alert.alert_id).status == "false_positive"
    last = store.history(alert.alert_id)[-1]
    assert (last.from_status, last.to_status, last.note) == ("open", "false_positive", "load test by the QA team")
    assert [r.alert_id for r in store.list(AlertFilter(status="false_positive"))] == [alert.alert_id]
    page = client.get(done.headers["location"]).text
    assert "load test by the QA team" in page
    assert re.search(r'<button type="submit" name="status" value="false_positive" disabled>', page)


def test_a_status_change_made_elsewhere_shows_in_the_console(client, write, store) -> None:
    alert = write()
    store.set_status(alert.alert_id, "resolved", "key revoked")
    assert listed(client.get("/?status=resolved").text) == [alert.alert_id]
    assert "key revoked" in client.get(f"/alerts/{alert.alert_id}").text


def test_an_unknown_status_or_an_overlong_note_is_400(client, write, store) -> None:
    alert = write()
    action = f"/alerts/{alert.alert_id}/status"
    token = csrf_token(client.get(f"/alerts/{alert.alert_id}").text, action)
    assert client.post(action, data={"csrf": token, "status": "open"}).status_code == 400
    assert client.post(action, data={"csrf": token, "status": "resolved", "note": "x" * 2001}).status_code == 400
    assert store.get(alert.alert_id).status == "open"


def test_redeliver_queues_the_alert_for_the_webhook(client, write, store) -> None:
    alert = write(webhook=False)
    page = client.get(f"/alerts/{alert.alert_id}").text
    assert "Not queued for the webhook." in page
    action = f"/alerts/{alert.alert_id}/redeliver"
    assert client.post(action, data={"csrf": csrf_token(page, action)}).status_code == 303
    assert [d.state for d in store.deliveries(alert.alert_id)] == ["pending"]
    assert '<td class="delivery-state">pending</td>' in client.get(f"/alerts/{alert.alert_id}").text


def test_client_page_lists_every_model_and_the_newest_features_of_each(client, write) -> None:
    client_id = "team/a b?c#d"
    old = write(client_id=client_id, model_id="m1", features={"rate_60s": 10.0})
    new = write(client_id=client_id, model_id="m1", features={"rate_60s": 99.0})
    other = write(client_id=client_id, model_id="m2", features={"entropy": 0.5})
    write(client_id="someone-else", model_id="m1")
    page = client.get("/clients/" + quote(client_id, safe=""))
    assert page.status_code == 200
    assert listed(page.text) == [other.alert_id, new.alert_id, old.alert_id]
    assert "3 alerts across 2 models" in page.text
    stats = re.findall(r'<td class="id">(\w+)</td><td class="num">([\d.]+)</td>', page.text)
    assert stats == [("entropy", "0.5"), ("rate_60s", "99")]
    # the queue links to the client page with the id encoded
    assert f'href="/clients/{quote(client_id, safe="")}"' in client.get("/").text
    assert client.get("/clients/nobody").status_code == 404
