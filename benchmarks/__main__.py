"""``python -m benchmarks [--only NAME ...] [--quick] [--runs N]``: run the benchmark suite, then summarise.

Each benchmark prints its tables and writes ``benchmarks/results/<name>.json``;
the closing summary puts every headline figure beside the target it answers
to, with each benchmark's wall time. A benchmark that fails is reported and
the others still run (the exit status is then 1). Each one also runs alone,
e.g. ``python -m benchmarks.scaling --quick``.
"""

from __future__ import annotations

import argparse
import importlib
import time
import traceback

from benchmarks.report import RESULTS, print_table, read_results, say

BENCHMARKS = ("replay_throughput", "kafka_throughput", "latency", "exchange", "scaling", "model_churn", "detection")


def arguments(name: str, quick: bool, runs: int | None) -> list[str]:
    """The command line a benchmark gets from the suite's options."""
    if name == "detection":  # detection quality: no repetitions, a smaller scenario when quick
        return ["--scenarios", "tiny"] if quick else []
    return (["--quick"] if quick else []) + ([] if runs is None else ["--runs", str(runs)])


def detection_summary(reports: list[dict]) -> list[tuple[str, str, str]]:
    """Per scenario: the share of attack kinds' clients (or groups) detected, and the benign false-positive rate."""
    lines = []
    for report in reports:
        detected = [row["detected"] for row in report["attacks"]]
        benign = next(row for row in report["benign"] if row["kind"] == "ALL")
        lines.append((f"detection, {report['scenario']}: attacks detected (mean over kinds)",
                      f"{sum(detected) / max(len(detected), 1):.0%} of {len(detected)} kinds", "-"))  # fmt: skip
        lines.append((f"detection, {report['scenario']}: benign clients alerted", f"{benign['fp_rate']:.2%}", "-"))
    return lines


def summary_lines(name: str) -> list[tuple[str, str, str]]:
    if name == "detection":
        return detection_summary(read_results(name))
    return importlib.import_module(f"benchmarks.{name}").summary(read_results(name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME",
                        help=f"run only these ({', '.join(BENCHMARKS)})")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small inputs: a smoke run of every benchmark")
    parser.add_argument("--runs", type=int, default=None, help="repetitions per benchmark (default: each one's own)")
    args = parser.parse_args(argv)
    selected = [name for name in BENCHMARKS if args.only is None or name in args.only]
    suite_started = time.perf_counter()
    rows, failed = [], []
    for number, name in enumerate(selected, 1):
        say(f"\n==> [{number}/{len(selected)}] {name}")
        started = time.perf_counter()
        try:
            status = importlib.import_module(f"benchmarks.{name}").main(arguments(name, args.quick, args.runs))
            lines = summary_lines(name) if status == 0 else []
        except Exception:
            traceback.print_exc()
            status, lines = 1, []
        seconds = time.perf_counter() - started
        say(f"==> {name}: {'done' if status == 0 else 'FAILED'} in {seconds:.0f} s")
        if status != 0:
            failed.append(name)
            rows.append([name, "FAILED", "-", "-"])
        rows.extend([name, figure, value, target] for figure, value, target in lines)
        rows.append([name, "wall time", f"{seconds:.0f} s", ""])
    total = time.perf_counter() - suite_started
    print_table(
        f"benchmark summary{' (quick: figures indicative only)' if args.quick else ''}: "
        f"{len(selected)} benchmarks in {total / 60:.1f} min; reports in {RESULTS}",
        ["benchmark", "figure", "value", "target"],
        rows,
    )
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
