"""The TOML settings file: precedence, and one located line per problem, all reported at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from detector.settings import ConfigError, Settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "detector.toml"
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("INVDET_"):
            monkeypatch.delenv(name)


def test_file_values_apply_and_the_environment_and_flags_win(tmp_path, monkeypatch) -> None:
    path = write(tmp_path, 'kafka_topic = "from-file"\nbatch_size = 100\nwindow = 32\nrules = ["a.yaml"]\n')
    settings = Settings.load(path)
    assert (settings.kafka_topic, settings.batch_size, settings.window, settings.rules) == ("from-file", 100, 32, ["a.yaml"])
    monkeypatch.setenv("INVDET_BATCH_SIZE", "200")
    monkeypatch.setenv("INVDET_KAFKA_TOPIC", "from-env")
    settings = Settings.load(path, kafka_topic="from-flag")
    assert (settings.kafka_topic, settings.batch_size, settings.window) == ("from-flag", 200, 32)
    assert Settings.load(None).kafka_topic == "from-env"


def test_the_file_can_come_from_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INVDET_CONFIG", str(write(tmp_path, "checkpoint_every_s = 2.5\n")))
    assert Settings.load().checkpoint_every_s == 2.5


def test_every_problem_is_reported_with_file_line_and_key(tmp_path, monkeypatch) -> None:
    path = write(tmp_path, '# detector\nkafka_topik = "x"\nwindow = "many"\n\nbatch_size = 0\n[kafka]\nclient = "x"\n')
    monkeypatch.setenv("INVDET_CHECKPOINT_EVERY_S", "soon")
    with pytest.raises(ConfigError) as caught:
        Settings.load(path)
    errors = caught.value.errors
    assert f"{path}:2: kafka_topik: unknown setting (did you mean 'kafka_topic'?)" in errors
    assert any(e.startswith(f"{path}:6: kafka: unknown setting") for e in errors)
    assert any(e.startswith(f"{path}:3: window: ") and "integer" in e for e in errors)
    assert any(e.startswith(f"{path}:5: batch_size: ") and "greater than or equal to 1" in e for e in errors)
    assert any(e.startswith("setting checkpoint_every_s (environment INVDET_CHECKPOINT_EVERY_S): ") for e in errors)
    assert len(errors) == 5


def test_wrong_choice_names_the_choices(tmp_path) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(write(tmp_path, 'kafka_client = "librdkafka"\n'))
    (error,) = caught.value.errors
    assert error.startswith(f"{tmp_path / 'detector.toml'}:1: kafka_client: ") and "'confluent'" in error


def test_unreadable_files_are_one_line(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read the settings file"):
        Settings.load(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"detector\.toml:2: not valid TOML: Invalid value \(column 14\)$"):
        Settings.load(write(tmp_path, 'window = 8\nbatch_size = = 3\n'))
    with pytest.raises(ConfigError, match=r"detector\.toml:2: not valid TOML: .*at end of file"):
        Settings.load(write(tmp_path, 'window = 8\nrules = ["a",\n'))


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "detector", *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **env})  # fmt: skip


def test_config_show_masks_secrets_from_the_file(tmp_path) -> None:
    path = write(
        tmp_path,
        'webhook_url = "https://hooks.example.com/T01/B02/tok3n"\nwebhook_secret = "whsec-f1le"\n'
        'database_url = "postgresql://detector:db-pa55@db:5432/alerts"\n',
    )
    result = cli("config", "show", "--config", str(path), env={})
    assert result.returncode == 0, result.stderr
    for secret in ("tok3n", "whsec-f1le", "db-pa55"):
        assert secret not in result.stdout
    assert "webhook_url = 'https://hooks.example.com/***'" in result.stdout
    assert "database_url = 'postgresql://detector:***@db:5432/alerts'" in result.stdout


def test_bad_settings_stop_the_start_with_one_line_each_and_no_traceback(tmp_path) -> None:
    path = write(tmp_path, "windw = 8\nbatch_size = -1\n")
    result = cli("run", "--config", str(path), env={"INVDET_CONFIG": "/nonexistent.toml"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"inversion-detector: error: {path}:") for line in lines), lines
    assert "Traceback" not in result.stderr


def test_a_toml_error_at_the_end_of_the_file_names_its_last_line(tmp_path) -> None:
    path = tmp_path / "detector.toml"
    path.write_text("window = 32\nbatch_size = 10\nmax_clients =")  # no line end: the error is "at end of document"
    with pytest.raises(ConfigError) as raised:
        Settings.load(path)
    assert raised.value.errors == [f"{path}:3: not valid TOML: Invalid value (at end of file)"]


def test_a_misspelled_environment_variable_is_warned_of_with_the_nearest_setting(monkeypatch, caplog) -> None:
    monkeypatch.setenv("INVDET_WINDOWW", "8")
    with caplog.at_level("WARNING", logger="detector.settings"):
        settings = Settings.load()
    assert settings.window == 64
    assert [record.getMessage() for record in caplog.records] == [
        "environment variable INVDET_WINDOWW names no setting (did you mean INVDET_WINDOW?)"
    ]
