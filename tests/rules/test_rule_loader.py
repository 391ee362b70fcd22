"""Loading rule files: every kind of problem, with its file and line, all in one pass."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from featurizers.registry import ALL_FEATURES
from rules import RuleError, RuleLoadError, RuleSet, load_rules

GOOD = """\
rules:
  - id: {id}
    description: a rule
    condition: x > 1
    severity: low
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(*paths: Path | str, known_features: set[str] | None = None) -> list[RuleError]:
    with pytest.raises(RuleLoadError) as caught:
        load_rules(list(paths), include_builtin=False, known_features=known_features)
    return caught.value.errors


def where(errors: list[RuleError]) -> list[tuple[str, int | None, str | None]]:
    return [(Path(e.file).name, e.line, e.field) for e in errors]


def only_error(*paths: Path | str) -> RuleError:
    (error,) = errors_of(*paths)
    return error


# -- valid files ----------------------------------------------------------------------------------


def test_a_valid_file_loads_with_origins(tmp_path: Path) -> None:
    path = write(tmp_path, "mine.yaml", GOOD.format(id="a") + GOOD.format(id="b").removeprefix("rules:\n"))
    ruleset = load_rules([path], include_builtin=False)
    assert [r.id for r in ruleset] == ["a", "b"]
    assert str(ruleset.origin("a")) == f"{path}:2"
    assert str(ruleset.origin("b")) == f"{path}:6"


def test_a_folder_loads_its_yaml_files_sorted_by_name_and_ignores_others(tmp_path: Path) -> None:
    write(tmp_path, "rules.d/b.yml", GOOD.format(id="from-b"))
    write(tmp_path, "rules.d/a.yaml", GOOD.format(id="from-a"))
    write(tmp_path, "rules.d/README.md", "not rules")
    write(tmp_path, "rules.d/nested/c.yaml", GOOD.format(id="from-nested"))
    ruleset = load_rules([tmp_path / "rules.d"], include_builtin=False)
    assert [r.id for r in ruleset] == ["from-a", "from-b"]


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    path = write(tmp_path, "d/a.yaml", GOOD.format(id="a"))
    assert len(load_rules([path, tmp_path / "d", str(path)], include_builtin=False)) == 1


def test_an_empty_rule_list_is_valid(tmp_path: Path) -> None:
    assert len(load_rules([write(tmp_path, "none.yaml", "rules: []\n")], include_builtin=False)) == 0


def test_builtin_rules_load_first_and_read_only_known_features(tmp_path: Path) -> None:
    builtin = load_rules([], known_features=ALL_FEATURES)
    assert isinstance(builtin, RuleSet)
    assert "high-query-rate" in {r.id for r in builtin}
    origin = builtin.origin("high-query-rate")
    assert origin is not None and Path(origin.file).parent.name == "builtin"
    both = load_rules([write(tmp_path, "mine.yaml", GOOD.format(id="mine"))])
    assert [r.id for r in both][-1] == "mine"
    assert len(both) == len(builtin) + 1


def test_naming_the_builtin_folder_again_does_not_duplicate_its_rules() -> None:
    builtin = load_rules([])
    origin = builtin.origin("high-query-rate")
    assert origin is not None
    assert len(load_rules([Path(origin.file).parent])) == len(builtin)


# -- each kind of problem -------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    error = only_error(tmp_path / "absent.yaml")
    assert str(error) == f"{tmp_path / 'absent.yaml'}: no such file or folder"


def test_a_file_that_is_not_yaml(tmp_path: Path) -> None:
    error = only_error(write(tmp_path, "rules.txt", "rules: []"))
    assert (error.line, error.field) == (None, None)
    assert "expected a .yaml or .yml file or a folder" in error.message


