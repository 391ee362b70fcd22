"""Scaling: how the pipeline's cost and memory grow with input size, tracked clients and the cross-client index.

The pipeline (every featurizer, the built-in rules, the per-model River model,
decide) is driven in-process with synthetic events, built and validated
before the clock starts, so the figures are the pipeline's alone (no parsing,
no database): softmax scores over 10 classes, and inputs drawn independently
near a low-dimensional subspace, as real data lies (uniform random inputs
spread over the whole space are what extraction sends, and rightly raise
alerts; the figures are for the common, quiet case, and each table says how
many windows hit a detector).

- input size (16, 64, 784, 4096 values): microseconds per event of clients
  whose windows are full, and bytes per tracked client, measured as the
  growth of traced allocations (``tracemalloc``) over clients that each sent
  a full window, divided by their number, beside the state's own estimate
  (``ClientState.nbytes``);
- tracked clients (1k, 10k, 100k): the same active clients' cost per event
  while the store also holds that many other clients;
- the cross-client index: cost per event as the model-wide fingerprint index
  fills up to its bound and then evicts;
- churn: the process's RSS (``/proc/self/status``) while 1,000,000 distinct
  client ids send one event each with ``max_clients`` capped: it must level
  off once the cap is reached.

    python -m benchmarks.scaling            # the issue's sizes
    python -m benchmarks.scaling --quick    # everything shrunk, seconds
"""

from __future__ import annotations

import math
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from benchmarks.report import median, parser, print_table, say, verdict, write_results
from detector.assembly import load_ruleset
from detector.event import InferenceEvent
from detector.pipeline import Pipeline
from detector.settings import Settings

NAME = "scaling"
MODEL = "bench-model:1"
CLASSES = 10
STEP_S = 0.05
"""Event time between two events of the stream (20 events/s of event time)."""
MEMORY_STEP_S = 10.0
"""Event time between two events while memory is measured: the cross-client index (shared by all clients
of a model, bounded on its own) then only holds the last few inputs, and its size stays put."""
INDEX_STEP_S = 0.001
"""Event time between two events while the index fills: nothing expires before it reaches its bound."""
NO_IDLE_EXPIRY = 1e12
KIB = 1024
LATENT = 4
NOISE = 0.05
INDEX_CLIENTS = 100
"""Clients sending the index-filling blocks: a block of a multiple of 4 x 100 events scores each alike."""

TARGET_CLIENT_BYTES = 48 * KIB
TARGET_CLIENTS_RATIO = 1.5
TARGET_SIZE_EXPONENT = 1.0
"""Cost may grow at most linearly with input size: the log-log slope between two sizes at most 1 (plus noise)."""
SLOPE_SLACK = 0.1
TARGET_RSS_GROWTH = 0.05
"""RSS may grow at most 5% over the second half of the churn stream, long after the cap was reached."""


@dataclass(frozen=True)
class Sizes:
    dims: tuple[int, ...]
    active_clients: int
    block: int
    memory_clients: int
    tracked: tuple[int, ...]
    index_blocks: int
    churn_ids: int
    churn_cap: int


FULL = Sizes(dims=(16, 64, 784, 4096), active_clients=100, block=2000, memory_clients=200,
             tracked=(1_000, 10_000, 100_000), index_blocks=12, churn_ids=1_000_000, churn_cap=10_000)  # fmt: skip
QUICK = Sizes(dims=(16, 64, 784, 4096), active_clients=20, block=400, memory_clients=20,
              tracked=(100, 1_000, 5_000), index_blocks=6, churn_ids=40_000, churn_cap=2_000)  # fmt: skip


