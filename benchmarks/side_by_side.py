"""Side by side: our detector and three published stateful detectors, calibrated alike, on the same events.

For each bench (the simulator's attackers, or real attack code from ART):

1. a benign-only calibration timeline (seed N+1000) and a held-out test
   timeline (seed N, attacks among benign clients);
2. calibration on the calibration events at one client-level false-positive
   target (default 1%): ours through ``detector.commands.calibrate`` (a
   calibration file the replay then reads), each baseline by its ``fit``;
3. ours with its shipped defaults, ours calibrated, Stateful Detection
   (Chen et al. 2020), PRADA (Juuti et al. 2019) and Blacklight (Li et al.
   2022) over the test events: per attack kind and attacker variant, and
   per group of variants, the share detected and the median queries to the
   first alert; per benign kind and overall the share of clients flagged;
4. with ``--leave-one-out``, per benign kind: calibrate everyone again
   without that kind's clients and report its false-positive rate on the
   test timeline, i.e. how a threshold holds on traffic it was not set on.

    python -m benchmarks.side_by_side --quick                 # both benches, small timelines
    python -m benchmarks.side_by_side --bench simulator --seed 3 --leave-one-out

The report goes to ``benchmarks/results/side_by_side.json``; timelines and
databases to ``/tmp/inversion-detector-bench/side_by_side/<bench>``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from benchmarks.baselines import BASELINES, Key, read_events
from benchmarks.detection import ClientRecord, attack_rows, benign_rows, detection_rows, fmt, group_rows, load_clients
from benchmarks.real_attacks import MISSING_ART
from benchmarks.report import WORKDIR, print_table, say, timed, write_results
from detector.settings import Settings
from detector.simulator import SCENARIOS, Scenario, write_scenario

DEFAULTS = "ours (defaults)"
CALIBRATED = "ours (calibrated)"
CALIBRATION_SEED_OFFSET = 1000

Clients = dict[Key, ClientRecord]
Rows = dict[str, list[dict]]
"""A detector's judgement of the test timeline: ``benchmarks.detection``'s ``attacks``, ``groups``, ``benign`` rows."""


@dataclass(frozen=True)
class Timelines:
    """A bench's benign-only calibration events and its held-out test events, each with its truth file."""

    calibration: Path
    calibration_truth: Path
    test: Path
    test_truth: Path


def simulator_scenarios(quick: bool) -> tuple[Scenario, Scenario]:
    """The test scenario, every attack kind under every attacker variant (``careful``'s attackers) among
    benign clients of every kind, and its benign-only twin for calibration. Full: ``standard``'s ~1,000
    benign clients and its plain attackers besides; quick: ``careful``'s ~220 and half its attack budgets."""
    standard, careful = SCENARIOS["standard"], SCENARIOS["careful"]
    if quick:
        test = dataclasses.replace(careful, name="side-by-side-quick", budget_scale=careful.budget_scale / 2)
    else:
        test = dataclasses.replace(careful, name="side-by-side", benign=standard.benign, attacks=standard.attacks)
    return test, test.benign_only()


def simulator_timelines(quick: bool, seed: int, workdir: Path) -> Timelines:
    test, calibration = simulator_scenarios(quick)
    say(f"writing {calibration.name!r} (seed {seed + CALIBRATION_SEED_OFFSET}) and {test.name!r} (seed {seed}) ...")
    calibration_events, calibration_truth = write_scenario(calibration, workdir, seed=seed + CALIBRATION_SEED_OFFSET)
    test_events, test_truth = write_scenario(test, workdir, seed=seed)
    return Timelines(calibration_events, calibration_truth, test_events, test_truth)


def real_timelines(quick: bool, seed: int, workdir: Path) -> Timelines:
    """The real-attack benchmark's timeline, and a benign-only timeline of the same kinds for calibration.

    The calibration sample always has the full plan's benign clients (190 a model): a deployment calibrates
    on far more than the quick timeline's ~50 clients a model, and with fewer than
    :data:`detector.thresholds.MIN_CLIENTS` clients of 32 or more events a model gets no fit at all.
    """
    from benchmarks.art_scenario import PLANS, write_real_attacks

    plan = PLANS["quick" if quick else "full"]
    sample = dataclasses.replace(plan, name=f"{plan.name}-calibration", benign=PLANS["full"].benign)
    say(f"writing {sample.benign_only().name!r} (seed {seed + CALIBRATION_SEED_OFFSET}) ...")
    calibration_events, calibration_truth, _ = write_real_attacks(
        sample, workdir, seed + CALIBRATION_SEED_OFFSET, attacks=False
    )
    say(f"running the attacks and writing {plan.name!r} (seed {seed}) ...")
    test_events, test_truth, _ = write_real_attacks(plan, workdir, seed)
    return Timelines(calibration_events, calibration_truth, test_events, test_truth)


