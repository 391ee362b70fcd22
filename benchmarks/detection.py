"""Detection quality on the simulator's scenarios, through the real replay pipeline.

Per attack kind and variant (``detector.simulator.variants``): the share of
attacks alerted (an attack over several keys counts once, found when any of
its keys is alerted; ``named``: its alerts name at least half its keys),
the median and 90th percentile of a client's queries before its first
alert, and for inversion the target-class confidence at the first alert
versus at the end. Per group of variants (plain; careful: slow, split,
cover, noise, top-1; detector-aware: blind, slow-split, mixed) the same
pooled. Per benign kind: the share of clients alerted (client-level
false-positive rate), and alerts per 1,000 benign events. Which detectors
fired, per kind, helps calibration.

    python -m benchmarks.detection                      # standard and careful
    python -m benchmarks.detection --scenarios tiny     # a quick look
    python -m benchmarks.detection --quick              # every kind and variant, smaller (~4 min)
    python -m benchmarks.detection --benign-only --seed 7   # the scenarios' benign clients alone

Other benchmarks judge their own timelines with the same rows:
:func:`detection_rows` replays and judges a pair of files; :func:`load_clients`
plus :func:`attack_rows`, :func:`group_rows` and :func:`benign_rows` judge
first alerts found by anything else (set ``ClientRecord.first_alert_index``).

Row keys. ``attack_rows``: ``kind`` (``family/variant``, the row's label),
``family``, ``variant``, ``variant_group``, ``clients`` (API keys),
``groups`` (attacks: a multi-key attack is one), ``detected`` (share of
attacks), ``named`` (share of multi-key attacks named, else None),
``queries_median`` and ``queries_p90`` (a key's queries up to its first
alert, over alerted keys; None if none), ``detectors`` (alerts per
detector), and for inversion ``target_conf_at_alert``, ``target_conf_at_end``,
``gain_share_at_alert``. ``group_rows``: ``group``, ``variants``,
``kinds`` ((family, variant) rows in it), ``clients``, ``groups``,
``detected`` (pooled over its attacks), ``detected_mean`` (mean of its
rows' ``detected``), ``queries_median``. ``benign_rows``: ``kind`` (then
``ALL``), ``clients``, ``alerted``, ``fp_rate``, ``events``,
``alerted_clients_per_1k_events``, ``detectors``, ``examples``.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from detector.simulator import SCENARIOS, Scenario, write_scenario
from detector.simulator.variants import VARIANT_GROUPS, VARIANTS

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class ClientRecord:
    """One client's truth, its event ids in order, and (inversion) its target confidence per event;
    a detector's verdict: the index (in ``order``) of its first alert, the detectors that alerted, and
    the clients its alerts named as one group."""

    truth: dict
    order: dict[str, int] = field(default_factory=dict)
    target_confidence: list[float] = field(default_factory=list)
    first_alert_index: int | None = None
    detectors: set[str] = field(default_factory=set)
    named_clients: set[str] = field(default_factory=set)


def load_clients(events_path: Path, truth_path: Path) -> dict[tuple[str, str], ClientRecord]:
    """Every client of a truth file, keyed by (model_id, client_id), with its events' order; no verdicts yet."""
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
        record.named_clients.update(alert.related_clients)
        index = record.order.get(alert.trigger_event_id)
        if index is not None and (record.first_alert_index is None or index < record.first_alert_index):
            record.first_alert_index = index
    engine.dispose()
    return count


