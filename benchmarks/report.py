"""What every benchmark shares: arguments, the scenario files, medians, tables and the JSON report.

Each benchmark module measures, then calls :func:`print_table` and
:func:`write_results`; the JSON report carries the machine it ran on (cores,
Python, platform, load, git commit) so figures from different runs can be told
apart. Scenario files are written once per process and reused by every
benchmark that asks for them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import orjson

from detector.commands.terminal import table
from detector.simulator import write_scenario

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
WORKDIR = Path("/tmp/inversion-detector-bench")
"""Scenario files and scratch databases (large: the standard scenario is ~190 MB)."""

INPUT_DIM = 64
"""The issue's reference input size: the standard scenario's digits model (its other model takes 30 values)."""


def parser(description: str | None, *, runs: int = 3) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes: ``--quick``, ``--runs`` and ``--out``."""
    made = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    made.add_argument("--quick", action="store_true", help="small inputs: a smoke run in seconds, figures indicative only")
    made.add_argument("--runs", type=int, default=runs, help=f"repetitions; medians are reported (default {runs})")
    made.add_argument("--out", type=Path, default=None, help="JSON report path (default benchmarks/results/<name>.json)")
    return made


def git_commit() -> str | None:
    """The checked-out commit, with ``-dirty`` when tracked files differ from it; None outside a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine() -> dict[str, object]:
    """Where the figures were measured: cores, CPU, Python, platform, load, commit."""
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "git_commit": git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def results_path(name: str, out: Path | None = None) -> Path:
    return out if out is not None else RESULTS / f"{name}.json"


def write_results(name: str, report: dict, out: Path | None = None) -> Path:
    """Write ``report`` with the machine description to ``benchmarks/results/<name>.json`` (or ``out``)."""
    path = results_path(name, out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **report}, indent=2, default=str) + "\n")
    print(f"report written to {path}")
    return path


def read_results(name: str, out: Path | None = None) -> dict:
    return json.loads(results_path(name, out).read_text())


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A titled table on stdout."""
    print(f"\n== {title}\n\n{table(headers, rows)}\n", flush=True)


def say(text: str) -> None:
    """A progress line on stderr, so stdout keeps only tables."""
    print(text, file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> dict[str, float | int]:
    """Median, min and max of repeated measurements, and how many there were."""
    return {"median": median(values), "min": float(min(values)), "max": float(max(values)), "runs": len(values)}


def timed(action: Callable[[], object]) -> tuple[float, object]:
    """Wall seconds of ``action()``, and what it returned."""
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def rate(figures: dict) -> str:
    """``12,345/s (11,000-13,000)`` from a :func:`spread` of rates."""
    return f"{figures['median']:,.0f}/s ({figures['min']:,.0f}-{figures['max']:,.0f})"


def verdict(met: bool | None) -> str:
    return "-" if met is None else ("met" if met else "NOT met")


@cache
def scenario_file(name: str, dim: int | None = INPUT_DIM, workdir: Path = WORKDIR) -> Path:
    """The simulator's scenario ``name`` (seed 0) as JSONL, keeping only events with ``dim`` input values
    (all events when ``dim`` is None); written once per process."""
    say(f"writing the {name!r} scenario to {workdir} ...")
    events, _ = write_scenario(name, workdir, seed=0)
    if dim is None:
        return events
    kept = workdir / f"{name}-{dim}d.jsonl"
    with open(events, "rb") as lines, open(kept, "wb") as out:
        for line in lines:
            values = orjson.loads(line).get("input")
            if values is not None and len(values) == dim:
                out.write(line)
    return kept


def count_lines(path: Path) -> int:
    with open(path, "rb") as lines:
        return sum(1 for _ in lines)