BENCHES: dict[str, Callable[[bool, int, Path], Timelines]] = {"simulator": simulator_timelines, "real": real_timelines}


def read_truth(path: Path) -> dict[Key, dict]:
    """Each client's truth row."""
    rows = (orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip())
    return {(row["model_id"], row["client_id"]): row for row in rows}


def events_of(path: Path, keep: Callable[[Key], bool]) -> Iterator[dict]:
    """The events of the clients ``keep`` accepts."""
    return (event for event in read_events(path) if keep((event["model_id"], event["client_id"])))


def write_without(path: Path, truth: dict[Key, dict], kind: str, out: Path) -> Path:
    """The events of ``path`` except those of clients of ``kind``, as a new JSONL file."""
    with open(path, "rb") as lines, open(out, "wb") as kept:
        for line in lines:
            event = orjson.loads(line)
            if truth[(event["model_id"], event["client_id"])]["kind"] != kind:
                kept.write(line)
    return out


def training_references(bench: str) -> dict[str, np.ndarray]:
    """Each of the bench's models' training records, as an owner would give ``calibrate --reference``."""
    if bench == "real":
        from benchmarks.art_targets import MODELS, target

        return {model_id: target(model_id).data.x_train for model_id in MODELS}
    from detector.simulator.models import MODEL_DATASETS, target_model

    return {model_id: np.asarray(target_model(model_id).data.x_train) for model_id in MODEL_DATASETS}


def calibrated_settings(
    paths: list[Path], target_fpr: float, output: Path, references: dict[str, np.ndarray] | None = None
) -> Settings | None:
    """Settings reading a calibration file that ``detector.commands.calibrate`` wrote from ``paths``; None
    (with a message) while that command or the setting it feeds does not exist, or when it fails."""
    try:
        from detector.commands.calibrate import calibrate
    except ImportError:
        say("ours (calibrated): detector.commands.calibrate is not available; showing ours (defaults) only")
        return None
    if "calibration_file" not in Settings.model_fields:
        say("ours (calibrated): Settings has no calibration_file; showing ours (defaults) only")
        return None
    try:
        calibrate(paths, target_fpr=target_fpr, settings=Settings(), output=output, references=references)
    except Exception as error:  # noqa: BLE001 - a calibration that fails leaves the other detectors' results
        say(f"ours (calibrated): calibrate failed ({type(error).__name__}: {error}); showing ours (defaults) only")
        return None
    return Settings(calibration_file=output)


def judged_rows(template: Clients, flags: dict[Key, int | None], detector: str) -> Rows:
    """A baseline's first flags as the test clients' first alerts, judged as the detection benchmark judges
    ours: its ``attacks``, ``groups`` and ``benign`` rows."""
    clients = {}
    for key, record in template.items():
        first = flags.get(key)
        clients[key] = dataclasses.replace(
            record, first_alert_index=first, detectors=set() if first is None else {detector}, named_clients=set()
        )
    return {"attacks": attack_rows(clients), "groups": group_rows(clients), "benign": benign_rows(clients)}


def step(label: str, action: Callable[[], object]) -> tuple[object, float]:
    """``action()`` and its wall seconds, announced on stderr before and after."""
    say(f"  {label} ...")
    seconds, result = timed(action)
    say(f"  {label}: {seconds:.0f} s")
    return result, seconds


def ours(timelines: Timelines, database: Path, settings: Settings) -> Rows:
    """Our detector's rows: a replay of the test timeline into a fresh SQLite file, judged."""
    return detection_rows(timelines.test, timelines.test_truth, settings, database)


@dataclass
class Runs:
    """Each detector's rows on the test timeline, its wall seconds (calibrate, run) and the baselines' thresholds."""

    rows: dict[str, Rows] = dataclasses.field(default_factory=dict)
    seconds: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    thresholds: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)


