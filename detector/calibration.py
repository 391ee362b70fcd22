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

Beside it, ``<name>.inputs.npz`` keeps what ``calibrate`` learned of each
model's input distribution (a sample of its inputs and the principal subspace
fitted on them, from the sample's traffic and any ``--reference`` records):
the YAML names it with its sha256 (``inputs: {file, sha256}``) and each
model's ``input_model`` section says what it holds. A run with the file scores
every query of a calibrated model against that distribution from the first
one, instead of waiting for the model's own traffic to fill a reservoir.

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

import copy
import hashlib
import io
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from featurizers.input_distribution import InputDistribution, InputModel
from featurizers.state import StateStore
from featurizers.training_records import RecordIndex, TrainingRecords
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


class InputsFile(BaseModel):
    """The arrays file written beside the calibration file (NumPy .npz): each model's learned inputs."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="its name, in the calibration file's folder")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of its bytes: a file that changed is refused")


class InputModelRef(BaseModel):
    """Where a model's learned input distribution is kept: arrays in the file beside this one."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="the model's arrays in the inputs file are named '<key>/...'")
    dim: int = Field(ge=1, description="input values")
    sample: int = Field(ge=1, description="inputs kept to refit it from")
    components: int = Field(0, ge=0, description="principal components of its fit (0: not fitted yet)")
    reference_records: int = Field(0, ge=0, description="of the inputs it learned from, records given with --reference")
    indexed_records: int = Field(0, ge=0, description="--reference records whose hashed keys are kept (no record itself)")


class ModelSection(DefaultSection):
    """One model's fitted thresholds and what they were fitted on."""

    clients: int = Field(0, ge=0)
    events: int = Field(0, ge=0)
    excluded_clients: int = Field(0, ge=0)
    confident: bool = False
    flagged: int = Field(0, ge=0)
    benign: dict[str, dict[str, float]] = Field(default_factory=dict)
    input_model: InputModelRef | None = None


class Calibration(BaseModel):
    """A whole calibration file."""

    model_config = ConfigDict(extra="forbid")

    calibration: Literal[1] = 1
    provenance: Provenance
    inputs: InputsFile | None = None
    default: DefaultSection = Field(default_factory=DefaultSection)
    models: dict[str, ModelSection] = Field(default_factory=dict)
    _input_models: dict[str, InputModel] = PrivateAttr(default_factory=dict)
    _record_indexes: dict[str, RecordIndex] = PrivateAttr(default_factory=dict)

    def thresholds_for(self, model_id: str) -> Thresholds:
        """The thresholds in force for a model: its own section, else the default section."""
        section = self.models.get(model_id)
        return (section or self.default).thresholds

    @property
    def input_models(self) -> dict[str, InputModel]:
        """model id -> its input distribution as learned by ``calibrate`` (read from the inputs file)."""
        return self._input_models

    @property
    def record_indexes(self) -> dict[str, RecordIndex]:
        """model id -> the hashed index of its ``--reference`` records (read from the inputs file)."""
        return self._record_indexes

    def seed(self, store: StateStore) -> None:
        """Give every calibrated model that ``store`` has not seen its learned input distribution, so its
        queries are scored against it from the first one (a copy each: the pipeline keeps learning), its
        settled input scale (that distribution's mean and spread: the same in every process that reads
        this file, from the first event) and the index of its training records."""
        for model_id in self._input_models.keys() | self._record_indexes.keys():
            if model_id in store.models:
                continue
            model = store.model(model_id)
            shared = model.shared
            if model_id in self._input_models:
                learned = self._input_models[model_id]
                shared[InputDistribution.name] = copy.deepcopy(learned)
                scale = learned.input_scale()
                if scale is not None:
                    model.scale.adopt(scale, "calibration")
            if model_id in self._record_indexes:
                shared[TrainingRecords.name] = self._record_indexes[model_id]


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
    if calibration.inputs is not None:
        errors += _read_inputs(Path(path), root, calibration)
    if errors:
        raise CalibrationError(sorted(errors, key=lambda e: e.line or 0))
    return calibration


def _read_inputs(path: Path, root: yaml.Node, calibration: Calibration) -> list[RuleError]:
    """Load the inputs file's models into ``calibration``; the problems found, each at its line."""
    inputs = calibration.inputs
    where = path.parent / inputs.file
    fail = lambda loc, message: [RuleError(str(path), line_of(root, loc), field_path(loc).lstrip("."), message)]  # noqa: E731
    try:
        blob = where.read_bytes()
    except OSError as exc:
        return fail(("inputs", "file"), f"cannot read {where}: {exc.strerror or exc}")
    if hashlib.sha256(blob).hexdigest() != inputs.sha256:
        return fail(("inputs", "sha256"), f"{where} changed since this file was written (its sha256 differs)")
    try:
        arrays = np.load(io.BytesIO(blob), allow_pickle=False)
        for model_id, section in calibration.models.items():
            ref = section.input_model
            if ref is None:
                continue
            prefix = f"{ref.key}/"
            own = {name[len(prefix):]: arrays[name] for name in arrays.files if name.startswith(prefix)}
            calibration._input_models[model_id] = InputModel.from_arrays(own)
            if ref.indexed_records:
                index = {name[len(INDEX):]: value for name, value in own.items() if name.startswith(INDEX)}
                calibration._record_indexes[model_id] = RecordIndex.from_arrays(index)
    except (ValueError, KeyError, OSError) as exc:
        return fail(("inputs", "file"), f"{where}: unreadable input model: {exc}")
    return []


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


INDEX = "index_"
"""Prefix of a model's record-index arrays in the inputs file."""


def write_calibration(
    calibration: Calibration,
    path: str | Path,
    input_models: Mapping[str, InputModel] | None = None,
    reference_records: Mapping[str, int] | None = None,
    record_indexes: Mapping[str, RecordIndex] | None = None,
) -> None:
    """Write the file (YAML, keys in reading order, a comment header) and, with ``input_models``, the inputs
    file beside it (``<name>.inputs.npz``), referenced from the YAML with its sha256; ``reference_records``
    counts the ``--reference`` records each model's input distribution learned from, ``record_indexes``
    holds their hashed keys."""
    path = Path(path)
    if input_models:
        arrays = {}
        for i, (model_id, learned) in enumerate(sorted(input_models.items())):
            if model_id in calibration.models:
                key = f"m{i}"
                arrays.update({f"{key}/{name}": value for name, value in learned.arrays().items()})
                index = (record_indexes or {}).get(model_id)
                if index is not None:
                    arrays.update({f"{key}/{INDEX}{name}": value for name, value in index.arrays().items()})
                section = calibration.models[model_id]
                section.input_model = InputModelRef(
                    key=key, dim=learned.dim, sample=learned.size,
                    components=0 if learned.components is None else len(learned.components),
                    reference_records=(reference_records or {}).get(model_id, 0),
                    indexed_records=(reference_records or {}).get(model_id, 0) if index is not None else 0,
                )  # fmt: skip
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        blob = buffer.getvalue()
        inputs_path = path.with_name(f"{path.name.removesuffix('.yaml').removesuffix('.yml')}.inputs.npz")
        inputs_path.write_bytes(blob)
        calibration.inputs = InputsFile(file=inputs_path.name, sha256=hashlib.sha256(blob).hexdigest())
    data = calibration.model_dump(mode="json", exclude_none=True)
    text = HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110)
    Path(path).write_text(text, encoding="utf-8")