class Traffic:
    """Synthetic events on one event clock; each client numbers its own events.

    Inputs are ``LATENT`` Gaussian factors mapped through a fixed random basis, plus a little noise.
    """

    def __init__(self, dim: int, seed: int = 0, step_s: float = STEP_S) -> None:
        self.dim = dim
        self.step_s = step_s
        self.rng = np.random.default_rng(seed)
        self.basis = self.rng.normal(0.0, 1.0 / math.sqrt(LATENT), (LATENT, dim))
        self.clock = 1_800_000_000.0
        self.sent: dict[str, int] = {}

    def events(self, clients: list[str]) -> list[InferenceEvent]:
        """One event from each client in ``clients``, in that order."""
        inputs = self.rng.normal(size=(len(clients), LATENT)) @ self.basis
        inputs += self.rng.normal(0.0, NOISE, inputs.shape)
        logits = self.rng.normal(0.0, 2.0, (len(clients), CLASSES))
        scores = np.exp(logits - logits.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
        made = []
        for client, x, p in zip(clients, inputs.tolist(), scores.tolist()):
            number = self.sent.get(client, 0)
            self.sent[client] = number + 1
            self.clock += self.step_s
            made.append(InferenceEvent.model_validate(
                {"event_id": f"{client}-{number}", "ts": self.clock, "client_id": client, "model_id": MODEL,
                 "input": x, "output": {"scores": p}}
            ))  # fmt: skip
        return made


def new_pipeline(**settings: object) -> Pipeline:
    configured = Settings(**settings)
    return Pipeline(configured, load_ruleset(configured))


def feed(pipeline: Pipeline, events: list[InferenceEvent]) -> float:
    """Seconds to process ``events``."""
    process = pipeline.process
    started = time.perf_counter()
    for event in events:
        process(event)
    return time.perf_counter() - started


def round_robin(clients: list[str], count: int, start: int = 0) -> list[str]:
    return [clients[(start + i) % len(clients)] for i in range(count)]


def warm(pipeline: Pipeline, traffic: Traffic, clients: list[str], at_least: int = 0, chunk: int = 1000) -> None:
    """Fill every client's window and finish the River model's warm-up (at least ``at_least`` events in all;
    generated and fed in chunks, to keep memory low)."""
    settings = pipeline.settings
    needed = max(len(clients) * settings.window, (settings.model_warmup + 1) * settings.score_every, at_least)
    order = round_robin(clients, needed)
    for start in range(0, len(order), chunk):
        feed(pipeline, traffic.events(order[start : start + chunk]))


def block_costs(pipeline: Pipeline, traffic: Traffic, clients: list[str], block: int, runs: int) -> list[float]:
    """Microseconds per event of ``runs`` blocks of ``block`` round-robin events from ``clients``."""
    costs = []
    for run in range(runs):
        events = traffic.events(round_robin(clients, block, run * block))
        costs.append(1e6 * feed(pipeline, events) / block)
    return costs


def names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i}" for i in range(count)]


# -- input size --------------------------------------------------------------------------------


def input_size_row(dim: int, sizes: Sizes, runs: int) -> dict:
    """Cost per event and bytes per client at one input size."""
    pipeline = new_pipeline(idle_ttl_s=NO_IDLE_EXPIRY)
    traffic = Traffic(dim)
    active = names("active", sizes.active_clients)
    warm(pipeline, traffic, active)
    costs = block_costs(pipeline, traffic, active, sizes.block, runs)
    hits = sum(pipeline.stats.hits.values())

    pipeline = new_pipeline(idle_ttl_s=NO_IDLE_EXPIRY)
    traffic = Traffic(dim, step_s=MEMORY_STEP_S)
    warm(pipeline, traffic, names("warm", 20))
    measured = names("memory", sizes.memory_clients)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for client in measured:  # one client at a time: no other allocation outlives the loop
        for _ in range(pipeline.settings.window):
            pipeline.process(traffic.events([client])[0])
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    estimate = [pipeline.store.clients[(MODEL, client)].nbytes for client in measured]
    return {
        "dim": dim,
        "us_per_event": median(costs),
        "us_per_event_runs": costs,
        "bytes_per_client": grown / len(measured),
        "state_nbytes_per_client": float(np.mean(estimate)),
        "clients_measured": len(measured),
        "windows_hit": hits + sum(pipeline.stats.hits.values()),
    }


def size_exponents(rows: list[dict]) -> list[float]:
    """Log-log slope of cost against input size between consecutive sizes (1.0 = linear)."""
    return [
        math.log(b["us_per_event"] / a["us_per_event"]) / math.log(b["dim"] / a["dim"])
        for a, b in zip(rows, rows[1:])
    ]


# -- tracked clients ---------------------------------------------------------------------------


def tracked_rows(sizes: Sizes, runs: int) -> list[dict]:
    """The same active clients' cost while the store holds more and more other (idle) clients."""
    pipeline = new_pipeline(idle_ttl_s=NO_IDLE_EXPIRY, max_clients=max(sizes.tracked) + sizes.active_clients)
    traffic = Traffic(64, seed=1)
    active = names("active", sizes.active_clients)
    warm(pipeline, traffic, active)
    rows, filled = [], 0
    for target in sizes.tracked:
        others = names("idle", target)[filled:]
        for start in range(0, len(others), 2000):
            feed(pipeline, traffic.events(others[start : start + 2000]))
        filled = target
        say(f"[{NAME}]   {len(pipeline.store):,} tracked clients")
        costs = block_costs(pipeline, traffic, active, sizes.block, runs)
        rows.append({"tracked_clients": len(pipeline.store), "us_per_event": median(costs), "us_per_event_runs": costs})
    return rows