def test_a_path_that_is_neither_file_nor_folder(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert only_error(fifo).message == "neither a YAML file nor a folder"


def test_an_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "locked.yaml", GOOD.format(id="a"))
    original = Path.read_text

    def refuse(self: Path, *args: object, **kwargs: object) -> str:
        if self == path:
            raise PermissionError(13, "Permission denied")
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", refuse)
    assert str(only_error(path)) == f"{path}: cannot read: Permission denied"


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"rules:\n  - id: caf\xe9\n")
    assert only_error(path).message == "cannot read: not UTF-8 text (bad byte at offset 18)"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("rules:\n  - id: a\n   description: b\n", 3, "expected <block end>"),
        ("rules: [\n  {id: a\n", 3, "expected ',' or '}'"),
        ("rules:\n  - id: 'unterminated\n", 3, "while scanning a quoted scalar"),
        ("rules: !!python/object:os.system x\n", 1, "could not determine a constructor"),
        ("rules: []\n---\nrules: []\n", 2, "expected a single document"),
    ],
)
def test_yaml_syntax_errors_carry_their_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    error = only_error(write(tmp_path, "broken.yaml", text))
    assert error.line == line
    assert error.message.startswith("invalid YAML at column ")
    assert fragment in error.message


@pytest.mark.parametrize(
    ("text", "line", "field", "fragment"),
    [
        ("", 1, None, "empty file"),
        ("# only a comment\n", 1, None, "empty file"),
        ("- id: a\n", 1, None, "the top level must be a mapping with a 'rules' list"),
        ("just text\n", 1, None, "not a string"),
        ("version: 1\n", 1, "version", "unknown top-level key (allowed: rules)"),
        ("rule:\n  - id: a\n", 1, "rule", "unknown top-level key"),
        ("\nrules:\n  id: a\n", 2, "rules", "must be a list of rules, not a mapping"),
        ("rules:\n", 1, "rules", "must be a list of rules, not empty"),
    ],
)
def test_the_shape_of_the_file(tmp_path: Path, text: str, line: int, field: str | None, fragment: str) -> None:
    errors = errors_of(write(tmp_path, "shape.yaml", text))
    assert (errors[0].line, errors[0].field) == (line, field)
    assert fragment in errors[0].message


def test_a_missing_rules_key_is_reported_besides_unknown_keys(tmp_path: Path) -> None:
    errors = errors_of(write(tmp_path, "typo.yaml", "rule:\n  - id: a\n"))
    assert [(e.line, e.field) for e in errors] == [(1, "rule"), (1, None)]
    assert "no 'rules' key" in errors[1].message


def test_every_field_error_in_one_pass_each_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        """\
        rules:
          - id: Bad_Id
            description: first
            condition: rate_60s > and x < 2
            severity: urgent
            severty: high
          - id: second
            description: second
            condition: x > 1
            severity: low
            min_events: 0
            suppress_for: soon
            tags: attack.extraction
            exceptions:
              clients: [ok, 3]
              model: [b]
          - just a string
          - id: fourth
            condition: x > 1
            severity: low
        """,
    )
    errors = errors_of(path)
    assert where(errors) == [
        ("bad.yaml", 2, "rules[0].id"),
        ("bad.yaml", 4, "rules[0].condition"),
        ("bad.yaml", 5, "rules[0].severity"),
        ("bad.yaml", 6, "rules[0].severty"),
        ("bad.yaml", 11, "rules[1].min_events"),
        ("bad.yaml", 12, "rules[1].suppress_for"),
        ("bad.yaml", 13, "rules[1].tags"),
        ("bad.yaml", 15, "rules[1].exceptions.clients[1]"),
        ("bad.yaml", 16, "rules[1].exceptions.model"),
        ("bad.yaml", 17, "rules[2]"),
        ("bad.yaml", 18, "rules[3].description"),
    ]
    messages = [e.message for e in errors]
    assert messages[1] == "expected a number after '>' at column 12, found 'and'"
    assert messages[2] == "must be one of 'info', 'low', 'medium', 'high' or 'critical', not 'urgent'"
    assert messages[3] == "unknown field (did you mean 'severity'?)"
    assert messages[8] == "unknown field (did you mean 'models'?)"
    assert messages[9] == "must be a mapping of fields, not a string"
    assert messages[10] == "required field is missing"
    assert str(errors[1]) == f"{path}:4: rules[0].condition: expected a number after '>' at column 12, found 'and'"


