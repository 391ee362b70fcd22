"""``calibrate --reference``: a model's own records teach its input distribution, which the calibration file
carries beside it (round trip), so a run scores queries against it from the first one: random points are off
it, a shifted copy of the population is not."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import orjson
import pytest

from detector.assembly import load_ruleset
from detector.calibration import CalibrationError, load_calibration
from detector.cli import main
from detector.commands.calibrate import calibrate
from detector.event import InferenceEvent
from detector.pipeline import Pipeline
from detector.reference import ReferenceFileError, load_references
from detector.settings import Settings
from featurizers.state import StateStore

DIM = 12
BASIS = np.random.default_rng(7).normal(size=(3, DIM))


def population(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    """A correlated Gaussian population: 3 latent factors (moved by ``shift`` each) and a little noise."""
    return ((rng.normal(size=(n, 3)) + shift) @ BASIS + 0.05 * rng.normal(size=(n, DIM))).astype(np.float32)


def sample_file(path: Path, rng: np.random.Generator) -> Path:
    """Normal traffic: 60 clients of 40 queries from the population."""
    lines = []
    for i in range(60 * 40):
        x = population(rng, 1)[0]
        lines.append(orjson.dumps({"event_id": str(uuid.UUID(int=i + 1)), "ts": 1.8e9 + i, "client_id": f"user{i % 60}",
                                   "model_id": "m", "input": x.round(5).tolist(), "output": {"scores": [0.4, 0.6]}}))  # fmt: skip
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reference")
    rng = np.random.default_rng(0)
    np.save(folder / "train.npy", population(rng, 3000))
    output = folder / "calibration.yaml"
    code = main(["calibrate", str(sample_file(folder / "sample.jsonl", rng)), "--reference", f"m={folder / 'train.npy'}",
                 "--output", str(output), "--no-progress"])  # fmt: skip
    assert code == 0
    return output


def test_the_learned_input_distribution_round_trips_with_the_file(calibrated: Path) -> None:
    calibration = load_calibration(calibrated)
    section = calibration.models["m"].input_model
    assert section is not None and section.reference_records == 3000 and section.dim == DIM and section.components >= 3
    learned = calibration.input_models["m"]
    assert learned.components.shape == (section.components, DIM) and learned.size == section.sample
    assert (calibrated.parent / calibration.inputs.file).is_file()


def test_a_calibrated_model_takes_its_settled_input_scale_from_the_file_in_every_process(calibrated: Path) -> None:
    learned = load_calibration(calibrated).input_models["m"]
    scales = []
    for _ in range(2):  # two processes reading one file
        store = StateStore(window=8)
        load_calibration(calibrated).seed(store)
        model = store.model("m")
        assert model.scale.source == "calibration"
        model.observe_input(np.full(DIM, 100.0, dtype=np.float32))  # later inputs do not move it
        scales.append(model.scale.current(DIM))
    assert scales[0].same_as(scales[1])
    np.testing.assert_allclose(scales[0].centre, learned.mean)
    np.testing.assert_allclose(scales[0].weights, 1.0 / (learned.scale * np.sqrt(DIM)), rtol=1e-6)


def offness(pipeline: Pipeline, client: str, inputs: np.ndarray) -> float:
    """The client's share of off-distribution queries after sending ``inputs``."""
    for i, x in enumerate(inputs):
        pipeline.process(InferenceEvent(event_id=f"{client}-{i}", ts=1.9e9 + i, client_id=client, model_id="m",
                                        input=x.tolist(), output={"scores": [0.4, 0.6]}))  # fmt: skip
    state = pipeline.store.clients[("m", client)]
    return pipeline.extractor.features(state, pipeline.store.model("m"))["off_distribution_frac"]


def test_a_run_scores_the_first_queries_against_it(calibrated: Path) -> None:
    settings = Settings(calibration_file=calibrated)
    pipeline = Pipeline(settings, load_ruleset(settings), calibration=load_calibration(calibrated))
    rng = np.random.default_rng(1)
    assert offness(pipeline, "sweeper", rng.uniform(-4, 4, size=(30, DIM))) > 0.9
    assert offness(pipeline, "other-hospital", population(rng, 30, shift=1.5)) < 0.1
    cold = Pipeline(Settings(), load_ruleset(Settings()))
    assert offness(cold, "sweeper", rng.uniform(-4, 4, size=(30, DIM))) < 0.5  # nothing learned yet


def test_a_changed_inputs_file_is_refused_with_its_line(calibrated: Path, tmp_path: Path) -> None:
    copy = tmp_path / "calibration.yaml"
    copy.write_text(calibrated.read_text())
    inputs = load_calibration(calibrated).inputs.file
    (tmp_path / inputs).write_bytes((calibrated.parent / inputs).read_bytes() + b"\0")
    with pytest.raises(CalibrationError, match=r"calibration.yaml:\d+: inputs.sha256: .*changed"):
        load_calibration(copy)


def test_references_in_every_format_and_their_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = population(np.random.default_rng(2), 5)
    np.save(tmp_path / "a.npy", records)
    (tmp_path / "b.csv").write_text(",".join(f"f{i}" for i in range(DIM)) + "\n" + "\n".join(",".join(map(str, r)) for r in records))
    (tmp_path / "c.jsonl").write_bytes(b"\n".join(orjson.dumps({"input": r.tolist()}) for r in records))
    found = load_references([f"m={tmp_path / 'a.npy'}", f"m={tmp_path / 'b.csv'}", f"m={tmp_path / 'c.jsonl'}"])
    assert found["m"].shape == (15, DIM) and np.allclose(found["m"][5:10], records, atol=1e-5)
    with pytest.raises(ReferenceFileError, match="needs its model id"):
        load_references([str(tmp_path / "a.npy")])
    with pytest.raises(ReferenceFileError, match="other references gave"):
        load_references([f"m={tmp_path / 'a.npy'}", f"m={tmp_path / 'a.npy'}", f"m={_narrow(tmp_path)}"])
    assert main(["calibrate", str(tmp_path / "c.jsonl"), "--reference", f"m={tmp_path / 'missing.npy'}", "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "--reference" in err and "missing.npy: no such file" in err


def _narrow(folder: Path) -> Path:
    path = folder / "narrow.npy"
    np.save(path, np.zeros((3, DIM - 1), dtype=np.float32))
    return path


def test_calibrating_without_a_reference_keeps_what_the_sample_taught(tmp_path: Path) -> None:
    found = calibrate([sample_file(tmp_path / "s.jsonl", np.random.default_rng(3))], target_fpr=0.01,
                      settings=Settings(), output=tmp_path / "c.yaml", progress=False)  # fmt: skip
    assert found.models["m"].input_model.reference_records == 0
    assert load_calibration(tmp_path / "c.yaml").input_models["m"].size > 0


def fired(pipeline: Pipeline, client: str, inputs: np.ndarray) -> set[str]:
    """The rule detectors the client's queries raised."""
    out = set()
    for i, x in enumerate(inputs):
        changes = pipeline.process(InferenceEvent(event_id=f"{client}-{i}", ts=2.0e9 + i, client_id=client, model_id="m",
                                                  input=x.tolist(), output={"scores": [0.4, 0.6]}))  # fmt: skip
        out |= {change.alert.detector for change in changes}
    return out


def test_perturbations_of_training_records_are_alerted_and_the_records_themselves_are_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    records = rng.standard_normal((3000, DIM)).astype(np.float32)  # real records are far apart in many dimensions
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(b"\n".join(
        orjson.dumps({"event_id": f"s{i}", "ts": 1.8e9 + i, "client_id": f"user{i % 60}", "model_id": "m",
                      "input": rng.standard_normal(DIM).round(5).tolist(), "output": {"scores": [0.4, 0.6]}})
        for i in range(2400)
    ))  # fmt: skip
    calibrate([sample], target_fpr=0.01, settings=Settings(), output=tmp_path / "c.yaml", progress=False,
              references={"m": records})  # fmt: skip
    calibration = load_calibration(tmp_path / "c.yaml")
    assert calibration.models["m"].input_model.indexed_records == 3000
    assert set(calibration.record_indexes["m"].arrays()) == {"centre", "weights", "near_keys", "at_keys"}  # no record
    settings = Settings(calibration_file=tmp_path / "c.yaml")
    pipeline = Pipeline(settings, load_ruleset(settings), calibration=calibration)
    perturbed = lambda xs: np.vstack([np.vstack([x, x + 0.03 * rng.standard_normal((24, DIM))]) for x in xs])  # noqa: E731
    assert "rule:training-data-probing" in fired(pipeline, "member-prober", perturbed(records[:8]))
    assert "rule:training-data-probing" not in fired(pipeline, "evaluation-job", records[100:300])
    assert "rule:training-data-probing" not in fired(pipeline, "augmenting-user", perturbed(rng.standard_normal((8, DIM))))


def test_without_a_reference_calibration_learns_from_every_client_of_its_sample_however_short(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    output = tmp_path / "calibration.yaml"
    calibrate([sample_file(tmp_path / "sample.jsonl", rng)], target_fpr=0.01, settings=Settings(), output=output,
              progress=False)  # 60 clients of 40 queries, none of them past a live run's trust delay  # fmt: skip
    section = load_calibration(output).models["m"].input_model
    assert section is not None and section.sample == 60 * 16 and section.components >= 3
