"""Rule loading errors: each says where (file, line, field) and what, and all come at once.

>>> error = RuleError("rules/mine.yaml", 7, "rules[1].severity", "must be one of info, low, medium, high, critical")
>>> print(error)
rules/mine.yaml:7: rules[1].severity: must be one of info, low, medium, high, critical
>>> print(RuleError("missing.yaml", None, None, "no such file or folder"))
missing.yaml: no such file or folder
>>> print(RuleLoadError([error]))
1 error in rule files:
rules/mine.yaml:7: rules[1].severity: must be one of info, low, medium, high, critical
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RuleError:
    """One problem in a rule file: ``file:line: field: message`` (line and field when known)."""

    file: str
    line: int | None
    """1-based line of the offending field or rule; None when the file itself is the problem."""
    field: str | None
    """Path of the offending value in the file, e.g. ``rules[2].severity``."""
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class RuleLoadError(Exception):
    """Every problem found in one pass over the rule files."""

    def __init__(self, errors: Sequence[RuleError]) -> None:
        self.errors = list(errors)
        count = f"{len(self.errors)} error{'' if len(self.errors) == 1 else 's'}"
        super().__init__("\n".join([f"{count} in rule files:", *map(str, self.errors)]))