def percentile(values: list[int], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


GROUP_OF_VARIANT = {variant: group for group, members in VARIANT_GROUPS.items() for variant in members}


def _attacks(records: list[ClientRecord]) -> dict[str, list[ClientRecord]]:
    """Attacking clients by attack: a multi-key attack's keys together (its truth ``group``)."""
    attacks: dict[str, list[ClientRecord]] = defaultdict(list)
    for record in records:
        attacks[record.truth["group"] or record.truth["client_id"]].append(record)
    return attacks


def _found(members: list[ClientRecord]) -> bool:
    return any(r.first_alert_index is not None for r in members)


def _queries_to_alert(records: list[ClientRecord]) -> list[int]:
    return [r.first_alert_index + 1 for r in records if r.first_alert_index is not None]


def _variant_of(record: ClientRecord) -> str:
    """The variant an attacker played (truth files without one are plain)."""
    return record.truth.get("variant") or "plain"


def attack_rows(clients: dict[tuple[str, str], ClientRecord]) -> list[dict]:
    """One row per (attack family, variant), families in name order, variants in catalogue order (keys: module docstring)."""
    by_kind: dict[tuple[str, str], list[ClientRecord]] = defaultdict(list)
    for record in clients.values():
        if record.truth["attack"]:
            by_kind[(record.truth["kind"], _variant_of(record))].append(record)
    order = {variant: i for i, variant in enumerate(VARIANTS)}
    rows = []
    for (family, variant), records in sorted(by_kind.items(), key=lambda item: (item[0][0], order.get(item[0][1], 99))):
        groups = _attacks(records)
        found = sum(_found(members) for members in groups.values())
        named = 0
        for members in groups.values():
            ids = {r.truth["client_id"] for r in members}
            seen = set().union(*(r.named_clients | {r.truth["client_id"]} for r in members if r.first_alert_index is not None))
            named += len(ids) > 1 and len(seen & ids) >= len(ids) / 2
        queries = _queries_to_alert(records)
        row = {
            "kind": f"{family}/{variant}",
            "family": family,
            "variant": variant,
            "variant_group": GROUP_OF_VARIANT.get(variant),
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


def group_rows(clients: dict[tuple[str, str], ClientRecord]) -> list[dict]:
    """One row per group of variants (plain, careful, detector-aware) present: its attacks pooled (keys: module docstring)."""
    per_kind = defaultdict(list)
    for row in attack_rows(clients):
        per_kind[row["variant_group"]].append(row)
    rows = []
    for group, members in VARIANT_GROUPS.items():
        records = [r for r in clients.values() if r.truth["attack"] and GROUP_OF_VARIANT.get(_variant_of(r)) == group]
        if not records:
            continue
        attacks = _attacks(records)
        rows.append(
            {
                "group": group,
                "variants": list(members),
                "kinds": len(per_kind[group]),
                "clients": len(records),
                "groups": len(attacks),
                "detected": sum(_found(m) for m in attacks.values()) / len(attacks),
                "detected_mean": statistics.mean(row["detected"] for row in per_kind[group]),
                "queries_median": percentile(_queries_to_alert(records), 50),
            }
        )
    return rows


def benign_rows(clients: dict[tuple[str, str], ClientRecord]) -> list[dict]:
    """One row per benign kind in name order, then ``ALL`` (keys: module docstring)."""
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


def detection_rows(events: Path, truth: Path, settings: Settings, database: Path | None = None) -> dict:
    """Replay ``events`` with ``settings`` into a fresh SQLite file (``database``, by default beside the
    events) and judge every client of ``truth``: ``events``, ``events_per_s``, ``alerts``, and the
    ``attacks``, ``groups`` and ``benign`` rows (keys: module docstring)."""
    summary, clients, n_alerts = replay_and_judge(events, truth, database or events.with_suffix(".db"), settings)
    return {
        "events": summary.events,
        "events_per_s": summary.events_per_s,
        "alerts": n_alerts,
        "attacks": attack_rows(clients),
        "groups": group_rows(clients),
        "benign": benign_rows(clients),
    }


QUICK_SHARE = 5
"""``--quick``: a fifth of the benign clients (at least one a kind), one plain attacker a kind, half the time and budgets."""


def quick(scenario: Scenario) -> Scenario:
    """A smaller version of ``scenario`` with every kind and variant still in it, named ``<name>-quick``.

    >>> small = quick(SCENARIOS["careful"])
    >>> small.name, set(small.benign) == set(SCENARIOS["careful"].benign), small.careful == SCENARIOS["careful"].careful
    ('careful-quick', True, True)
    """
    return dataclasses.replace(
        scenario,
        name=f"{scenario.name}-quick",
        duration_s=scenario.duration_s / 2,
        benign={kind: max(1, count // QUICK_SHARE) for kind, count in scenario.benign.items()},
        attacks={kind: min(count, 1) for kind, count in scenario.attacks.items()},
        budget_scale=scenario.budget_scale / 2,
    )


def run(
    scenario: str, seed: int, workdir: Path, settings: Settings, benign_only: bool = False, small: bool = False
) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    chosen = quick(SCENARIOS[scenario]) if small else SCENARIOS[scenario]
    chosen = chosen.benign_only() if benign_only else chosen
    started = time.perf_counter()
    events, truth = write_scenario(chosen, workdir, seed=seed)
    generated = time.perf_counter() - started
    rows = detection_rows(events, truth, settings, workdir / f"{chosen.name}.db")
    return {"scenario": chosen.name, "seed": seed, "generate_s": generated, **rows}


def print_report(report: dict, out=sys.stdout) -> None:
    out.write(
        f"\n== {report['scenario']} (seed {report['seed']}): {report['events']:,} events, "
        f"{report['events_per_s']:,.0f} events/s replay, {report['alerts']} alerts\n\n"
    )
    out.write(
        table(
            ["attack kind", "variant", "clients", "detected", "named", "q to 1st alert (median)", "p90", "conf at alert", "at end", "gain share", "detectors"],
            [
                [
                    r.get("family", r["kind"]),
                    r.get("variant", "-"),
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
    if report.get("groups"):
        out.write(
            table(
                ["variants", "of them", "kinds", "attacks", "detected", "mean over kinds", "q to 1st alert (median)"],
                [
                    [
                        r["group"],
                        ", ".join(r["variants"]),
                        r["kinds"],
                        r["groups"],
                        f"{r['detected']:.0%}",
                        f"{r['detected_mean']:.0%}",
                        fmt(r["queries_median"]),
                    ]
                    for r in report["groups"]
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
    parser.add_argument("--benign-only", action="store_true", help="the scenarios' benign clients alone (<name>-benign)")
    parser.add_argument("--quick", action="store_true", help="smaller scenarios with every kind and variant (<name>-quick)")
    args = parser.parse_args(argv)
    reports = []
    for scenario in args.scenarios:
        report = run(scenario, args.seed, args.workdir, Settings(), args.benign_only, args.quick)
        print_report(report)
        reports.append(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(reports, indent=2))
    print(f"\nreport written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
