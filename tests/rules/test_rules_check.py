"""``rules check``: exit codes and output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rules.check import check_paths, main

GOOD = "rules:\n  - id: mine\n    description: d\n    condition: x > 1\n    severity: low\n"


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text("rules:\n  - id: Bad\n    description: d\n    condition: x >\n    severity: low\n", encoding="utf-8")
    return path


def test_valid_files_exit_0_with_a_count(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(good), "--no-builtin"]) == 0
    assert capsys.readouterr().out == "1 rule valid\n"


def test_builtin_rules_are_checked_and_counted_by_default(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(good)]) == 0
    count = int(capsys.readouterr().out.split()[0])
    assert count >= 2


def test_errors_exit_1_one_per_line(bad: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(bad), str(tmp_path / "missing.yaml")]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{bad}:2: rules[0].id: must be lowercase letters, digits and '-', starting with a letter or digit, not 'Bad'",
        f"{bad}:4: rules[0].condition: expected a number after '>' at column 4, found the end",
        f"{tmp_path / 'missing.yaml'}: no such file or folder",
    ]
    assert captured.err == "3 errors in rule files\n"


def test_known_features_are_passed_through(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(good), "--no-builtin"], known_features={"y"}) == 1
    assert "rules[0].condition: unknown feature 'x'" in capsys.readouterr().out


def test_no_paths_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    assert "PATH" in capsys.readouterr().err


def test_check_paths_returns_the_errors(good: Path, bad: Path) -> None:
    assert check_paths([good]) == []
    assert [(e.line, e.field) for e in check_paths([bad, good])] == [(2, "rules[0].id"), (4, "rules[0].condition")]
    (unknown,) = check_paths([good], {"y"}, include_builtin=False)
    assert unknown.message == "unknown feature 'x'"
    builtin_clash = good.with_name("clash.yaml")
    builtin_clash.write_text(GOOD.replace("mine", "high-query-rate"), encoding="utf-8")
    assert check_paths([builtin_clash], include_builtin=False) == []
    assert "duplicate rule id" in check_paths([builtin_clash])[0].message


def test_runs_as_a_module(good: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "rules.check", str(good)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout
