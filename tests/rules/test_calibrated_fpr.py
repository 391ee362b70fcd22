"""calibrate -> replay on held-out benign simulator traffic: the realised client-level false-positive
rate stays within the target the calibration was fitted for."""

from __future__ import annotations

from pathlib import Path

from detector.commands.calibrate import calibrate
from detector.db.alert_store import AlertStore
from detector.db.engine import make_engine
from detector.commands.replay import replay
from detector.settings import Settings
from detector.simulator import Scenario, write_scenario

BENIGN = {"interactive": 128, "batch": 8, "healthcheck": 8, "retry": 48, "video": 16, "drift": 16, "augment": 32}
TARGET = 0.05


def test_calibrated_thresholds_keep_held_out_benign_clients_within_the_target(tmp_path: Path) -> None:
    sample, _ = write_scenario(Scenario("benign-sample", duration_s=600.0, benign=BENIGN), tmp_path / "sample", seed=5)
    held_out, truth = write_scenario(Scenario("benign-held-out", duration_s=600.0, benign=BENIGN), tmp_path / "test", seed=6)
    output = tmp_path / "calibration.yaml"
    calibration = calibrate([sample], target_fpr=TARGET, settings=Settings(), output=output, progress=False)
    fitted = [s for s in calibration.models.values() if s.thresholds]
    assert fitted and all(s.thresholds for s in calibration.models.values() if s.clients >= 100)
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    replay([str(held_out)], Settings(database_url=url, calibration_file=output), progress=False)
    engine = make_engine(url)
    alerted = {(a.model_id, a.client_id) for a in AlertStore(engine).export()}
    engine.dispose()
    clients = sum(1 for _ in truth.open())
    assert clients > 200
    assert len(alerted) / clients <= TARGET, f"{len(alerted)} of {clients} benign clients alerted: {sorted(alerted)}"
