"""``python -m detector.simulator NAME --out DIR [--seed N] [--benign-only] [--kserve]``: write a scenario and say what was written.

``--benign-only`` writes the scenario's benign clients alone (``<name>-benign``): with another seed,
a calibration sample beside a held-out test timeline. ``--kserve`` also writes the same events as
KServe's inference logger would (``<name>.kserve.jsonl``, :mod:`detector.simulator.kserve_logger`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from detector.simulator.scenarios import SCENARIOS
from detector.simulator.kserve_logger import write_kserve
from detector.simulator.writer import write_scenario


def summary(truth_path: Path) -> list[str]:
    """Lines of clients and events per kind (careful variants apart), benign kinds first, then a total."""
    counts: dict[tuple[bool, str], list[int]] = {}
    with open(truth_path, "rb") as rows:
        for line in rows:
            row = json.loads(line)
            kind = row["kind"] + (f" ({row['variant']})" if row["variant"] else "")
            tally = counts.setdefault((row["attack"], kind), [0, 0])
            tally[0] += 1
            tally[1] += row["n_events"]
    lines = [
        f"{'attack' if attack else 'benign':7} {kind:26} {clients:5} clients {events:8} events"
        for (attack, kind), (clients, events) in sorted(counts.items())
    ]
    clients, events = (sum(column) for column in zip(*counts.values()))
    return [*lines, f"{'total':34} {clients:5} clients {events:8} events"]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the scenario, print the files and the counts."""
    parser = argparse.ArgumentParser(prog="python -m detector.simulator", description=__doc__)
    parser.add_argument("scenario", choices=sorted(SCENARIOS), help="scenario name")
    parser.add_argument("--out", default=".", help="output folder (default: the current one)")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    parser.add_argument("--benign-only", action="store_true", help="only the benign clients (a calibration timeline)")
    parser.add_argument("--kserve", action="store_true", help="also write the events as KServe logger CloudEvents")
    args = parser.parse_args(argv)
    scenario = SCENARIOS[args.scenario].benign_only() if args.benign_only else SCENARIOS[args.scenario]
    started = time.perf_counter()
    events_path, truth_path = write_scenario(scenario, args.out, seed=args.seed)
    written = [events_path, truth_path]
    if args.kserve:
        written.append(write_kserve(events_path, seed=args.seed))
    elapsed = time.perf_counter() - started
    print(f"wrote {', '.join(map(str, written[:-1]))} and {written[-1]} in {elapsed:.1f} s")
    print("\n".join(summary(truth_path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
