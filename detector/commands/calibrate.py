"""``inversion-detector calibrate``: learn each model's rule thresholds from a sample of its normal traffic.

The sample runs through the same pipeline as a replay, with only the shipped
thresholds in force. For every named threshold of the rules (``$name``, see
:mod:`detector.thresholds`) each client's most attack-like value is kept, per
model; clients that a rule calibration does not set flags (the sample may
hold a few attackers, or the owner's own tests) are left out of the fit. Each
model's thresholds then flag at most the target share of its *clients*, with
95% confidence where the sample has enough clients (otherwise a margin beyond
the most extreme one). A default section, the strictest value over the
models, covers models the sample did not see.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from detector import __version__
from detector.assembly import load_ruleset
from detector.calibration import Calibration, DefaultSection, ModelSection, Provenance, write_calibration
from detector.commands.replay import stream_files
from detector.formats import open_decoder
from detector.decide import AlertChange
from detector.pipeline import Pipeline
from detector.settings import Settings
from detector.threshold_policy import SHARED_KEY, ThresholdPolicy
from detector.thresholds import MIN_CLIENTS, fit, nested
from featurizers.input_distribution import InputDistribution, InputModel
from featurizers.training_records import RecordIndex

QUANTILES = {"p1": 0.01, "p5": 0.05, "p50": 0.5}


class _Discard:
    """Alerts raised while calibrating are not kept: only the thresholds are the result."""

    def add(self, changes: list[AlertChange]) -> None:
        pass

    def flush(self) -> dict[str, AlertChange]:
        return {}


def calibrate(
    paths: Sequence[str | Path],
    *,
    target_fpr: float,
    settings: Settings,
    output: str | Path | None = None,
    progress: bool | None = None,
    references: Mapping[str, np.ndarray] | None = None,
) -> Calibration:
    """Fit per-model thresholds on the events in ``paths`` and write them to ``output`` (when given), with
    each model's learned input distribution beside it. ``references`` (model id -> records of its inputs)
    teach a model's input distribution before the sample runs, so the sample is scored against it."""
    ruleset = load_ruleset(settings)
    pipeline = Pipeline(settings.model_copy(update={"calibration_file": None}), ruleset)
    for featurizer in pipeline.extractor.featurizers:
        featurizer.trusted_after = 0  # the sample is the deployment's normal traffic: every unflagged client teaches
    policy = pipeline.rules.thresholds = ThresholdPolicy(ruleset, collect=True, max_clients=10_000_000)
    for model_id, records in (references or {}).items():
        pipeline.store.model(model_id).shared[InputDistribution.name] = InputModel.from_records(records)
    summary, _ = stream_files([str(p) for p in paths], pipeline, _Discard(), progress=progress,  # type: ignore[arg-type]
                              decoder=open_decoder(settings))  # fmt: skip
    sections = fit_models(pipeline, policy, target_fpr)
    for model_id in sorted(set(references or {}) - set(sections)):
        print(f"inversion-detector: warning: --reference {model_id}: the sample has no traffic of this model, so "
              "no section keeps its input distribution", file=sys.stderr)  # fmt: skip
    calibration = Calibration(
        provenance=Provenance(
            created_at=datetime.now(timezone.utc).replace(microsecond=0),
            code_version=__version__,
            target_fpr=target_fpr,
            inputs=[str(p) for p in paths],
            events=summary.accepted,
            clients=sum(section.clients + section.excluded_clients for section in sections.values()),
            excluded_clients=sum(section.excluded_clients for section in sections.values()),
            min_events=policy.min_events,
        ),
        default=DefaultSection(thresholds=strictest(policy, sections)),
        models=sections,
    )
    if output is not None:
        reference_records = {model_id: len(records) for model_id, records in (references or {}).items()}
        indexes = {model_id: RecordIndex.from_records(records) for model_id, records in (references or {}).items()}
        write_calibration(calibration, output, input_models=input_models(pipeline), reference_records=reference_records,
                          record_indexes=indexes)  # fmt: skip
    return calibration


def input_models(pipeline: Pipeline) -> dict[str, InputModel]:
    """Each model's input distribution as the calibration's pass left it."""
    found = {}
    for model_id, model in pipeline.store.models.items():
        learned = model.shared.get(InputDistribution.name)
        if isinstance(learned, InputModel) and learned.size:
            found[model_id] = learned
    return found


def fit_models(pipeline: Pipeline, policy: ThresholdPolicy, target_fpr: float) -> dict[str, ModelSection]:
    """Each model's section from the extremes the pipeline collected."""
    sections: dict[str, ModelSection] = {}
    for model_id, model in sorted(pipeline.store.models.items()):
        state = model.shared.get(SHARED_KEY)
        if state is None:
            continue
        extremes = state.extremes
        matrix = extremes.matrix(policy.min_events)
        fitted, info = fit(matrix, policy.learner.targets, target_fpr)
        benign = {}
        for j, target in enumerate(policy.learner.targets):
            column = matrix[:, j][~np.isnan(matrix[:, j])]
            if len(column) == 0:
                continue
            tail = (lambda q: float(np.quantile(column, q))) if target.falling else (lambda q: float(np.quantile(column, 1 - q)))
            benign[target.key] = {name: tail(q) for name, q in QUANTILES.items()}
            benign[target.key]["extreme"] = float(column.min() if target.falling else column.max())
        sections[model_id] = ModelSection(
            thresholds=nested(fitted),
            clients=info["clients"],
            events=sum(extremes.events.values()),
            excluded_clients=len(extremes.excluded),
            confident=info["confident"],
            flagged=info["flagged"],
            benign=benign,
        )
    return sections


def strictest(policy: ThresholdPolicy, sections: dict[str, ModelSection]) -> dict[str, dict[str, float]]:
    """Per threshold, the value over the models that flags fewest clients; the shipped value where no
    model has one."""
    out: dict[str, dict[str, float]] = {}
    for target in policy.learner.targets:
        values = [s.thresholds[target.rule_id][target.name] for s in sections.values()
                  if target.name in s.thresholds.get(target.rule_id, {})]
        value = (min(values) if target.falling else max(values)) if values else policy.shipped[target.rule_id][target.name]
        out.setdefault(target.rule_id, {})[target.name] = value
    return out


def print_calibration(calibration: Calibration, output: str | Path, out=None) -> None:
    """What was fitted, per model, in a few lines."""
    out = out or sys.stdout
    p = calibration.provenance
    out.write(f"calibrated {len(calibration.models)} model(s) on {p.events:,} events from {p.clients:,} clients "
              f"at a client-level target of {p.target_fpr:g}; written to {output}\n")
    for model_id, section in calibration.models.items():
        values = ", ".join(f"{rule}.{name} = {value:.4g}" for rule, names in section.thresholds.items()
                           for name, value in names.items())
        note = "" if section.confident else (
            " (too few clients for 95% confidence: a margin beyond the most extreme)" if section.thresholds
            else f" (fewer than {MIN_CLIENTS} clients: the default section covers it)"
        )
        out.write(f"  {model_id}: {section.clients} clients ({section.excluded_clients} left out), "
                  f"{section.flagged} flagged in the sample: {values or 'nothing to fit'}{note}\n")
        learned = section.input_model
        if learned is not None:
            fitted = f"{learned.components} principal components" if learned.components else "not fitted yet"
            given = f", {learned.reference_records:,} of them --reference records" if learned.reference_records else ""
            out.write(f"    input distribution: {learned.sample:,} inputs kept{given}; {fitted}\n")
    if calibration.inputs is not None:
        out.write(f"input distributions written to {calibration.inputs.file} beside it\n")
