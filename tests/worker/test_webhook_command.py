"""``inversion-detector webhook`` delivers the outbox on its own and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from detector.db.alert_store import AlertFilter, AlertStore
from detector.db.engine import make_engine
from detector.db.migrate import ensure_schema
from detector.webhook.signing import verify
from tests.services import poll_until
from tests.worker.harness import ROOT, WebhookReceiver, queue_alerts


def test_the_standalone_dispatcher_delivers_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    alert_ids = sorted(queue_alerts(engine, 3))
    receiver = WebhookReceiver()
    receiver.listen()
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "INVDET_DATABASE_URL": url,
           "INVDET_WEBHOOK_URL": receiver.url, "INVDET_WEBHOOK_SECRET": "s3cret", "INVDET_WEBHOOK_POLL_S": "0.1",
           "INVDET_METRICS_PORT": "0"}  # fmt: skip
    log = tmp_path / "webhook.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "detector", "webhook"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=ROOT)  # fmt: skip
    try:
        poll_until(lambda: len(receiver.accepted()) == 3, timeout=30, what="three deliveries")
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        receiver.close()
    assert sorted(r.alert_id for r in receiver.accepted()) == alert_ids
    assert all(verify(r.body, "s3cret", r.signature) for r in receiver.accepted())
    assert [r.delivery for r in AlertStore(engine).list(AlertFilter())] == ["delivered"] * 3
    assert "s3cret" not in log.read_text()
    engine.dispose()
