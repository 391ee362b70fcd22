"""Calibration files: thresholds learned from a deployment's own traffic, per model, with their provenance.

``inversion-detector calibrate`` writes one (:func:`write_calibration`);
``replay --calibration FILE`` and ``run --calibration FILE`` (or
``INVDET_CALIBRATION_FILE``) read it (:func:`load_calibration`), and SIGHUP
reads it again. ``rules check --calibration FILE`` validates it like a rule
file: every problem in one pass, each with ``file:line: field: message``.

The file is YAML meant to be read by people::

    calibration: 1                    # format version
    provenance: {created_at, code_version, target_fpr, confidence, inputs, events, clients, ...}
    default:                          # models the sample did not cover
      thresholds: {neighbourhood-probing: {crowded: 0.031}}
    models:
      digits-classifier:3:
        clients: 412                  # benign clients the fit used
        events: 80211
        excluded_clients: 2           # flagged by a rule calibration does not set
        confident: true               # enough clients for the target at 95% confidence
        flagged: 3                    # sample clients the thresholds flag
        thresholds: {neighbourhood-probing: {crowded: 0.047}}
        benign: {neighbourhood-probing.crowded: {p1: 0.05, p5: 0.21, p50: 0.83, extreme: 0.046}}

Thresholds are named in rules as ``$name`` (see :mod:`rules.condition`); a
rule or name the file gives that the loaded rules do not have is an error, so
a calibration cannot silently miss its rules.

>>> import tempfile, pathlib
>>> text = '''calibration: 1
... provenance: {created_at: "2026-12-02T05:00:00Z", code_version: "0.1.0", target_fpr: 0.01}
... default: {thresholds: {neighbourhood-probing: {crowded: 0.02}}}
... models:
...   m:
...     thresholds: {neighbourhood-probing: {crowded: 0.04}}
... '''
>>> path = pathlib.Path(tempfile.mkdtemp()) / "calibration.yaml"
>>> _ = path.write_text(text)
>>> calibration = load_calibration(path)
>>> calibration.thresholds_for("m"), calibration.thresholds_for("other")
({'neighbourhood-probing': {'crowded': 0.04}}, {'neighbourhood-probing': {'crowded': 0.02}})
>>> _ = path.write_text(text.replace("0.04", "lots"))
>>> load_calibration(path)
Traceback (most recent call last):
...
detector.calibration.CalibrationError: 1 error in calibration file:
...calibration.yaml:6: models.m.thresholds.neighbourhood-probing.crowded: Input should be a valid number, unable to parse string as a number
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rules import RuleSet
from rules.errors import RuleError
from rules.loader import compose_yaml, duplicate_keys, field_path, line_of

Thresholds = dict[str, dict[str, float]]
"""Rule id -> threshold name -> value."""


class CalibrationError(Exception):
    """Every problem found in a calibration file, each with its line and field."""

    def __init__(self, errors: Sequence[RuleError]) -> None:
        self.errors = list(errors)
        count = f"{len(self.errors)} error{'' if len(self.errors) == 1 else 's'}"
        super().__init__("\n".join([f"{count} in calibration file:", *map(str, self.errors)]))


def _finite(thresholds: Thresholds) -> Thresholds:
    for rule_id, names in thresholds.items():
        for name, value in names.items():
            if not math.isfinite(value):
                raise ValueError(f"{rule_id}.{name} must be a finite number, not {value}")
    return thresholds


class Provenance(BaseModel):
    """Where the thresholds came from, so an analyst can tell what a file was fitted on."""

    model_config = ConfigDict(extra="forbid")

    created_at: datetime
    code_version: str
    target_fpr: float = Field(gt=0, lt=1, description="client-level false-positive rate aimed at, per model")
    confidence: float = Field(0.95, gt=0, lt=1)
    inputs: list[str] = Field(default_factory=list)
    events: int = Field(0, ge=0)
    clients: int = Field(0, ge=0)
    excluded_clients: int = Field(0, ge=0)
    min_events: int = Field(0, ge=0, description="clients with fewer events were left out of the fit")


class DefaultSection(BaseModel):
    """Thresholds for models the sample did not cover."""

    model_config = ConfigDict(extra="forbid")

    thresholds: Thresholds = Field(default_factory=dict)
    _check = field_validator("thresholds")(_finite)


class ModelSection(DefaultSection):
    """One model's fitted thresholds and what they were fitted on."""

    clients: int = Field(0, ge=0)
    events: int = Field(0, ge=0)
    excluded_clients: int = Field(0, ge=0)
    confident: bool = False
    flagged: int = Field(0, ge=0)
    benign: dict[str, dict[str, float]] = Field(default_factory=dict)