def calibrated_runs(
    calibration: Path,
    timelines: Timelines,
    workdir: Path,
    target_fpr: float,
    only: set[Key] | None = None,
    references: dict[str, np.ndarray] | None = None,
) -> Runs:
    """Ours and every baseline calibrated on ``calibration`` at ``target_fpr``, then run on the test timeline.
    With ``only``, just those test clients matter: a per-client baseline then runs on their events alone.
    ``references`` (model id -> records) are given to our calibration as ``--reference``."""
    runs = Runs()
    output, database = workdir / f"{calibration.stem}.yaml", workdir / "ours-calibrated.db"
    settings, fit_s = step(
        f"{CALIBRATED}: calibrate", lambda: calibrated_settings([calibration], target_fpr, output, references)
    )
    if settings is not None:
        runs.rows[CALIBRATED], run_s = step(CALIBRATED, lambda: ours(timelines, database, settings))
        runs.seconds[CALIBRATED] = {"fit": fit_s, "run": run_s}
    template = load_clients(timelines.test, timelines.test_truth)
    for name, make in BASELINES.items():
        baseline = make()
        _, fit_s = step(f"{name}: fit", lambda: baseline.fit(read_events(calibration), target_fpr))
        wanted = (lambda key: True) if only is None or baseline.cross_client else only.__contains__
        flags, run_s = step(f"{name}: run", lambda: baseline.run(events_of(timelines.test, wanted)))
        runs.rows[name] = judged_rows(template, flags, name)
        runs.seconds[name] = {"fit": fit_s, "run": run_s}
        runs.thresholds[name] = dict(baseline.thresholds)
    return runs


def merged(rows_by_detector: dict[str, list[dict]], label: str, fields: Iterable[str]) -> list[dict]:
    """One line per row ``label`` (a kind, a group) with each detector's ``fields``, in the first detector's order."""
    lines: dict[str, dict] = {}
    for detector, rows in rows_by_detector.items():
        for row in rows:
            line = lines.setdefault(row[label], {"kind": row[label], "clients": row["clients"], "by_detector": {}})
            line.setdefault("groups", row.get("groups", row["clients"]))
            line["by_detector"][detector] = {field: row.get(field) for field in fields}
    return list(lines.values())


def leave_one_out(timelines: Timelines, workdir: Path, target_fpr: float, defaults: Rows) -> list[dict]:
    """Per benign kind of the calibration sample: every detector calibrated without it, and its test FPR."""
    calibration_truth, test_truth = read_truth(timelines.calibration_truth), read_truth(timelines.test_truth)
    kinds = sorted({row["kind"] for row in calibration_truth.values()})
    lines = []
    for number, kind in enumerate(kinds, 1):
        say(f"leave-one-out [{number}/{len(kinds)}]: calibrating without {kind!r}")
        without = write_without(
            timelines.calibration, calibration_truth, kind, workdir / f"calibration-without-{kind}.jsonl"
        )
        kind_clients = {key for key, row in test_truth.items() if row["kind"] == kind and not row["attack"]}
        runs = calibrated_runs(without, timelines, workdir, target_fpr, only=kind_clients)
        rows = {DEFAULTS: defaults, **runs.rows}
        lines.append(
            {
                "kind": kind,
                "clients": len(kind_clients),
                "by_detector": {
                    name: {"fp_rate": next((r["fp_rate"] for r in found["benign"] if r["kind"] == kind), None)}
                    for name, found in rows.items()
                },
            }
        )
    return lines


def bench_report(
    bench: str, quick: bool, seed: int, workdir: Path, target_fpr: float, with_loo: bool, with_reference: bool = False
) -> dict:
    started = time.perf_counter()
    folder = workdir / bench
    folder.mkdir(parents=True, exist_ok=True)
    timelines = BENCHES[bench](quick, seed, folder)
    written_s = time.perf_counter() - started
    defaults, run_s = step(DEFAULTS, lambda: ours(timelines, folder / "ours.db", Settings()))
    references = training_references(bench) if with_reference else None
    runs = calibrated_runs(timelines.calibration, timelines, folder, target_fpr, references=references)
    results = {DEFAULTS: defaults, **runs.rows}
    report = {
        "bench": bench,
        "quick": quick,
        "seed": seed,
        "calibration_seed": seed + CALIBRATION_SEED_OFFSET,
        "target_fpr": target_fpr,
        "reference": with_reference,
        "timelines": {field.name: str(getattr(timelines, field.name)) for field in dataclasses.fields(timelines)},
        "detectors": list(results),
        "write_s": written_s,
        "seconds": {DEFAULTS: {"run": run_s}, **runs.seconds},
        "thresholds": runs.thresholds,
        "attacks": merged({d: r["attacks"] for d, r in results.items()}, "kind", ("detected", "queries_median")),
        "groups": merged({d: r["groups"] for d, r in results.items()}, "group", ("detected", "queries_median")),
        "benign": merged({d: r["benign"] for d, r in results.items()}, "kind", ("fp_rate", "alerted")),
        "leave_one_out": leave_one_out(timelines, folder, target_fpr, defaults) if with_loo else None,
    }
    report["total_s"] = time.perf_counter() - started
    return report


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def detection_cell(found: dict | None) -> str:
    """``80% @ 412``: the share detected and the median queries to the first alert."""
    if not found:
        return "-"
    median = found["queries_median"]
    return percent(found["detected"]) + ("" if median is None else f" @ {median:.0f}")


