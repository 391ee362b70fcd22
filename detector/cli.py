"""``inversion-detector``: the command line.

Settings come from defaults, then ``INVDET_*`` environment variables, then the
flags given here. Errors a user can fix (a bad database URL, a missing file,
an invalid rule) are one clear line and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from detector import __version__
from detector.alert import SEVERITIES, STATUSES
from detector.db.alert_store import AlertFilter, AlertNotFound, AlertStore, parse_time
from detector.db.engine import DatabaseError, make_engine
from detector.db.migrate import SchemaOutOfDate, current_revision, ensure_schema, upgrade
from detector.formats import INPUT_FORMATS
from detector.settings import ConfigError, Settings
from detector.sources.file_source import SourceError
from detector.calibration import CalibrationError
from rules import RuleLoadError

EXIT_USAGE = 2


def _input_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-format", choices=INPUT_FORMATS,
        help="what the records hold: native events, KServe logger CloudEvents, OIP request/response pairs, "
             "or auto (told per record) (env INVDET_INPUT_FORMAT; default native)",
    )  # fmt: skip
    parser.add_argument(
        "--client-id-header", metavar="HEADER",
        help="kserve/oip: the logged request header naming the client, e.g. X-Api-Key (env INVDET_CLIENT_ID_HEADER)",
    )  # fmt: skip


def _common(parser: argparse.ArgumentParser, *, kafka: bool = False, rules: bool = False) -> None:
    parser.add_argument("--database-url", help="alert store URL (env INVDET_DATABASE_URL; default sqlite:///./inversion-detector.db)")
    parser.add_argument("--config", metavar="FILE", help="TOML settings file (env INVDET_CONFIG)")
    if rules:
        parser.add_argument(
            "--calibration", metavar="FILE", help="calibration file from `calibrate` (env INVDET_CALIBRATION_FILE)"
        )
        parser.add_argument(
            "--rules", action="append", metavar="PATH", help="extra rule file or folder, repeatable (env INVDET_RULES)"
        )
    if kafka:
        parser.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (env INVDET_KAFKA_BOOTSTRAP_SERVERS)")
        parser.add_argument("--topic", help="inference-log topic (env INVDET_KAFKA_TOPIC; default inference-logs)")
        parser.add_argument("--group-id", help="consumer group (env INVDET_KAFKA_GROUP_ID; default inversion-detector)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inversion-detector",
        description="Detect model-inversion, extraction and black-box evasion attacks in ML inference logs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    replay = commands.add_parser("replay", help="run the full pipeline over JSONL files (plain or .gz)")
    replay.add_argument("files", nargs="+", metavar="FILE", help="inference-event JSONL files, replayed in order")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    _input_format(replay)
    _common(replay, rules=True)

    run = commands.add_parser("run", help="consume inference events from Kafka as a long-lived worker")
    _input_format(run)
    _common(run, kafka=True, rules=True)

    webhook = commands.add_parser("webhook", help="deliver alerts from the outbox to the webhook, without a worker")
    _common(webhook)

    demo = commands.add_parser("demo", help="simulated benign and attacking clients through the real pipeline")
    demo.add_argument("--out", default="demo", help="folder for the traffic and its alert database (default ./demo)")
    demo.add_argument("--seed", type=int, default=0, help="simulation seed")

    simulate = commands.add_parser("simulate", help="write a simulated scenario as JSONL with ground truth")
    simulate.add_argument("scenario", help="scenario name (demo, tiny, standard, careful)")
    simulate.add_argument("--out", default=".", help="output folder")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--benign-only", action="store_true", help="only the benign clients (a calibration timeline)")
    simulate.add_argument(
        "--kserve", action="store_true", help="also write the events as KServe logger CloudEvents (<name>.kserve.jsonl)"
    )

    alerts = commands.add_parser("alerts", help="list, show, export and triage alerts")
    alert_commands = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    listing = alert_commands.add_parser("list", help="newest alerts first, filtered")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--severity", choices=SEVERITIES)
    listing.add_argument("--client", help="exact client id")
    listing.add_argument("--model", help="exact model id")
    listing.add_argument("--detector", help="e.g. rule:confidence-climb")
    listing.add_argument("--group", help="exact group id: every alert of one split attack")
    listing.add_argument("--since", type=parse_time, help="created at or after this RFC 3339 time")
    listing.add_argument("--limit", type=int, default=50)
    _common(listing)
    show = alert_commands.add_parser("show", help="everything about one alert (id or unique prefix)")
    show.add_argument("alert_id")
    _common(show)
    export = alert_commands.add_parser("export", help="every alert as the alert contract's JSON, oldest first")
    export.add_argument("--format", choices=["jsonl"], default="jsonl")
    _common(export)
    for action, status in (("ack", "acknowledged"), ("resolve", "resolved"), ("false-positive", "false_positive")):
        change = alert_commands.add_parser(action, help=f"mark an alert {status.replace('_', ' ')}")
        change.add_argument("alert_id")
        change.add_argument("--note", help="why (kept in the status history)")
        change.set_defaults(new_status=status)
        _common(change)
    redeliver = alert_commands.add_parser("redeliver", help="queue an alert's webhook delivery again, or every failed one")
    target = redeliver.add_mutually_exclusive_group(required=True)
    target.add_argument("alert_id", nargs="?", help="id or unique prefix")
    target.add_argument("--failed", action="store_true", help="every delivery that failed")
    _common(redeliver)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    _common(db_commands.add_parser("upgrade", help="apply the schema migrations"))
    _common(db_commands.add_parser("current", help="print the schema revision"))

    rules = commands.add_parser("rules", help="rule files")
    rule_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rule_commands.add_parser("check", help="validate rule files; every error with file:line")
    check.add_argument("paths", nargs="*", metavar="PATH")
    check.add_argument("--calibration", metavar="FILE", help="also validate a calibration file against the rules")

    calibrate = commands.add_parser(
        "calibrate", help="learn each model's rule thresholds from a sample of its normal traffic"
    )
    calibrate.add_argument("files", nargs="+", metavar="EVENTS", help="inference-event JSONL files (.gz too)")
    calibrate.add_argument(
        "--target-fpr", type=float, default=0.01, help="client-level false-positive rate per model (default 0.01)"
    )
    calibrate.add_argument("--output", "-o", default="calibration.yaml", help="file to write (default calibration.yaml)")
    calibrate.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    calibrate.add_argument(
        "--reference", action="append", default=[], metavar="[MODEL_ID=]FILE",
        help="records of a model's own inputs (training or held-out data: .npy, .csv, or .jsonl of events or "
        '{"input": [...]} lines) to learn its input distribution from before the sample; repeatable',
    )  # fmt: skip
    _common(calibrate, rules=True)

    console = commands.add_parser("console", help="web console to triage alerts, with evidence plots")
    console.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1; beyond loopback needs INVDET_CONSOLE_TOKEN)")
    console.add_argument("--port", type=int, default=8686, help="listen port (default 8686)")
    _common(console)

    config = commands.add_parser("config", help="effective configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    _common(config_commands.add_parser("show", help="print the settings in force, secrets masked"), kafka=True, rules=True)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment-backed settings with the flags given on the command line on top."""
    flags = {
        "database_url": getattr(args, "database_url", None),
        "kafka_bootstrap_servers": getattr(args, "bootstrap_servers", None),
        "kafka_topic": getattr(args, "topic", None),
        "kafka_group_id": getattr(args, "group_id", None),
        "calibration_file": getattr(args, "calibration", None),
        "input_format": getattr(args, "input_format", None),
        "client_id_header": getattr(args, "client_id_header", None),
    }
    overrides = {name: value for name, value in flags.items() if value is not None}
    settings = Settings.load(getattr(args, "config", None), **overrides)
    extra_rules = getattr(args, "rules", None)
    if extra_rules:
        settings = settings.model_copy(update={"rules": [*settings.rules, *extra_rules]})
    return settings