class Calibration(BaseModel):
    """A whole calibration file."""

    model_config = ConfigDict(extra="forbid")

    calibration: Literal[1] = 1
    provenance: Provenance
    default: DefaultSection = Field(default_factory=DefaultSection)
    models: dict[str, ModelSection] = Field(default_factory=dict)

    def thresholds_for(self, model_id: str) -> Thresholds:
        """The thresholds in force for a model: its own section, else the default section."""
        section = self.models.get(model_id)
        return (section or self.default).thresholds


def load_calibration(path: str | Path, ruleset: RuleSet | None = None) -> Calibration:
    """Read and validate a calibration file; with ``ruleset``, every rule and threshold name must exist
    there. Raises :class:`CalibrationError` listing every problem."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError([RuleError(name, None, None, f"cannot read: {getattr(exc, 'strerror', None) or exc}")])
    try:
        root, data = compose_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = ", ".join(part for part in (exc.context, exc.problem) if part)
        raise CalibrationError([RuleError(name, mark.line + 1 if mark else None, None, f"invalid YAML: {problem}")])
    if root is None or not isinstance(data, dict):
        raise CalibrationError([RuleError(name, 1, None, "expected a mapping with 'calibration: 1', 'provenance' and 'models'")])
    errors = [RuleError(name, line, field, "given twice in one mapping") for field, line in duplicate_keys(root)]
    try:
        calibration = Calibration.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = error["loc"]
            message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
            errors.append(RuleError(name, line_of(root, loc), field_path(loc).lstrip("."), message))
        raise CalibrationError(sorted(errors, key=lambda e: e.line or 0)) from None
    if ruleset is not None:
        errors += _unknown_names(name, root, calibration, ruleset)
    if errors:
        raise CalibrationError(sorted(errors, key=lambda e: e.line or 0))
    return calibration


def _unknown_names(name: str, root: yaml.Node, calibration: Calibration, ruleset: RuleSet) -> list[RuleError]:
    known = {rule.id: set(rule.thresholds) for rule in ruleset}
    sections = [(("default", "thresholds"), calibration.default.thresholds)]
    sections += [(("models", model_id, "thresholds"), s.thresholds) for model_id, s in calibration.models.items()]
    errors = []
    for loc, thresholds in sections:
        for rule_id, names in thresholds.items():
            if rule_id not in known:
                errors.append(RuleError(name, line_of(root, (*loc, rule_id)), field_path((*loc, rule_id)).lstrip("."),
                                        "no loaded rule has this id"))
                continue
            for threshold in names.keys() - known[rule_id]:
                where = (*loc, rule_id, threshold)
                errors.append(RuleError(name, line_of(root, where), field_path(where).lstrip("."),
                                        f"rule {rule_id!r} has no threshold named ${threshold}"))
    return errors


HEADER = (
    "# inversion-detector calibration: rule thresholds learned from this deployment's own traffic.\n"
    "# Each model's thresholds give at most the target client-level false-positive rate on the sample\n"
    "# (with 95% confidence where the sample is large enough; see 'confident'). Written by\n"
    "# `inversion-detector calibrate`; used by `replay/run --calibration FILE`.\n"
)


def write_calibration(calibration: Calibration, path: str | Path) -> None:
    """Write the file (YAML, keys in reading order, a comment header)."""
    data = calibration.model_dump(mode="json")
    text = HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110)
    Path(path).write_text(text, encoding="utf-8")
