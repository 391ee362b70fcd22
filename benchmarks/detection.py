"""Detection quality on the simulator's scenarios, through the real replay pipeline.

Per attack kind: the share of attacking clients alerted (for split attacks,
the share of groups found and named), the median and 90th percentile of the
client's queries before its first alert, and for inversion the target-class
confidence at the first alert versus at the end. Per benign kind: the share
of clients alerted (client-level false-positive rate), and alerts per 1,000
benign events. Which detectors fired, per kind, helps calibration.

    python -m benchmarks.detection                      # standard and careful
    python -m benchmarks.detection --scenarios tiny     # a quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from detector.commands.replay import replay
from detector.runner import RunSummary
from detector.commands.terminal import table
from detector.db.alert_store import AlertStore
from detector.db.engine import make_engine
from detector.settings import Settings
from detector.simulator import write_scenario

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class ClientRecord:
    """One client's truth, its event ids in order, and (inversion) its target confidence per event."""

    truth: dict
    order: dict[str, int] = field(default_factory=dict)
    target_confidence: list[float] = field(default_factory=list)
    first_alert_index: int | None = None
    detectors: set[str] = field(default_factory=set)
    named_clients: set[str] = field(default_factory=set)


def load_clients(events_path: Path, truth_path: Path) -> dict[tuple[str, str], ClientRecord]:
    clients = {}
    for line in truth_path.read_bytes().splitlines():
        truth = orjson.loads(line)
        clients[(truth["model_id"], truth["client_id"])] = ClientRecord(truth)
    with open(events_path, "rb") as lines:
        for line in lines:
            event = orjson.loads(line)
            record = clients[(event["model_id"], event["client_id"])]
            record.order[event["event_id"]] = len(record.order)
            target = record.truth["target_class"]
            if target is not None:
                scores = event["output"].get("scores")
                if scores is not None:
                    record.target_confidence.append(scores[target])
                elif event["output"].get("label") == target:
                    record.target_confidence.append(event["output"].get("confidence", float("nan")))
                else:
                    record.target_confidence.append(float("nan"))
    return clients


def attach_alerts(clients: dict[tuple[str, str], ClientRecord], database_url: str) -> int:
    engine = make_engine(database_url)
    count = 0
    for alert in AlertStore(engine).export():
        count += 1
        record = clients.get((alert.model_id, alert.client_id))
        if record is None:
            continue
        record.detectors.add(alert.detector)
        record.named_clients.update(
            name[len("group_client[") : -1] for name in alert.features if name.startswith("group_client[")
        )
        index = record.order.get(alert.trigger_event_id)
        if index is not None and (record.first_alert_index is None or index < record.first_alert_index):
            record.first_alert_index = index
    engine.dispose()
    return count