# -- cross-client index ------------------------------------------------------------------------


def index_keys(pipeline: Pipeline) -> int:
    index = pipeline.store.model(MODEL).shared.get("cross_client")
    return 0 if index is None else len(index.keys)


def index_rows(sizes: Sizes) -> list[dict]:
    """Cost per event block by block while fresh inputs (a few new keys each) fill the index."""
    pipeline = new_pipeline(idle_ttl_s=NO_IDLE_EXPIRY)
    traffic = Traffic(64, seed=2, step_s=INDEX_STEP_S)
    clients = names("client", INDEX_CLIENTS)
    settings = pipeline.settings
    # the input scale is refreshed (and the index emptied) each time the model's input count doubles:
    # warm up with a power of two of inputs larger than the blocks add, so no refresh falls among them
    needed = max(len(clients) * settings.window, (settings.model_warmup + 1) * settings.score_every,
                 sizes.index_blocks * sizes.block + 1)  # fmt: skip
    warm(pipeline, traffic, clients, at_least=2 ** math.ceil(math.log2(needed)))
    index = pipeline.store.model(MODEL).shared["cross_client"]
    index.keys.clear()  # start the measurement from an empty index
    rows = []
    for number in range(sizes.index_blocks):
        keys_before = index_keys(pipeline)
        events = traffic.events(round_robin(clients, sizes.block, number * sizes.block))
        cost = 1e6 * feed(pipeline, events) / sizes.block
        rows.append({"keys_before": keys_before, "keys_after": index_keys(pipeline), "us_per_event": cost})
    return rows


# -- churn -------------------------------------------------------------------------------------


