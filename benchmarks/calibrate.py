"""Feature distributions per client kind, to set rule thresholds from benign traffic.

Plays a simulator scenario through the pipeline's feature steps (no rules, no
model, no database: :meth:`Pipeline.take`) and keeps the features of every
window the pipeline would score. For each feature it
prints, over benign clients, the quantiles of each client's most extreme
window (the largest value for features that rise under attack, the smallest
for those that fall), and for each attack kind the median client's extreme:
a rule threshold belongs above the benign tail and below the attackers.

Calibrate on a seed the detection benchmark does not use (default 1; the
detection benchmark uses 0), so that the benchmark checks thresholds on
traffic they were not set on.

    python -m benchmarks.calibrate                              # standard, seed 1
    python -m benchmarks.calibrate --scenarios standard careful --min-events 32
    python -m benchmarks.calibrate --features near_dup_frac step_sparsity_mean
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import orjson

from detector.commands.terminal import table
from detector.parse import parse
from detector.pipeline import Pipeline
from detector.settings import Settings
from detector.simulator import generate
from featurizers.registry import FEATURE_DOCS
from rules import RuleSet

RESULTS = Path(__file__).resolve().parent / "results"

FALLING = frozenset(
    {
        "dist_prev_median",
        "nn_distance_p10",
        "nn_distance_median",
        "knn_distance_mean",
        "interarrival_cv",
        "prada_shapiro_w",
        "input_coverage",
        "neighbourhood_low",
    }
)
"""Features whose attack direction is down: a client's extreme window is its smallest value."""

SKIPPED = frozenset({"target_class", "events_total"})


Windows = dict[tuple[str, str], list[dict[str, float]]]
"""(model_id, client_id) -> the features of each of the client's scored windows, oldest first."""


def record(scenario: str, seed: int, min_events: int, settings: Settings) -> tuple[Windows, list]:
    """Play the scenario through the pipeline up to features (nothing is scored or decided); the
    features of every window the pipeline would score of clients with ``min_events``, and the ground truth."""
    events, truth = generate(scenario, seed)
    pipeline = Pipeline(settings, RuleSet([]))
    windows: Windows = defaultdict(list)
    started, count = time.perf_counter(), 0
    for event in events:
        due = pipeline.take(parse(orjson.dumps(event)))
        if due is not None and due[0].n_events >= min_events:
            client, model = due
            windows[(client.model_id, client.client_id)].append(pipeline.extractor.features(client, model))
        count += 1
        if count % 50_000 == 0:
            print(f"  {scenario}: {count:,} events, {count / (time.perf_counter() - started):,.0f}/s", file=sys.stderr)
    return windows, truth


def extremes(windows: list[dict[str, float]], feature: str) -> float:
    """A client's most attack-like value of a feature over its windows (NaN if it never had one)."""
    values = [w[feature] for w in windows if feature in w and np.isfinite(w[feature])]
    if not values:
        return float("nan")
    return min(values) if feature in FALLING else max(values)


def summarise(windows: Windows, truth: list, features: list[str]) -> dict:
    """Per feature: benign quantiles of client extremes (overall and per kind) and each attack kind's median."""
    kinds: dict[tuple[str, str], str] = {}
    attack: dict[tuple[str, str], bool] = {}
    for row in truth:
        key = (row.model_id, row.client_id)
        kinds[key] = f"{row.kind}/{row.variant}" if row.variant not in (None, "", "plain") else row.kind
        attack[key] = row.attack
    report: dict[str, dict] = {}
    for feature in features:
        benign: dict[str, list[float]] = defaultdict(list)
        attacks: dict[str, list[float]] = defaultdict(list)
        for key, client_windows in windows.items():
            value = extremes(client_windows, feature)
            if np.isfinite(value):
                (attacks if attack[key] else benign)[kinds[key]].append(value)
        every = np.array([v for values in benign.values() for v in values])
        if not len(every):
            continue
        lo = feature in FALLING
        q = (lambda a, p: float(np.quantile(a, 1 - p if lo else p))) if len(every) else None
        report[feature] = {
            "direction": "falls" if lo else "rises",
            "benign_clients": len(every),
            "benign_p50": q(every, 0.5),
            "benign_p99": q(every, 0.99),
            "benign_extreme": float(every.min() if lo else every.max()),
            "benign_by_kind": {k: q(np.array(v), 0.99) for k, v in sorted(benign.items())},
            "attacks": {k: float(np.median(v)) for k, v in sorted(attacks.items())},
        }
    return report


def print_summary(scenario: str, report: dict, out=None) -> None:
    out = out or sys.stdout
    attack_kinds = sorted({k for r in report.values() for k in r["attacks"]})
    out.write(f"\n== {scenario}: client extremes (min for falling features, max for rising)\n\n")
    out.write(
        table(
            ["feature", "dir", "benign p50", "p99", "extreme", "worst benign kind (p99)", *attack_kinds],
            [
                [
                    name,
                    "v" if r["direction"] == "falls" else "^",
                    f"{r['benign_p50']:.3g}",
                    f"{r['benign_p99']:.3g}",
                    f"{r['benign_extreme']:.3g}",
                    "{} {:.3g}".format(
                        *(min if r["direction"] == "falls" else max)(r["benign_by_kind"].items(), key=lambda kv: kv[1])
                    ),
                    *(f"{r['attacks'][k]:.3g}" if k in r["attacks"] else "-" for k in attack_kinds),
                ]
                for name, r in report.items()
            ],
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=["standard"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-events", type=int, default=32, help="ignore windows of clients with fewer events")
    parser.add_argument("--features", nargs="+", default=None, help="only these features")
    parser.add_argument("--out", type=Path, default=RESULTS / "calibration.json")
    args = parser.parse_args(argv)
    features = args.features or [name for name in FEATURE_DOCS if name not in SKIPPED]
    results = {}
    for scenario in args.scenarios:
        windows, truth = record(scenario, args.seed, args.min_events, Settings())
        results[scenario] = summarise(windows, truth, features)
        print_summary(scenario, results[scenario])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
