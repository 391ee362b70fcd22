"""The calibration benchmark runs on the tiny scenario and reports benign extremes beside the attacker's."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import calibrate


def test_calibration_reports_benign_extremes_beside_each_attack(tmp_path: Path, capsys) -> None:
    out = tmp_path / "calibration.json"
    assert calibrate.main(["--scenarios", "tiny", "--min-events", "16", "--out", str(out)]) == 0
    report = json.loads(out.read_text())["tiny"]
    walk = report["near_dup_frac"]
    assert walk["direction"] == "rises" and walk["benign_clients"] >= 3
    assert walk["attacks"]["inversion"] > walk["benign_extreme"]
    assert report["nn_distance_median"]["direction"] == "falls"
    assert "near_dup_frac" in capsys.readouterr().out
