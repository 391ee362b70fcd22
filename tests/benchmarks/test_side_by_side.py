"""The side-by-side benchmark runs end to end on a tiny timeline: every detector, every kind, leave-one-out."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from benchmarks import side_by_side
from benchmarks.baselines import BASELINES
from detector.simulator import SCENARIOS


def tiny_scenarios(quick: bool):
    test = SCENARIOS["tiny"]
    return test, dataclasses.replace(test, name="tiny-calibration", attacks={})


def test_every_detector_is_judged_on_the_same_clients(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(side_by_side, "simulator_scenarios", tiny_scenarios)
    out = tmp_path / "side_by_side.json"
    options = ["--bench", "simulator", "--leave-one-out", "--target-fpr", "0.2"]
    assert side_by_side.main([*options, "--workdir", str(tmp_path), "--out", str(out)]) == 0
    (report,) = json.loads(out.read_text())["benches"]
    assert report["detectors"][0] == side_by_side.DEFAULTS and set(BASELINES) <= set(report["detectors"])
    (inversion,) = report["attacks"]  # the tiny scenario's one attacker, judged by every detector
    assert inversion["kind"].startswith("inversion") and set(inversion["by_detector"]) == set(report["detectors"])
    assert inversion["by_detector"]["stateful-detection"]["detected"] == 1.0
    assert [row["kind"] for row in report["groups"]] == ["plain"]  # the variants' group, pooled
    benign = {row["kind"]: row for row in report["benign"]}
    assert set(benign) == {"ALL", *SCENARIOS["tiny"].benign}
    assert set(benign["ALL"]["by_detector"]) == set(report["detectors"])
    assert all(set(report["thresholds"][name]) == {"digits-classifier:1", "breast-cancer:1"} for name in BASELINES)
    assert [row["kind"] for row in report["leave_one_out"]] == sorted(SCENARIOS["tiny"].benign)
    assert "attacks detected @ median queries" in capsys.readouterr().out
