"""Replay throughput: events/s of the full pipeline beside the floor of reading and decoding the same file.

The input is the simulator's ``standard`` scenario cut to its 64-value model
(the digits classifier; its other model takes 30 values), every detector on.
Three measures per run, interleaved so that noise on this shared machine
falls on all of them alike:

- floor: read the file and ``orjson``-decode every line (what any consumer
  of the file must pay);
- parse: the same plus contract validation (:class:`detector.parse.Parser`);
- replay: ``detector.commands.replay.replay`` into a fresh SQLite file, timed
  by the wall clock around the whole call (assembly, schema, every stage,
  sink flushes), next to the events/s that replay's own summary reports.

    python -m benchmarks.replay_throughput            # standard scenario, 3 runs
    python -m benchmarks.replay_throughput --quick    # the tiny scenario
"""

from __future__ import annotations

from pathlib import Path

import orjson

from benchmarks.report import (
    INPUT_DIM,
    WORKDIR,
    count_lines,
    parser,
    print_table,
    rate,
    say,
    scenario_file,
    spread,
    timed,
    verdict,
    write_results,
)
from detector.commands.replay import replay
from detector.parse import Parser
from detector.settings import Settings

NAME = "replay_throughput"
TARGET_EVENTS_PER_S = 30_000


def read_and_decode(path: Path) -> int:
    """The floor: every line read and decoded, nothing else."""
    count = 0
    with open(path, "rb") as lines:
        for line in lines:
            orjson.loads(line)
            count += 1
    return count


def read_and_parse(path: Path) -> int:
    """The floor plus contract validation: what every event costs before the pipeline sees it."""
    parse = Parser().parse
    count = 0
    with open(path, "rb") as lines:
        for line in lines:
            parse(line)
            count += 1
    return count


def replay_once(path: Path, database: Path) -> tuple[float, float, int]:
    """Wall seconds of one replay into a fresh database, the events/s replay reported, and the alerts it raised."""
    for stale in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        stale.unlink(missing_ok=True)
    settings = Settings(database_url=f"sqlite:///{database}")
    seconds, (summary, _) = timed(lambda: replay([str(path)], settings, progress=False))
    return seconds, summary.events_per_s, len(summary.alerts)


def measure(path: Path, runs: int) -> dict:
    events = count_lines(path)
    floor, parse, pipeline, reported, alerts = [], [], [], [], []
    for number in range(1, runs + 1):
        say(f"[{NAME}] run {number}/{runs}: {events:,} events")
        floor.append(events / timed(lambda: read_and_decode(path))[0])
        parse.append(events / timed(lambda: read_and_parse(path))[0])
        seconds, summary_rate, raised = replay_once(path, WORKDIR / "replay-throughput.db")
        pipeline.append(events / seconds)
        reported.append(summary_rate)
        alerts.append(raised)
        say(f"[{NAME}]   floor {floor[-1]:,.0f}/s, parse {parse[-1]:,.0f}/s, replay {pipeline[-1]:,.0f}/s")
    ratios = [p / f for p, f in zip(pipeline, floor)]
    return {
        "events_file": str(path),
        "events": events,
        "floor_events_per_s": spread(floor),
        "parse_events_per_s": spread(parse),
        "replay_events_per_s": spread(pipeline),
        "replay_summary_events_per_s": spread(reported),
        "replay_to_floor": spread(ratios),
        "alerts": alerts[-1],
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "target_met": spread(pipeline)["median"] >= TARGET_EVENTS_PER_S,
    }


def print_report(report: dict) -> None:
    floor = report["floor_events_per_s"]["median"]
    rows = [
        ["read + orjson decode (floor)", rate(report["floor_events_per_s"]), "1.000", ""],
        ["read + parse (contract)", rate(report["parse_events_per_s"]),
         f"{report['parse_events_per_s']['median'] / floor:.3f}", ""],
        ["replay, full pipeline, SQLite (wall)", rate(report["replay_events_per_s"]),
         f"{report['replay_to_floor']['median']:.3f}",
         f">= {TARGET_EVENTS_PER_S:,}/s: {verdict(report['target_met'])}"],
        ["replay's own summary figure", rate(report["replay_summary_events_per_s"]),
         f"{report['replay_summary_events_per_s']['median'] / floor:.3f}", "should match the wall figure"],
    ]  # fmt: skip
    print_table(
        f"replay throughput: {report['scenario']} scenario, {INPUT_DIM}-value inputs, {report['events']:,} events, "
        f"median of {report['floor_events_per_s']['runs']} runs (min-max), {report['alerts']} alerts",
        ["measure", "events/s", "x floor", "target"],
        rows,
    )


def summary(report: dict) -> list[tuple[str, str, str]]:
    """(figure, value, target) lines for the suite's closing summary."""
    return [
        ("replay events/s", rate(report["replay_events_per_s"]),
         f">= {TARGET_EVENTS_PER_S:,}/s: {verdict(report['target_met'])}"),
        ("replay / read+decode floor", f"{report['replay_to_floor']['median']:.3f}", "-"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__).parse_args(argv)
    scenario = "tiny" if args.quick else "standard"
    report = {"scenario": scenario, "quick": args.quick, **measure(scenario_file(scenario), args.runs)}
    print_report(report)
    write_results(NAME, report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
