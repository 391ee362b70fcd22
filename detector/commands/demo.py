"""``inversion-detector demo``: simulated traffic through the real pipeline on embedded defaults."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import orjson

from detector.commands.alerts import list_alerts
from detector.commands.replay import print_summary, replay
from detector.commands.terminal import table
from detector.db.alert_store import AlertFilter, AlertStore
from detector.db.engine import make_engine
from detector.settings import Settings
from detector.simulator import write_scenario


def score_against_truth(truth_path: Path, alerted: set[tuple[str, str]]) -> list[list[object]]:
    """Rows of (kind, attack?, clients, clients alerted, share) from the ground-truth file."""
    per_kind: dict[tuple[str, bool], list[int]] = {}
    with open(truth_path, "rb") as lines:
        for line in lines:
            truth = orjson.loads(line)
            counts = per_kind.setdefault((truth["kind"], truth["attack"]), [0, 0])
            counts[0] += 1
            counts[1] += (truth["model_id"], truth["client_id"]) in alerted
    return [
        [kind, "attack" if attack else "benign", n, hit, f"{hit / n:.0%}"]
        for (kind, attack), (n, hit) in sorted(per_kind.items(), key=lambda item: (not item[0][1], item[0][0]))
    ]


def demo(out_dir: str, seed: int, settings: Settings, out: TextIO | None = None) -> int:
    """Simulate, replay into a fresh SQLite file under ``out_dir``, and show what was caught."""
    out = out or sys.stdout
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    out.write(f"simulating benign clients and attackers into {folder}/ ...\n")
    events, truth = write_scenario("demo", folder, seed=seed)
    database = folder / "alerts.db"
    for stale in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    settings = settings.model_copy(update={"database_url": url})
    out.write(f"replaying {events} through the detector ...\n")
    summary, dead_letters = replay([str(events)], settings)
    print_summary(summary, [str(p) for p in dead_letters.paths.values()], out)

    store = AlertStore(make_engine(url))
    rows = store.list(AlertFilter(limit=10_000))
    alerted = {(row.model_id, row.client_id) for row in rows}
    out.write("\nclients alerted, by kind (ground truth from the simulator)\n")
    out.write(table(["kind", "traffic", "clients", "alerted", "share"], score_against_truth(truth, alerted)) + "\n\n")
    list_alerts(store, AlertFilter(limit=20), out)
    if rows:
        out.write(f"\ninspect one:  inversion-detector alerts show {rows[0].alert_id} --database-url {url}\n")
    out.write(f"triage them in the browser:  inversion-detector console --database-url {url}\n")
    store.engine.dispose()
    return 0
