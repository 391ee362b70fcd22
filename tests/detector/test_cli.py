"""The command line: each command, and one clear line for what a user can get wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest

from detector.alert import Alert
from detector.cli import main
from detector.db.engine import make_engine
from detector.db.migrate import ensure_schema
from detector.decide import AlertChange
from detector.sinks.alert_sink import AlertSink


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed entry point as a user would (a separate process)."""
    return subprocess.run(
        [sys.executable, "-m", "detector", *args], capture_output=True, text=True, timeout=120, env=env
    )


def event(i: int, client: str, x: list[float], scores: list[float], ts: float) -> bytes:
    return orjson.dumps(
        {"event_id": f"{client}-{i}", "ts": ts, "client_id": client, "model_id": "m:1", "input": x,
         "output": {"scores": scores}}
    )


@pytest.fixture
def attack_file(tmp_path: Path) -> Path:
    """People sending varied inputs, a bot estimating a gradient coordinate by coordinate (+-h on
    one coordinate of a point, then a step), and malformed lines of several kinds."""
    rng = np.random.default_rng(0)
    lines = [
        event(i, f"user-{i % 4}", rng.uniform(0, 10, 3).round(3).tolist(), [0.5, 0.5], 1000.0 + 2.0 * i)
        for i in range(200)
    ]
    centre = np.array([5.0, 5.0, 5.0])
    for i in range(200):
        probe = centre.copy()
        probe[i % 3] += 0.01 if i % 2 else -0.01
        if i % 6 == 5:
            centre += 0.02
        lines.append(event(i, "bot", probe.tolist(), [0.5, 0.5], 1400.0 + i * 0.05))
    lines[10:10] = [b"not json", b'{"event_id": "x"}', event(999, "bot", [1.0], [0.5, 0.5], 1000.0)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_replay_then_export_prints_spec_alerts_and_dead_letters(attack_file: Path, tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert main(["replay", str(attack_file), "--database-url", url, "--no-progress"]) == 0
    summary = capsys.readouterr().out
    assert "403 events" in summary and "3 dead letters" in summary
    for reason in ("not_json", "missing_field", "input_length_mismatch"):
        assert reason in summary
    dead = [orjson.loads(line) for line in (tmp_path / "events.dlq.jsonl").read_bytes().splitlines()]
    assert sorted(d["reason"] for d in dead) == ["input_length_mismatch", "missing_field", "not_json"]
    assert all(d["position"].startswith(str(attack_file)) for d in dead)
    assert "rule:gradient-walk" in summary

    assert main(["alerts", "export", "--database-url", url, "--format", "jsonl"]) == 0
    exported = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert exported and all(set(a) == set(Alert.model_fields) for a in exported)
    assert {a["client_id"] for a in exported} == {"bot"}


def test_triage_commands(attack_file: Path, tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    main(["replay", str(attack_file), "--database-url", url, "--no-progress"])
    capsys.readouterr()
    assert main(["alerts", "list", "--database-url", url, "--status", "open"]) == 0
    listing = capsys.readouterr().out
    alert_id = listing.splitlines()[2].split()[0]
    assert main(["alerts", "show", alert_id[:12], "--database-url", url]) == 0
    shown = capsys.readouterr().out
    assert alert_id in shown and "reasons" in shown and "status history" in shown
    assert main(["alerts", "ack", alert_id, "--note", "on it", "--database-url", url]) == 0
    assert main(["alerts", "resolve", alert_id, "--database-url", url]) == 0
    capsys.readouterr()
    main(["alerts", "show", alert_id, "--database-url", url])
    shown = capsys.readouterr().out
    assert "open -> acknowledged  (on it)" in shown and "acknowledged -> resolved" in shown
    main(["alerts", "list", "--database-url", url, "--status", "open"])
    assert alert_id not in capsys.readouterr().out


def test_alerts_list_and_show_name_the_group(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    sink = AlertSink(engine)
    for client, related, group in (("key_1", ["key_2", "key_3"], "3f9a1c2be0d44b7d"), ("key_9", [], None)):
        alert = Alert(severity="critical", detector="rule:split-probing", client_id=client, model_id="m", score=0.95,
                      summary="s", trigger_event_id="e", window_start_ts=0.0, window_end_ts=1.0,
                      related_clients=related, group_id=group)
        sink.add([AlertChange(alert, 1, 1.0, 3601.0)])
    sink.flush()
    engine.dispose()
    assert main(["alerts", "list", "--database-url", url]) == 0
    header, _, *rows = capsys.readouterr().out.splitlines()
    assert "group" in header.split()
    assert "3 3f9a1c2b" in next(r for r in rows if "key_1" in r) and "key_9" in next(r for r in rows if " - " in r)
    assert main(["alerts", "list", "--group", "3f9a1c2be0d44b7d", "--database-url", url]) == 0
    assert [r.split()[5] for r in capsys.readouterr().out.splitlines()[2:]] == ["key_1"]
    (alert_id,) = [r.split()[0] for r in rows if "key_1" in r]
    assert main(["alerts", "show", alert_id, "--database-url", url]) == 0
    shown = capsys.readouterr().out
    assert "group      3f9a1c2be0d44b7d (3 clients)" in shown and "related clients (2)\n  key_2\n  key_3\n" in shown


def test_bad_database_url_is_one_clear_line(tmp_path: Path) -> None:
    for url in ("nosuchdb://x", "postgresql://nobody@127.0.0.1:1/none", f"sqlite:///{tmp_path}/missing/dir/a.db"):
        result = cli("alerts", "list", "--database-url", url)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("inversion-detector: error:"), result.stderr
        assert "Traceback" not in result.stderr


def test_missing_replay_file_is_one_clear_line(tmp_path: Path) -> None:
    result = cli("replay", str(tmp_path / "nope.jsonl"), "--database-url", f"sqlite:///{tmp_path / 'a.db'}")
    assert result.returncode == 2
    assert result.stderr.strip() == f"inversion-detector: error: {tmp_path / 'nope.jsonl'}: no such file"


def test_unknown_alert_id(tmp_path: Path, capsys) -> None:
    assert main(["alerts", "show", "01NOPE", "--database-url", f"sqlite:///{tmp_path / 'a.db'}"]) == 2
    assert "no alert '01NOPE'" in capsys.readouterr().err


def test_db_upgrade_and_current(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert "schema revision: 0" in capsys.readouterr().out


def test_config_show_masks_secrets_and_flags_override_environment(tmp_path: Path) -> None:
    env = {"INVDET_WEBHOOK_SECRET": "s3cret-value", "INVDET_KAFKA_TOPIC": "from-env", "PATH": "/usr/bin:/bin"}
    result = cli("config", "show", "--topic", "from-flag", env=env)
    assert result.returncode == 0, result.stderr
    assert "s3cret-value" not in result.stdout and "webhook_secret = '***'" in result.stdout
    assert "kafka_topic = 'from-flag'" in result.stdout


def test_wrong_setting_in_environment_is_reported_by_name() -> None:
    result = cli("config", "show", env={"INVDET_WINDOW": "many", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2 and "window" in result.stderr and "Traceback" not in result.stderr


def test_rules_check(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: x\n    description: d\n    condition: rate_60s >\n    severity: high\n")
    result = cli("rules", "check", str(bad))
    assert result.returncode == 1 and f"{bad}:4" in result.stdout + result.stderr


def test_rules_check_knows_the_featurizers_feature_names(tmp_path: Path) -> None:
    rule = "rules:\n  - id: x\n    description: d\n    condition: {}\n    severity: low\n"
    (tmp_path / "typo.yaml").write_text(rule.format("near_dupe_frac > 0.5"))
    (tmp_path / "good.yaml").write_text(rule.format("near_dup_frac > 0.5").replace("id: x", "id: y"))
    typo = cli("rules", "check", str(tmp_path / "typo.yaml"))
    assert typo.returncode == 1 and "near_dupe_frac" in typo.stdout + typo.stderr
    assert cli("rules", "check", str(tmp_path / "good.yaml")).returncode == 0


def test_console_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    result = cli("console", "--host", "0.0.0.0", "--database-url", f"sqlite:///{tmp_path / 'a.db'}",
                 env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr and "INVDET_CONSOLE_TOKEN" in result.stderr


def test_help_documents_every_command() -> None:
    result = cli("--help")
    for command in ("replay", "run", "webhook", "demo", "console", "alerts", "db", "rules", "config"):
        assert command in result.stdout
