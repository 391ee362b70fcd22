"""The console in a real browser: headless Chromium (Debian's) driven by Playwright.

The console runs with uvicorn in a background thread on a loopback port, over a
store into which the simulator's ``tiny`` attack scenario was replayed through the
real pipeline, plus one alert with hostile strings. The browser opens the queue,
opens the replayed alert, sees its evidence plots, acknowledges it with a note,
and the database shows it; the alert page's screenshot is kept (pytest's temporary
folder) and published as ``docs/console-alert.png`` for the README.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from detector.commands.replay import replay
from detector.console import create_app
from detector.db.alert_store import AlertFilter, AlertStore
from detector.settings import Settings
from detector.simulator import write_scenario
from tests.console.conftest import HOSTILE, T0, AlertWriter, walk_evidence

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console-alert.png"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt-get when missing (package lists refreshed if the first try fails);
    an install that still fails fails the test, loudly."""
    if not CHROMIUM.exists():
        install = apt_get("install", "-y", "chromium")
        if install.returncode != 0:
            apt_get("update")
            install = apt_get("install", "-y", "chromium")
        if install.returncode != 0 or not CHROMIUM.exists():
            pytest.fail(f"apt-get install -y chromium failed ({install.returncode}):\n{install.stdout[-2000:]}\n"
                        f"{install.stderr[-2000:]}")
    return CHROMIUM


def apt_get(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["apt-get", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def serve_console() -> Iterator[Callable[..., str]]:
    """Starts the console over a store, served by uvicorn on a free loopback port until the test ends; its URL."""
    servers: list[tuple[uvicorn.Server, threading.Thread, socket.socket]] = []

    def start(store: AlertStore, refresh_s: int = 30) -> str:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(store, refresh_s=refresh_s), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        servers.append((server, thread, listener))
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the console did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for server, thread, listener in servers:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def test_the_queue_reloads_itself_with_a_served_script(page: Page, serve_console, store: AlertStore,
                                                       write: AlertWriter) -> None:
    """The CSP forbids inline script: a new alert still shows without a click, through ``refresh.js``."""
    first = write(client_id="key_1")
    page.goto(serve_console(store, refresh_s=1) + "/")
    expect(page.locator(f'tr[data-alert-id="{first.alert_id}"]')).to_be_visible()
    later = write(client_id="key_2")
    expect(page.locator(f'tr[data-alert-id="{later.alert_id}"]')).to_be_visible(timeout=5000)


def test_analyst_opens_the_alert_sees_the_evidence_and_acknowledges_it(
    page: Page, serve_console, store: AlertStore, write: AlertWriter, tmp_path: Path
) -> None:
    events, _ = write_scenario("tiny", tmp_path / "traffic", seed=0)
    replay([str(events)], Settings(database_url=store.engine.url.render_as_string(hide_password=False)),
           progress=False)
    replayed = store.list(AlertFilter())
    assert replayed, "the tiny scenario raised no alert"
    alert = replayed[0]
    evidence = store.evidence(alert.alert_id)
    assert evidence is not None and evidence.series
    shown = len(evidence.series) + (1 if evidence.group else 0)
    script, attribute = HOSTILE
    write(client_id=script, model_id=attribute, severity="medium", summary=f"{script} {attribute}",
          related_clients=[attribute], group_id="g-hostile")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None)

    console_url = serve_console(store)
    page.goto(console_url + "/")
    rows = page.locator("tr.alert-row")
    expect(rows).to_have_count(len(replayed) + 1)
    expect(page.get_by_text(script, exact=True).first).to_be_visible()  # the hostile id shows as text

    page.locator(f'tr[data-alert-id="{alert.alert_id}"] a.alert-link').click()
    expect(page).to_have_url(f"{console_url}/alerts/{alert.alert_id}")
    plots = page.locator("svg.plot")
    expect(plots).to_have_count(shown)
    for name in evidence.series:
        plot = page.locator(f'svg.plot[data-series="{name}"]')
        box = plot.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100, name
        assert plot.locator("path.series-line").count() == 1, name

    page.locator("#note").fill("automated querying confirmed; key owner contacted")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("h1 .status")).to_have_text("acknowledged")
    expect(page.locator("td.note-text").last).to_have_text("automated querying confirmed; key owner contacted")
    assert store.get(alert.alert_id).status == "acknowledged"
    last = store.history(alert.alert_id)[-1]
    assert (last.to_status, last.note) == ("acknowledged", "automated querying confirmed; key owner contacted")

    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(tmp_path / "console-alert.png"), full_page=True)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    shutil.copyfile(tmp_path / "console-alert.png", SCREENSHOT)
    assert dialogs == [] and blocked == []


def test_a_group_alert_plots_its_members_on_one_time_axis_and_links_each(
    page: Page, serve_console, store: AlertStore, write: AlertWriter
) -> None:
    """Members with attacker-chosen ids: listed as text, each a link to its client page, each a row of the plot."""
    script, attribute = HOSTILE
    members = sorted([script, attribute, "key_3"])
    write(client_id="key_3", related_clients=["key_1"], group_id="g1", evidence=walk_evidence(10))
    alert = write(client_id="key_1", related_clients=members, group_id="g1", detector="rule:split-probing",
                  evidence=walk_evidence(group={script: [T0 + 1.0, T0 + 3.0], attribute: [T0 + 2.0]}))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    console_url = serve_console(store)
    page.goto(f"{console_url}/alerts/{alert.alert_id}")
    expect(page.locator("a.member-link")).to_have_text(members)
    plot = page.locator('svg.plot[data-series="group"]')
    expect(plot).to_be_visible()
    box = plot.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 80
    expect(plot.locator("g.group-row")).to_have_count(4)
    expect(plot.locator("g.group-row.alerted text.row-label")).to_have_text("key_1")
    marks = [plot.locator("g.group-row path.row-marks").nth(i).get_attribute("d") for i in range(4)]
    assert all(m and m.startswith("M") for m in marks), "every member's queries are drawn (key_3's from its own alert)"
    page.locator("a.member-link", has_text=script).click()
    expect(page).to_have_url(f"{console_url}/clients/{quote(script, safe='')}")
    expect(page.locator("#client-id")).to_have_text(script)
    assert dialogs == []
