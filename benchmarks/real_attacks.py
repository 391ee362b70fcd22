"""Held-out detection benchmark: traffic of real attack code (ART), not of our simulator.

The Adversarial Robustness Toolbox's implementations of HopSkipJump, the
Boundary attack, Sign-OPT, ZOO, SimBA, Square, MI-Face, Knockoff Nets and
label-only membership inference (plus Papernot's Jacobian augmentation,
built from ART estimators, and ActiveThief's active-learning extraction
against scikit-learn substitutes, which ART lacks too) attack four small scikit-learn models through a
logging layer that writes every query as an inference event, each attack
plainly and under every attacker variant of the simulator (noise and
blinding act inside the attack's query loop, cover and mixed keys add
benign queries there, slow and split schedules act on the logged stream);
benign clients of every simulator kind (and bulk scoring jobs) share the
timeline. The file
is replayed through the real pipeline into SQLite, and the report is
``benchmarks.detection``'s: per attack kind the clients alerted and queries
to the first alert, per benign kind the false-positive rate; then per
attacking client what its attack achieved. When attackers are missed, their
features at the end of their window are printed beside the benign spread.

Nothing here tunes the detector: the attacks' parameters are ART's or set so
the attacks work on these models, and the detector runs with its defaults.

    pip install -e '.[bench]'
    python -m benchmarks.real_attacks [--quick] [--seed N]
    python -m benchmarks.real_attacks --benign-only [--quick] --seed 1001   # benign clients alone
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.detection import ClientRecord, attack_rows, benign_rows, fmt, group_rows, print_report, replay_and_judge
from benchmarks.report import WORKDIR, say, write_results
from benchmarks.window_features import features_at_end, percentiles
from detector.assembly import load_ruleset
from detector.commands.terminal import table
from detector.settings import Settings

if TYPE_CHECKING:
    from benchmarks.art_scenario import AttackRun

MISSING_ART = "adversarial-robustness-toolbox is not installed; install the benchmark extra: pip install -e '.[bench]'"


def client_rows(runs: list[AttackRun], clients: dict[tuple[str, str], ClientRecord]) -> list[dict]:
    """One row per attacker: its attack, variant, pace, detection (the first alert of any of its keys, as
    that key's query count) and what the attack achieved."""
    rows = []
    for run in runs:
        records = [clients[key] for key in ((run.model_id, c) for c in run.client_ids) if key in clients]
        firsts = [r.first_alert_index + 1 for r in records if r.first_alert_index is not None]
        rows.append(
            {
                "kind": run.kind,
                "variant": run.variant,
                "model_id": run.model_id,
                "client_ids": list(run.client_ids),
                "queries": run.queries,
                "requests": run.requests,
                "requests_per_s": run.requests_per_s,
                "detected": bool(firsts),
                "queries_to_first_alert": min(firsts, default=None),
                "detectors": sorted(set().union(*(r.detectors for r in records))),
                "result": run.outcome.result,
            }
        )
    return rows


def print_clients(rows: list[dict], out=sys.stdout) -> None:
    out.write(
        table(
            ["attack", "variant", "model", "queries", "requests", "req/s", "1st alert at", "detectors", "attack result"],
            [
                [
                    r["kind"],
                    r["variant"],
                    r["model_id"],
                    r["queries"],
                    r["requests"],
                    f"{r['requests_per_s']:.0f}",
                    fmt(r["queries_to_first_alert"]),
                    ", ".join(d.split(":", 1)[1] for d in r["detectors"]) or "-",
                    r["result"],
                ]
                for r in rows
            ],
        )
        + "\n"
    )


def missed_analysis(events: Path, clients: dict[tuple[str, str], ClientRecord], settings: Settings) -> dict | None:
    """Features at the end of every missed attacker's window (per client, and their median per attack kind)
    beside the benign clients' 1st/50th/99th percentiles at the end of theirs, and the rules; None when
    nothing was missed."""
    missed = [key for key, r in clients.items() if r.truth["attack"] and r.first_alert_index is None]
    if not missed:
        return None
    benign = [key for key, r in clients.items() if not r.truth["attack"]]
    last = {key: max(clients[key].order, key=clients[key].order.get) for key in missed + benign}
    found = features_at_end(events, last, settings)
    names = sorted({name for key in missed for name in found.get(key, {})})
    by_kind: dict[str, list[dict[str, float]]] = defaultdict(list)
    for key in missed:
        if key in found:
            by_kind[_label(clients[key])].append(found[key])
    return {
        "benign": percentiles((found[key] for key in benign if key in found), names),
        "missed": {kind: {name: _median(rows, name) for name in names} for kind, rows in sorted(by_kind.items())},
        "missed_count": {kind: len(rows) for kind, rows in sorted(by_kind.items())},
        "missed_clients": [
            {"kind": _label(clients[key]), "model_id": key[0], "client_id": key[1], "features": found[key]}
            for key in missed
            if key in found
        ],
        "rules": {rule.id: str(rule.condition) + ("" if rule.enabled else " (disabled)") for rule in load_ruleset(settings)},
    }


def _label(record: ClientRecord) -> str:
    """``family/variant`` of an attacking client."""
    return f"{record.truth['kind']}/{record.truth.get('variant') or 'plain'}"


def _median(rows: list[dict[str, float]], name: str) -> float | None:
    """The median of a feature over clients, leaving out NaN (a feature undefined in that window); None if none."""
    values = [row[name] for row in rows if name in row and np.isfinite(row[name])]
    return float(np.median(values)) if values else None


def print_analysis(analysis: dict, out=sys.stdout) -> None:
    kinds = list(analysis["missed"])
    out.write(
        "\nmissed attackers: features at the end of their window (median over the kind's missed clients) beside\n"
        "the benign clients' 1st / 50th / 99th percentile at the end of theirs; * = outside the benign 1-99% range\n\n"
    )
    rows = []
    for name, (low, mid, high) in sorted(analysis["benign"].items()):
        cells = []
        for kind in kinds:
            value = analysis["missed"][kind].get(name)
            mark = "" if value is None or low <= value <= high else "*"
            cells.append(fmt(value, "{:.3g}") + mark)
        rows.append([name, f"{low:.3g}", f"{mid:.3g}", f"{high:.3g}", *cells])
    headers = ["feature", "benign p1", "p50", "p99"]
    headers += [f"{kind} ({analysis['missed_count'][kind]})" for kind in kinds]
    out.write(table(headers, rows) + "\n\nrules:\n")
    for rule_id, condition in analysis["rules"].items():
        out.write(f"  {rule_id}: {condition}\n")


def run(plan_name: str, seed: int, workdir: Path, settings: Settings, attacks: bool = True) -> dict:
    from benchmarks.art_scenario import PLANS, write_real_attacks

    plan = PLANS[plan_name] if attacks else PLANS[plan_name].benign_only()
    say(f"{'running the attacks and ' if attacks else ''}writing {plan.name!r} to {workdir} ...")
    started = time.perf_counter()
    events, truth, runs = write_real_attacks(plan, workdir, seed, attacks)
    generated = time.perf_counter() - started
    say(f"written in {generated:.0f} s; replaying {events} ...")
    summary, clients, n_alerts = replay_and_judge(events, truth, workdir / f"{plan.name}.db", settings)
    say("features at the end of the windows of missed attackers and benign clients ...")
    return {
        "scenario": plan.name,
        "seed": seed,
        "events": summary.events,
        "events_per_s": summary.events_per_s,
        "generate_s": generated,
        "alerts": n_alerts,
        "attacks": attack_rows(clients),
        "groups": group_rows(clients),
        "benign": benign_rows(clients),
        "clients": client_rows(runs, clients),
        "missed_analysis": missed_analysis(events, clients, settings),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller timeline (one client per attack and model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--benign-only", action="store_true", help="the plan's benign clients alone (a calibration timeline)")
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--out", type=Path, default=None, help="JSON report (default benchmarks/results/real_attacks.json)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="PyTorch not found")  # ART's notice that its torch parts are off
    try:
        report = run("quick" if args.quick else "full", args.seed, args.workdir, Settings(), not args.benign_only)
    except ModuleNotFoundError as error:
        if error.name != "art" and not str(error.name).startswith("art."):
            raise
        print(MISSING_ART, file=sys.stderr)
        return 2
    print_report(report)
    print()
    print_clients(report["clients"])
    if report["missed_analysis"] is not None:
        print_analysis(report["missed_analysis"])
    print()
    write_results("real_attacks", report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