def percentile(values: list[int], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def attack_rows(clients: dict[tuple[str, str], ClientRecord]) -> list[dict]:
    by_kind: dict[str, list[ClientRecord]] = defaultdict(list)
    for record in clients.values():
        if record.truth["attack"]:
            variant = record.truth["variant"]
            by_kind[f"{record.truth['kind']}/{variant}" if variant else record.truth["kind"]].append(record)
    rows = []
    for kind, records in sorted(by_kind.items()):
        groups: dict[str, list[ClientRecord]] = defaultdict(list)
        for record in records:
            groups[record.truth["group"] or record.truth["client_id"]].append(record)
        found = sum(any(r.first_alert_index is not None for r in members) for members in groups.values())
        named = 0
        for members in groups.values():
            ids = {r.truth["client_id"] for r in members}
            seen = set().union(*(r.named_clients | {r.truth["client_id"]} for r in members if r.first_alert_index is not None))
            named += len(ids) > 1 and len(seen & ids) >= len(ids) / 2
        queries = [r.first_alert_index + 1 for r in records if r.first_alert_index is not None]
        row = {
            "kind": kind,
            "clients": len(records),
            "groups": len(groups),
            "detected": found / len(groups),
            "named": named / len(groups) if any(len(m) > 1 for m in groups.values()) else None,
            "queries_median": percentile(queries, 50),
            "queries_p90": percentile(queries, 90),
            "detectors": dict(Counter(d for r in records for d in r.detectors)),
        }
        gains = []
        for record in records:
            conf = np.array(record.target_confidence, dtype=float)
            known = ~np.isnan(conf)
            if record.first_alert_index is None or not known[: record.first_alert_index + 1].any():
                continue
            start, end = float(conf[known][:10].min()), float(conf[known].max())
            at_alert = np.nanmax(conf[: record.first_alert_index + 1])
            if end - start > 1e-6:
                gains.append((float(at_alert), float(end), float((at_alert - start) / (end - start))))
        if gains:
            row["target_conf_at_alert"] = statistics.median(g[0] for g in gains)
            row["target_conf_at_end"] = statistics.median(g[1] for g in gains)
            row["gain_share_at_alert"] = statistics.median(g[2] for g in gains)
        rows.append(row)
    return rows


def benign_rows(clients: dict[tuple[str, str], ClientRecord]) -> list[dict]:
    by_kind: dict[str, list[ClientRecord]] = defaultdict(list)
    for record in clients.values():
        if not record.truth["attack"]:
            by_kind[record.truth["kind"]].append(record)
    rows = []
    for kind, records in sorted(by_kind.items()) + [("ALL", [r for rs in by_kind.values() for r in rs])]:
        alerted = [r for r in records if r.first_alert_index is not None]
        events = sum(len(r.order) for r in records)
        rows.append(
            {
                "kind": kind,
                "clients": len(records),
                "alerted": len(alerted),
                "fp_rate": len(alerted) / len(records),
                "events": events,
                "alerted_clients_per_1k_events": 1000 * len(alerted) / max(events, 1),
                "detectors": dict(Counter(d for r in alerted for d in r.detectors)),
                "examples": [r.truth["client_id"] for r in alerted[:5]],
            }
        )
    return rows


def fmt(value: object, pattern: str = "{:.0f}") -> str:
    return "-" if value is None else pattern.format(value)


def replay_and_judge(
    events: Path, truth: Path, database: Path, settings: Settings
) -> tuple[RunSummary, dict[tuple[str, str], ClientRecord], int]:
    """Replay events into a fresh SQLite file; the replay summary, each client's record with its
    alerts attached, and the number of alerts."""
    for stale in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    summary, _ = replay([str(events)], settings.model_copy(update={"database_url": url}))
    clients = load_clients(events, truth)
    return summary, clients, attach_alerts(clients, url)


def run(scenario: str, seed: int, workdir: Path, settings: Settings) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    events, truth = write_scenario(scenario, workdir, seed=seed)
    generated = time.perf_counter() - started
    summary, clients, n_alerts = replay_and_judge(events, truth, workdir / f"{scenario}.db", settings)
    return {
        "scenario": scenario,
        "seed": seed,
        "events": summary.events,
        "events_per_s": summary.events_per_s,
        "generate_s": generated,
        "alerts": n_alerts,
        "attacks": attack_rows(clients),
        "benign": benign_rows(clients),
    }


def print_report(report: dict, out=sys.stdout) -> None:
    out.write(
        f"\n== {report['scenario']} (seed {report['seed']}): {report['events']:,} events, "
        f"{report['events_per_s']:,.0f} events/s replay, {report['alerts']} alerts\n\n"
    )
    out.write(
        table(
            ["attack kind", "clients", "detected", "named", "q to 1st alert (median)", "p90", "conf at alert", "at end", "gain share", "detectors"],
            [
                [
                    r["kind"],
                    r["clients"] if r["groups"] == r["clients"] else f"{r['clients']} ({r['groups']} groups)",
                    f"{r['detected']:.0%}",
                    fmt(r["named"], "{:.0%}"),
                    fmt(r["queries_median"]),
                    fmt(r["queries_p90"]),
                    fmt(r.get("target_conf_at_alert"), "{:.2f}"),
                    fmt(r.get("target_conf_at_end"), "{:.2f}"),
                    fmt(r.get("gain_share_at_alert"), "{:.0%}"),
                    ", ".join(f"{d.split(':', 1)[1]}:{n}" for d, n in sorted(r["detectors"].items())),
                ]
                for r in report["attacks"]
            ],
        )
        + "\n\n"
    )
    out.write(
        table(
            ["benign kind", "clients", "alerted", "FP rate", "alerted per 1k events", "detectors"],
            [
                [
                    r["kind"],
                    r["clients"],
                    r["alerted"],
                    f"{r['fp_rate']:.2%}",
                    f"{r['alerted_clients_per_1k_events']:.3f}",
                    ", ".join(f"{d.split(':', 1)[1]}:{n}" for d, n in sorted(r["detectors"].items())),
                ]
                for r in report["benign"]
            ],
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=["standard", "careful"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/inversion-detector-bench"))
    parser.add_argument("--out", type=Path, default=RESULTS / "detection.json")
    args = parser.parse_args(argv)
    reports = []
    for scenario in args.scenarios:
        report = run(scenario, args.seed, args.workdir, Settings())
        print_report(report)
        reports.append(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(reports, indent=2))
    print(f"\nreport written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
