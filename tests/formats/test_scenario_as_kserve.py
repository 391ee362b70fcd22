"""A simulated scenario replayed as KServe logger CloudEvents alerts the same attackers as its native events."""

from __future__ import annotations

from pathlib import Path

import orjson

from detector.commands.replay import replay
from detector.db.alert_store import AlertFilter, AlertStore
from detector.db.engine import make_engine
from detector.settings import Settings
from detector.simulator import write_scenario
from detector.simulator.kserve_logger import CLIENT_ID_HEADER, write_kserve


def alerted(events: Path, database: Path, **values: object) -> set[tuple[str, str]]:
    url = f"sqlite:///{database}"
    summary, _ = replay([str(events)], Settings(database_url=url, **values), progress=False)
    assert not summary.dead_letters, summary.dead_letters
    engine = make_engine(url)
    try:
        return {(row.model_id, row.client_id) for row in AlertStore(engine).list(AlertFilter(limit=10_000))}
    finally:
        engine.dispose()


def test_the_tiny_scenario_as_cloudevents_alerts_the_same_clients(tmp_path: Path) -> None:
    events, truth = write_scenario("tiny", tmp_path, seed=3)
    logged = write_kserve(events, seed=3)
    lines = logged.read_bytes().splitlines()
    assert len(lines) == 2 * len(events.read_bytes().splitlines())
    first_halves = {}
    for text in lines:
        first_halves.setdefault(orjson.loads(text)["id"], orjson.loads(text)["type"])
    assert "org.kubeflow.serving.inference.response" in first_halves.values(), "some responses come first"

    attackers = {(t["model_id"], t["client_id"]) for t in map(orjson.loads, truth.read_bytes().splitlines()) if t["attack"]}
    native = alerted(events, tmp_path / "native.db")
    as_kserve = alerted(logged, tmp_path / "kserve.db", input_format="kserve", client_id_header=CLIENT_ID_HEADER)
    assert attackers and attackers <= native, "the scenario's attackers are alerted natively"
    assert as_kserve == native