def rss_bytes() -> int:
    """Resident set size of this process, from ``/proc/self/status``."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * KIB
    raise RuntimeError("no VmRSS in /proc/self/status")


def churn_samples(sizes: Sizes, samples: int = 10) -> Iterator[dict]:
    """RSS after every tenth of a stream of distinct client ids, one event each, ``max_clients`` capped."""
    pipeline = new_pipeline(max_clients=sizes.churn_cap)
    traffic = Traffic(64, seed=3)
    every = sizes.churn_ids // samples
    started = time.perf_counter()
    yield {"client_ids": 0, "tracked": 0, "evicted": 0, "rss_bytes": rss_bytes(), "seconds": 0.0}
    for sample in range(samples):
        for start in range(sample * every, (sample + 1) * every, 2000):
            feed(pipeline, traffic.events([f"churn-{i}" for i in range(start, min(start + 2000, (sample + 1) * every))]))
        traffic.sent.clear()  # the generator's own bookkeeping must not grow either
        yield {"client_ids": (sample + 1) * every, "tracked": len(pipeline.store), "evicted": pipeline.store.evicted,
               "rss_bytes": rss_bytes(), "seconds": time.perf_counter() - started}  # fmt: skip


# -- report ------------------------------------------------------------------------------------


def measure(sizes: Sizes, runs: int) -> dict:
    say(f"[{NAME}] churn: {sizes.churn_ids:,} client ids, max_clients {sizes.churn_cap:,} (first, on a fresh heap)")
    churn = []
    for sample in churn_samples(sizes):
        churn.append(sample)
        say(f"[{NAME}]   {sample['client_ids']:,} ids: RSS {sample['rss_bytes'] / 2**20:.0f} MiB")
    say(f"[{NAME}] input sizes {sizes.dims}")
    by_size = []
    for dim in sizes.dims:
        by_size.append(input_size_row(dim, sizes, runs))
        say(f"[{NAME}]   {dim} values: {by_size[-1]['us_per_event']:.0f} us/event, "
            f"{by_size[-1]['bytes_per_client'] / KIB:.1f} KiB/client")  # fmt: skip
    say(f"[{NAME}] tracked clients {sizes.tracked}")
    by_tracked = tracked_rows(sizes, runs)
    say(f"[{NAME}] cross-client index")
    by_index = index_rows(sizes)
    exponents = size_exponents(by_size)
    at_64 = next((row for row in by_size if row["dim"] == 64), None)
    clients_ratio = by_tracked[-1]["us_per_event"] / by_tracked[0]["us_per_event"]
    middle = churn[len(churn) // 2]["rss_bytes"]
    rss_growth = churn[-1]["rss_bytes"] / middle - 1.0
    return {
        "sizes": asdict(sizes),
        "by_input_size": by_size,
        "size_exponents": exponents,
        "by_tracked_clients": by_tracked,
        "by_index_fill": by_index,
        "churn": churn,
        "targets": {
            "bytes_per_client_at_64": {"value": at_64 and at_64["bytes_per_client"], "target": TARGET_CLIENT_BYTES,
                                       "met": None if at_64 is None else at_64["bytes_per_client"] <= TARGET_CLIENT_BYTES},
            "clients_cost_ratio": {"value": clients_ratio, "target": TARGET_CLIENTS_RATIO,
                                   "met": clients_ratio <= TARGET_CLIENTS_RATIO},
            "largest_size_exponent": {"value": max(exponents), "target": TARGET_SIZE_EXPONENT,
                                      "met": max(exponents) <= TARGET_SIZE_EXPONENT + SLOPE_SLACK},
            "rss_growth_second_half": {"value": rss_growth, "target": TARGET_RSS_GROWTH,
                                       "met": rss_growth <= TARGET_RSS_GROWTH},
        },
    }  # fmt: skip


def print_report(report: dict) -> None:
    slopes = ["-"] + [f"{e:.2f}" for e in report["size_exponents"]]
    print_table(
        "per-event cost and memory by input size (full windows; median of blocks)",
        ["input values", "us/event", "x 16 values", "log-log slope", "bytes/client (tracemalloc)", "state nbytes/client",
         "windows hit"],
        [
            [row["dim"], f"{row['us_per_event']:,.0f}", f"{row['us_per_event'] / report['by_input_size'][0]['us_per_event']:.2f}",
             slope, f"{row['bytes_per_client']:,.0f} ({row['bytes_per_client'] / KIB:.1f} KiB)",
             f"{row['state_nbytes_per_client']:,.0f}", row["windows_hit"]]
            for row, slope in zip(report["by_input_size"], slopes)
        ],
    )  # fmt: skip
    base = report["by_tracked_clients"][0]["us_per_event"]
    print_table(
        "per-event cost of the same active clients by tracked clients (64 values)",
        ["tracked clients", "us/event", f"x {report['by_tracked_clients'][0]['tracked_clients']:,} clients"],
        [[f"{row['tracked_clients']:,}", f"{row['us_per_event']:,.0f}", f"{row['us_per_event'] / base:.2f}"]
         for row in report["by_tracked_clients"]],
    )  # fmt: skip
    print_table(
        "per-event cost as the cross-client index fills (64 values, one block per row)",
        ["index keys before", "after", "us/event"],
        [[f"{row['keys_before']:,}", f"{row['keys_after']:,}", f"{row['us_per_event']:,.0f}"] for row in report["by_index_fill"]],
    )  # fmt: skip
    print_table(
        f"RSS while {report['churn'][-1]['client_ids']:,} distinct client ids stream through "
        f"(max_clients {report['sizes']['churn_cap']:,})",
        ["client ids seen", "tracked", "evicted", "RSS MiB", "seconds"],
        [[f"{row['client_ids']:,}", f"{row['tracked']:,}", f"{row['evicted']:,}", f"{row['rss_bytes'] / 2**20:,.1f}",
          f"{row['seconds']:.0f}"] for row in report["churn"]],
    )  # fmt: skip
    print_table("scaling targets", ["figure", "value", "target"], [list(line) for line in summary(report)])


def summary(report: dict) -> list[tuple[str, str, str]]:
    """(figure, value, target) lines for the suite's closing summary."""
    t = report["targets"]
    at_64 = t["bytes_per_client_at_64"]
    return [
        ("bytes per client at 64 values", "-" if at_64["value"] is None else f"{at_64['value'] / KIB:.1f} KiB",
         f"<= {TARGET_CLIENT_BYTES // KIB} KiB: {verdict(at_64['met'])}"),
        (f"cost at {report['by_tracked_clients'][-1]['tracked_clients']:,} / "
         f"{report['by_tracked_clients'][0]['tracked_clients']:,} tracked clients",
         f"{t['clients_cost_ratio']['value']:.2f}x", f"<= {TARGET_CLIENTS_RATIO}x: {verdict(t['clients_cost_ratio']['met'])}"),
        ("largest log-log slope of cost vs input size", f"{t['largest_size_exponent']['value']:.2f}",
         f"<= {TARGET_SIZE_EXPONENT:.0f} (linear): {verdict(t['largest_size_exponent']['met'])}"),
        ("RSS growth over the 2nd half of the churn", f"{t['rss_growth_second_half']['value']:+.1%}",
         f"<= {TARGET_RSS_GROWTH:.0%} (flat): {verdict(t['rss_growth_second_half']['met'])}"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__).parse_args(argv)
    sizes = QUICK if args.quick else FULL
    report = {"quick": args.quick, "runs": args.runs, **measure(sizes, args.runs)}
    print_report(report)
    write_results(NAME, report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
