"""The README is what users read first: it must document what the code actually offers."""

from __future__ import annotations

import re
from pathlib import Path

from detector.cli import build_parser
from detector.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `(INVDET_[A-Z_]+)` \|[^|]*\| ([^|]+) \|", README, flags=re.M))
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default
        shown = "none" if default in (None, []) else f"`{default}`"
        assert rows.get(f"INVDET_{name.upper()}", "").strip() == shown, f"INVDET_{name.upper()} default {shown}"


def test_the_first_two_commands_are_the_make_targets_ci_runs() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0].split()
    assert [first_block[0], first_block[1]] == ["make", "demo"] and "make test" in " ".join(first_block)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_command_in_the_readme_exists() -> None:
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # the top-level commands
    used = set(re.findall(r"^inversion-detector ([a-z-]+)", README, flags=re.M))
    assert used and used <= commands, sorted(used - commands)