def test_unknown_fields_without_a_close_match_list_the_allowed_ones(tmp_path: Path) -> None:
    text = GOOD.format(id="a") + "    zzz: 1\n"
    error = only_error(write(tmp_path, "extra.yaml", text))
    assert error.field == "rules[0].zzz"
    assert error.message.startswith("unknown field (allowed: id, description, condition, severity, tags,")


def test_unknown_features_only_when_known_features_are_given(tmp_path: Path) -> None:
    path = write(tmp_path, "feat.yaml", GOOD.format(id="a").replace("x > 1", "rate_6s > 1 and x > 1"))
    (error,) = errors_of(path, known_features={"rate_60s", "x"})
    assert (error.line, error.field) == (4, "rules[0].condition")
    assert error.message == "unknown feature 'rate_6s' (did you mean 'rate_60s'?)"
    assert len(load_rules([path], include_builtin=False)) == 1


def test_unknown_features_are_reported_alongside_other_errors_of_the_rule(tmp_path: Path) -> None:
    path = write(tmp_path, "feat.yaml", GOOD.format(id="a").replace("x > 1", "nope > 1").replace("low", "urgent"))
    assert where(errors_of(path, known_features={"x"})) == [
        ("feat.yaml", 4, "rules[0].condition"),
        ("feat.yaml", 5, "rules[0].severity"),
    ]


def test_duplicate_ids_across_files_name_the_first_place(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", GOOD.format(id="same"))
    second = write(tmp_path, "b.yaml", "# leading comment\n" + GOOD.format(id="same"))
    (error,) = errors_of(first, second)
    assert str(error) == f"{second}:3: rules[0].id: duplicate rule id 'same', first defined at {first}:2"


def test_duplicate_ids_within_one_file(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", GOOD.format(id="same") + GOOD.format(id="same").removeprefix("rules:\n"))
    (error,) = errors_of(path)
    assert (error.line, error.field) == (6, "rules[1].id")
    assert error.message == f"duplicate rule id 'same', first defined at {path}:2"


def test_a_user_rule_may_not_reuse_a_builtin_id(tmp_path: Path) -> None:
    path = write(tmp_path, "mine.yaml", GOOD.format(id="high-query-rate"))
    with pytest.raises(RuleLoadError) as caught:
        load_rules([path])
    (error,) = caught.value.errors
    assert error.file == str(path)
    assert "first defined at" in error.message and "builtin" in error.message


def test_keys_given_twice_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "twice.yaml", GOOD.format(id="a") + "    severity: high\n")
    (error,) = errors_of(path)
    assert (error.line, error.field) == (6, "rules[0].severity")
    assert "given twice" in error.message


def test_errors_of_several_files_come_together_each_file_in_line_order(tmp_path: Path) -> None:
    one = write(tmp_path, "one.yaml", "rules:\n  - id: a\n    severity: nope\nextra: 1\n")
    two = write(tmp_path, "two.yaml", "rules: [\n")
    errors = errors_of(one, tmp_path / "missing", two)
    assert where(errors) == [
        ("one.yaml", 2, "rules[0].description"),
        ("one.yaml", 2, "rules[0].condition"),
        ("one.yaml", 3, "rules[0].severity"),
        ("one.yaml", 4, "extra"),
        ("missing", None, None),
        ("two.yaml", 2, None),
    ]


def test_the_load_error_lists_every_problem(tmp_path: Path) -> None:
    with pytest.raises(RuleLoadError) as caught:
        load_rules([tmp_path / "a.yaml", tmp_path / "b.yaml"], include_builtin=False)
    assert str(caught.value).splitlines() == [
        "2 errors in rule files:",
        f"{tmp_path / 'a.yaml'}: no such file or folder",
        f"{tmp_path / 'b.yaml'}: no such file or folder",
    ]


def test_yaml_anchors_and_aliases_work_and_cannot_loop(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "anchors.yaml",
        """\
        rules:
          - &base
            id: a
            description: shared
            condition: x > 1
            severity: low
            tags: &loop [*loop]
        """,
    )
    (error,) = errors_of(path)
    assert error.field == "rules[0].tags[0]"
    assert error.line == 7