def _store(settings: Settings) -> AlertStore:
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    return AlertStore(engine)


def dispatch(args: argparse.Namespace) -> int:
    """Run the chosen command; imports are local so each command loads only what it needs."""
    if args.command == "rules":
        from featurizers.registry import ALL_FEATURES
        from rules.check import main as check_rules

        return check_rules([*args.paths, *(["--calibration", args.calibration] if args.calibration else [])],
                           known_features=ALL_FEATURES)
    if args.command == "simulate":
        from detector.simulator.__main__ import main as simulate

        flags = ["--benign-only"] * args.benign_only + ["--kserve"] * args.kserve
        return simulate([args.scenario, "--out", args.out, "--seed", str(args.seed), *flags])
    settings = settings_from(args)
    if args.command == "replay":
        from detector.commands.replay import print_summary, replay

        summary, dead_letters = replay(args.files, settings, progress=False if args.no_progress else None)
        print_summary(summary, [str(p) for p in dead_letters.paths.values()])
        return 0
    if args.command == "calibrate":
        from detector.commands.calibrate import calibrate, print_calibration

        from detector.reference import ReferenceFileError, load_references

        if not 0 < args.target_fpr < 0.5:
            raise ConfigError([f"--target-fpr must be between 0 and 0.5, not {args.target_fpr}"])
        try:
            references = load_references(args.reference)
        except ReferenceFileError as exc:
            raise ConfigError([f"--reference {exc}"]) from None
        found = calibrate(args.files, target_fpr=args.target_fpr, settings=settings, output=args.output,
                          progress=False if args.no_progress else None, references=references)
        print_calibration(found, args.output)
        return 0
    if args.command == "run":
        from detector.commands.run import run_worker

        return run_worker(settings)
    if args.command == "webhook":
        from detector.commands.webhook import run_dispatcher

        return run_dispatcher(settings)
    if args.command == "demo":
        from detector.commands.demo import demo

        return demo(args.out, args.seed, settings)
    if args.command == "console":
        from detector.console.server import serve

        return serve(settings, host=args.host, port=args.port)
    if args.command == "config":
        for name, value in settings.masked().items():
            print(f"{name} = {value!r}")
        return 0
    if args.command == "db":
        engine = make_engine(settings.database_url)
        if args.db_command == "upgrade":
            upgrade(engine)
        print(f"schema revision: {current_revision(engine)}")
        return 0
    from detector.commands import alerts

    store = _store(settings)
    action = args.alerts_command
    if action == "list":
        where = AlertFilter(
            args.status, args.severity, args.client, args.model, args.detector, args.group, args.since, args.limit
        )
        return alerts.list_alerts(store, where)
    if action == "show":
        return alerts.show_alert(store, args.alert_id)
    if action == "export":
        return alerts.export_alerts(store)
    if action == "redeliver":
        from detector.commands.webhook import redeliver

        return redeliver(store, None if args.failed else args.alert_id, settings)
    return alerts.change_status(store, args.alert_id, args.new_status, args.note)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return dispatch(args)
    except (DatabaseError, SourceError, SchemaOutOfDate, AlertNotFound) as exc:
        print(f"inversion-detector: error: {exc}", file=sys.stderr)
    except ConfigError as exc:
        for error in exc.errors:
            print(f"inversion-detector: error: {error}", file=sys.stderr)
    except (RuleLoadError, CalibrationError) as exc:
        for error in exc.errors:
            print(f"inversion-detector: error: {error}", file=sys.stderr)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            where = ".".join(str(p) for p in error["loc"])
            print(f"inversion-detector: error: setting {where}: {error['msg']}", file=sys.stderr)
    except BrokenPipeError:
        return 0
    return EXIT_USAGE