def clients_cell(row: dict) -> str:
    return str(row["clients"]) if row["groups"] == row["clients"] else f"{row['clients']} ({row['groups']} groups)"


def fpr_rows(rows: list[dict], detectors: list[str]) -> list[list[object]]:
    return [
        [row["kind"], row["clients"], *(percent(row["by_detector"].get(d, {}).get("fp_rate")) for d in detectors)]
        for row in rows
    ]


def print_report(report: dict) -> None:
    detectors = report["detectors"]
    where = f"{report['bench']} (seed {report['seed']}, calibrated on seed {report['calibration_seed']}"
    where += f" at a {report['target_fpr']:.1%} client FPR target{', quick' if report['quick'] else ''})"
    print_table(
        f"{where}: attacks detected @ median queries to the first alert",
        ["attack kind", "clients", *detectors],
        [
            [row["kind"], clients_cell(row), *(detection_cell(row["by_detector"].get(d)) for d in detectors)]
            for row in report["attacks"]
        ],
    )
    print_table(
        f"{where}: per group of attacker variants, attacks pooled",
        ["variants", "clients", *detectors],
        [
            [row["kind"], clients_cell(row), *(detection_cell(row["by_detector"].get(d)) for d in detectors)]
            for row in report["groups"]
        ],
    )
    print_table(
        f"{where}: benign clients flagged (client-level FPR)",
        ["benign kind", "clients", *detectors],
        fpr_rows(report["benign"], detectors),
    )
    if report["leave_one_out"]:
        print_table(
            f"{where}: each benign kind left out of calibration, its FPR on the test timeline",
            ["left-out kind", "test clients", *detectors],
            fpr_rows(report["leave_one_out"], detectors),
        )
    thresholds = report["thresholds"]
    print_table(
        f"{where}: baseline thresholds per model",
        ["detector", "model", "threshold"],
        [[name, model, f"{value:.4g}"] for name, models in thresholds.items() for model, value in models.items()],
    )
    print_table(
        f"{where}: wall seconds (timelines written in {report['write_s']:.0f} s, {report['total_s']:.0f} s in all)",
        ["detector", "calibrate", "run on the test timeline"],
        [[name, fmt(s.get("fit")), fmt(s["run"])] for name, s in report["seconds"].items()],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small timelines, one attacker per kind and variant")
    parser.add_argument("--seed", type=int, default=0, help="test timeline seed; calibration uses seed + 1000")
    parser.add_argument("--bench", choices=[*BENCHES, "both"], default="both")
    parser.add_argument("--target-fpr", type=float, default=0.01, help="client-level FPR target (default 0.01)")
    parser.add_argument("--leave-one-out", action="store_true", help="recalibrate without each benign kind (slow)")
    parser.add_argument(
        "--reference", action="store_true", help="our calibration also learns each model's training data (calibrate --reference)"
    )
    parser.add_argument("--workdir", type=Path, default=WORKDIR / "side_by_side")
    parser.add_argument("--out", type=Path, default=None, help="JSON report (default: benchmarks/results/)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="PyTorch not found")  # ART's notice that its torch parts are off
    reports = []
    for bench in BENCHES if args.bench == "both" else [args.bench]:
        say(f"== {bench}")
        try:
            report = bench_report(
                bench, args.quick, args.seed, args.workdir, args.target_fpr, args.leave_one_out, args.reference
            )
        except ModuleNotFoundError as error:
            if error.name != "art" and not str(error.name).startswith("art."):
                raise
            print(MISSING_ART, file=sys.stderr)
            continue
        print_report(report)
        reports.append(report)
    if not reports:
        return 2
    write_results("side_by_side", {"benches": reports}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
