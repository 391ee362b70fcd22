"""``inversion-detector rules check PATH...``: validate rule files the way the detector loads them.

Prints every problem on its own line as ``file:line: field: message`` and
exits 1, or prints how many rules are valid and exits 0. The built-in rules
are loaded too (unless ``--no-builtin``), so a user rule whose id clashes with
a built-in one is caught here rather than at start-up.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

from rules.errors import RuleError, RuleLoadError
from rules.loader import load_rules


def check_paths(
    paths: Sequence[str | Path],
    known_features: Collection[str] | None = None,
    *,
    include_builtin: bool = True,
) -> list[RuleError]:
    """Every problem in the rule files at ``paths``; empty when they are all valid."""
    try:
        load_rules(paths, include_builtin=include_builtin, known_features=known_features)
    except RuleLoadError as exc:
        return exc.errors
    return []


def _failed(errors: Sequence[RuleError], what: str) -> int:
    """Print every error on its own line and the count on stderr; the exit code of a failed check."""
    for error in errors:
        print(error)
    print(f"{len(errors)} error{'' if len(errors) == 1 else 's'} in {what}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None, *, known_features: Collection[str] | None = None) -> int:
    """Check the files named in ``argv``; 0 when valid, 1 when not (2 for bad usage, from argparse)."""
    parser = argparse.ArgumentParser(prog="inversion-detector rules check", description="Validate rule files the way the detector loads them.")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="rule file (.yaml/.yml) or folder of them")
    parser.add_argument("--no-builtin", action="store_true", help="check the given files without the built-in rules")
    parser.add_argument("--calibration", metavar="FILE", help="also check a calibration file against the rules")
    args = parser.parse_args(argv)
    if not args.paths and not args.calibration:
        parser.error("nothing to check: give rule files or folders, or --calibration FILE")
    try:
        ruleset = load_rules(args.paths, include_builtin=not args.no_builtin, known_features=known_features)
    except RuleLoadError as exc:
        return _failed(exc.errors, "rule files")
    builtin = "" if args.no_builtin else ", built-in rules included"
    print(f"{len(ruleset)} rule{'' if len(ruleset) == 1 else 's'} valid{builtin}")
    if args.calibration:
        from detector.calibration import CalibrationError, load_calibration

        try:
            calibration = load_calibration(args.calibration, ruleset)
        except CalibrationError as exc:
            return _failed(exc.errors, "calibration file")
        print(f"calibration valid: {len(calibration.models)} model(s), target {calibration.provenance.target_fpr:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
