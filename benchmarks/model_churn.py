"""Model churn: events/s and memory as the number of model ids grows (1, 100, 1,000).

Multi-tenant platforms and model-version churn (``m:1``, ``m:2``, ...) make thousands of model ids
normal, and each has its own state (input statistics, the cross-client index, the anomaly model).
Each count runs in a process of its own (so its RSS is its own): the pipeline with the built-in
rules is fed synthetic events (64 values, softmax over 10 classes, inputs near a low-dimensional
subspace) from the same number of clients whatever the count (``CLIENTS``, spread evenly over
the models, interleaved), each sending ``EVENTS_PER_CLIENT`` events, so only the number of models
changes. Reported: events/s over the whole stream (every new model's first build included), the
largest one-event stall, the process's RSS at the end, the model states held (at most
``max_models``) and the evictions.

    python -m benchmarks.model_churn                    # 1, 100 and 1,000 model ids
    python -m benchmarks.model_churn --max-models 100   # the same under a tighter bound
    python -m benchmarks.model_churn --quick            # 1, 30 and 100, fewer clients
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from benchmarks.report import ROOT, median, parser, print_table, say, write_results
from benchmarks.scaling import LATENT, Traffic, new_pipeline, rss_bytes

NAME = "model_churn"
CLIENTS = 2_000
QUICK_CLIENTS = 300
EVENTS_PER_CLIENT = 32
"""Two anomaly-model scorings per client at ``model_every`` 16."""
FULL_COUNTS = (1, 100, 1_000)
QUICK_COUNTS = (1, 30, 100)
MIB = 2**20


class ModelTraffic(Traffic):
    """:class:`~benchmarks.scaling.Traffic` whose events name their client's model."""

    def model_events(self, pairs: list[tuple[str, str]]) -> list:
        made = self.events([client for _, client in pairs])
        return [event.model_copy(update={"model_id": model}) for event, (model, _) in zip(made, pairs)]


def one_count(models: int, clients: int, events_per_client: int, max_models: int | None) -> dict:
    """Feed the stream for ``models`` model ids in this process; the figures."""
    settings = {} if max_models is None else {"max_models": max_models}
    pipeline = new_pipeline(model_warmup=10**6, **settings)
    traffic = ModelTraffic(64, seed=5)
    pairs = [(f"m:{c % models}", f"client-{c}") for c in range(max(clients, models))]
    total = len(pairs) * events_per_client
    rss_before = rss_bytes()
    worst = 0.0
    started = time.perf_counter()
    for start in range(0, total, 1000):
        chunk = traffic.model_events([pairs[i % len(pairs)] for i in range(start, min(start + 1000, total))])
        for event in chunk:
            began = time.perf_counter()
            pipeline.process(event)
            worst = max(worst, time.perf_counter() - began)
    seconds = time.perf_counter() - started
    held = len(pipeline.store.models)
    return {
        "model_ids": models,
        "events": total,
        "events_per_s": total / seconds,
        "worst_event_ms": 1e3 * worst,
        "rss_bytes": rss_bytes(),
        "rss_growth_bytes": rss_bytes() - rss_before,
        "models_held": held,
        "anomaly_models_held": len(pipeline.anomaly.models),
        "models_evicted": pipeline.model_bound.evicted,
        "max_models": pipeline.settings.max_models,
    }


def run_alone(models: int, clients: int, events_per_client: int, max_models: int | None) -> dict:
    """:func:`one_count` in a fresh process, so its RSS is the count's alone."""
    command = [sys.executable, "-m", "benchmarks.model_churn", "--one", str(models), "--clients", str(clients),
               "--events-per-client", str(events_per_client)]  # fmt: skip
    if max_models is not None:
        command += ["--max-models", str(max_models)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    arguments = parser(__doc__, runs=1)
    arguments.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # a count in this process
    arguments.add_argument("--clients", type=int, default=None, help=argparse.SUPPRESS)
    arguments.add_argument("--events-per-client", type=int, default=EVENTS_PER_CLIENT, help=argparse.SUPPRESS)
    arguments.add_argument("--max-models", type=int, default=None, help="the max_models setting (default: its default)")
    args = arguments.parse_args(argv)
    clients = args.clients or (QUICK_CLIENTS if args.quick else CLIENTS)
    events_per_client = args.events_per_client
    if args.one is not None:
        print(json.dumps(one_count(args.one, clients, events_per_client, args.max_models)))
        return 0
    rows = []
    for models in QUICK_COUNTS if args.quick else FULL_COUNTS:
        runs = [run_alone(models, clients, events_per_client, args.max_models) for _ in range(args.runs)]
        row = dict(runs[0], events_per_s=median([r["events_per_s"] for r in runs]),
                   events_per_s_runs=[r["events_per_s"] for r in runs])  # fmt: skip
        rows.append(row)
        say(f"[{NAME}] {models:,} model ids: {row['events_per_s']:,.0f} events/s, RSS {row['rss_bytes'] / MIB:,.0f} MiB")
    print_table(
        f"model churn: {clients:,} clients over the models, {events_per_client} events each, 64-value inputs "
        f"({LATENT}-dim subspace)",
        ["model ids", "events", "events/s", "worst event", "RSS", "model states held", "evicted"],
        [[f"{r['model_ids']:,}", f"{r['events']:,}", f"{r['events_per_s']:,.0f}", f"{r['worst_event_ms']:.0f} ms",
          f"{r['rss_bytes'] / MIB:,.0f} MiB", f"{r['models_held']:,} (max {r['max_models']})",
          f"{r['models_evicted']:,}"] for r in rows],
    )  # fmt: skip
    write_results(NAME, {"quick": args.quick, "runs": args.runs, "clients": clients,
                         "events_per_client": events_per_client, "by_model_ids": rows}, args.out)  # fmt: skip
    return 0


def summary(report: dict) -> list[tuple[str, str, str]]:
    """(figure, value, target) lines for the suite's closing summary."""
    return [
        (f"{row['model_ids']:,} model ids", f"{row['events_per_s']:,.0f} events/s, RSS {row['rss_bytes'] / MIB:,.0f} MiB", "-")
        for row in report["by_model_ids"]
    ]


if __name__ == "__main__":
    raise SystemExit(main())
