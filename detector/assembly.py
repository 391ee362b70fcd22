"""Wiring the stages for a run: database, rules, pipeline and sinks from settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from detector.calibration import Calibration, load_calibration
from detector.db.alert_store import AlertStore
from detector.db.engine import make_engine
from detector.db.migrate import ensure_schema
from detector.group_ids import GroupIds
from detector.pipeline import Pipeline
from detector.settings import Settings
from detector.sinks.alert_sink import AlertSink
from featurizers.registry import ALL_FEATURES
from rules import RuleSet, load_rules


def load_ruleset(settings: Settings) -> RuleSet:
    """Built-in rules plus the configured extra rule paths; raises RuleLoadError listing every problem."""
    return load_rules(settings.rules, include_builtin=True, known_features=ALL_FEATURES)


def load_rules_and_calibration(settings: Settings) -> tuple[RuleSet, Calibration | None]:
    """The rules, and the calibration file checked against them (None without one); raises
    RuleLoadError or CalibrationError listing every problem."""
    ruleset = load_ruleset(settings)
    if settings.calibration_file is None:
        return ruleset, None
    return ruleset, load_calibration(settings.calibration_file, ruleset)


def open_store(settings: Settings) -> tuple[Engine, AlertStore]:
    """Connect (one-line error if that fails) and create the schema in an empty database."""
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    return engine, AlertStore(engine)


@dataclass
class Assembly:
    engine: Engine
    store: AlertStore
    pipeline: Pipeline
    alert_sink: AlertSink


def assemble(settings: Settings) -> Assembly:
    """Everything a run needs; rules are checked before the database is touched."""
    ruleset, calibration = load_rules_and_calibration(settings)
    engine, store = open_store(settings)
    groups = GroupIds(lookup=store.find_group, max_members=settings.max_clients)
    pipeline = Pipeline(settings, ruleset, lookup=store.find_open, groups=groups, calibration=calibration)
    sink = AlertSink(engine, webhook_enabled=settings.webhook_url is not None)
    return Assembly(engine, store, pipeline, sink)
