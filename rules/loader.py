"""Loading rule files: YAML in, a validated :class:`RuleSet` out, or every problem at once.

A rule file is a YAML mapping whose ``rules`` key holds a list of rules (see
:class:`rules.schema.Rule`). Paths may be files (``.yaml``/``.yml``) or
folders (their YAML files, sorted by name; sub-folders are not searched). The
built-in rules (``rules/builtin/*.yaml``, shipped as package data) come first.

Nothing stops at the first problem: unreadable files, YAML syntax, the shape
of the file, every field of every rule, condition syntax, unknown feature names
and duplicate ids are all collected in one pass and raised together as
:class:`RuleLoadError`, each with its file and line (found from the YAML node
marks) and the field it concerns.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from rules.errors import RuleError, RuleLoadError
from rules.ruleset import Origin, RuleSet
from rules.schema import Rule

YAML_SUFFIXES = (".yaml", ".yml")
TOP_LEVEL_KEYS = ("rules",)
"""Keys a rule file may have at its top level."""
BUILTIN_FOLDER = "builtin"


def load_rules(
    paths: Sequence[str | Path],
    *,
    include_builtin: bool = True,
    known_features: Collection[str] | None = None,
) -> RuleSet:
    """The rules of the built-in files (unless excluded) and of ``paths``, in that order.

    With ``known_features``, a condition reading any other feature name is an
    error. Raises :class:`RuleLoadError` listing every problem found.
    """
    loader = _Loader(known_features)
    if include_builtin:
        for file in _builtin_files():
            loader.add(file)
    for path in paths:
        loader.add_path(Path(path))
    if loader.errors:
        raise RuleLoadError(loader.errors)
    return RuleSet(loader.rules, loader.origins)


@dataclass(frozen=True, slots=True)
class _RuleFile:
    """A rule file to read: its name in messages, its identity, and how to read it."""

    name: str
    key: str
    read: Callable[[], str]


def _builtin_files() -> list[_RuleFile]:
    folder = files("rules").joinpath(BUILTIN_FOLDER)
    found = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(YAML_SUFFIXES) and entry.is_file()),
        key=lambda entry: entry.name,
    )
    return [_RuleFile(str(entry), _identity(entry), _reader(entry)) for entry in found]


def _identity(entry: Traversable) -> str:
    return str(entry.resolve()) if isinstance(entry, Path) else str(entry)


def _reader(entry: Traversable) -> Callable[[], str]:
    return lambda: entry.read_text(encoding="utf-8")


class _Loader:
    """The state of one loading pass: rules so far, where each id was first seen, errors."""

    def __init__(self, known_features: Collection[str] | None) -> None:
        self.context = {"known_features": None if known_features is None else frozenset(known_features)}
        self.rules: list[Rule] = []
        self.origins: dict[str, Origin] = {}
        self.errors: list[RuleError] = []
        self.read_keys: set[str] = set()

    def fail(self, file: str, line: int | None, field: str | None, message: str) -> None:
        self.errors.append(RuleError(file, line, field, message))

    def add_path(self, path: Path) -> None:
        """A file or a folder of rule files given by the user."""
        name = str(path)
        if path.is_dir():
            try:
                entries = sorted(entry for entry in path.iterdir() if entry.suffix.lower() in YAML_SUFFIXES)
            except OSError as exc:
                self.fail(name, None, None, f"cannot list folder: {exc.strerror or exc}")
                return
            for entry in entries:
                if entry.is_file():
                    self.add(_RuleFile(str(entry), _identity(entry), _reader(entry)))
        elif path.is_file():
            if path.suffix.lower() in YAML_SUFFIXES:
                self.add(_RuleFile(name, _identity(path), _reader(path)))
            else:
                self.fail(name, None, None, "not a rule file: expected a .yaml or .yml file or a folder")
        elif path.exists():
            self.fail(name, None, None, "neither a YAML file nor a folder")
        else:
            self.fail(name, None, None, "no such file or folder")

    def add(self, file: _RuleFile) -> None:
        """Every rule of one file (once, however many times it was named); its errors in line order."""
        if file.key in self.read_keys:
            return
        self.read_keys.add(file.key)
        first_error = len(self.errors)
        self.read_file(file)
        self.errors[first_error:] = sorted(self.errors[first_error:], key=lambda error: error.line or 0)

    def read_file(self, file: _RuleFile) -> None:
        try:
            text = file.read()
        except UnicodeDecodeError as exc:
            self.fail(file.name, None, None, f"cannot read: not UTF-8 text (bad byte at offset {exc.start})")
            return
        except OSError as exc:
            self.fail(file.name, None, None, f"cannot read: {exc.strerror or exc}")
            return
        try:
            root, data = compose_yaml(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = ", ".join(part for part in (exc.context, exc.problem) if part)
            column = f" at column {mark.column + 1}" if mark else ""
            self.fail(file.name, mark.line + 1 if mark else None, None, f"invalid YAML{column}: {problem}")
            return
        except yaml.YAMLError as exc:
            self.fail(file.name, None, None, f"invalid YAML: {exc}")
            return
        for field, line in duplicate_keys(root):
            self.fail(file.name, line, field, "given twice in one mapping (the last one would silently win)")
        rules_node = self.rule_list(file.name, root, data)
        if rules_node is None:
            return
        for index, (node, item) in enumerate(zip(rules_node.value, data["rules"])):
            self.add_rule(file.name, f"rules[{index}]", node, item)

    def rule_list(self, name: str, root: yaml.Node | None, data: Any) -> yaml.SequenceNode | None:
        """The node of the file's ``rules`` list, or None after reporting why there is none."""
        expected = "a mapping with a 'rules' list, like 'rules: [...]'"
        if root is None:
            self.fail(name, 1, None, f"empty file: expected {expected}")
            return None
        if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
            self.fail(name, _line(root), None, f"the top level must be {expected}, not {_kind(data)}")
            return None
        rules_key: yaml.Node | None = None
        rules_value: yaml.Node | None = None
        for key, value in root.value:
            if key.value == "rules":
                rules_key, rules_value = key, value
            elif key.value not in TOP_LEVEL_KEYS:
                allowed = ", ".join(TOP_LEVEL_KEYS)
                self.fail(name, _line(key), str(key.value), f"unknown top-level key (allowed: {allowed})")
        if rules_key is None or rules_value is None:
            self.fail(name, _line(root), None, f"no 'rules' key: expected {expected}")
            return None
        if not isinstance(rules_value, yaml.SequenceNode) or not isinstance(data["rules"], list):
            self.fail(name, _line(rules_key), "rules", f"must be a list of rules, not {_kind(data['rules'])}")
            return None
        return rules_value

    def add_rule(self, name: str, field: str, node: yaml.Node, item: Any) -> None:
        """Validate one rule; keep it, or report each of its problems at its own line."""
        try:
            rule = Rule.model_validate(item, context=self.context)
        except ValidationError as exc:
            for error in exc.errors():
                loc = error["loc"]
                self.fail(name, line_of(node, loc), field + field_path(loc), _message(error))
            return
        first = self.origins.get(rule.id)
        if first is not None:
            self.fail(
                name, line_of(node, ("id",)), f"{field}.id", f"duplicate rule id {rule.id!r}, first defined at {first}"
            )
            return
        self.origins[rule.id] = Origin(name, _line(node))
        self.rules.append(rule)


def compose_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree (which keeps line marks) and the plain data built from it, safely."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        return root, (None if root is None else loader.construct_document(root))
    finally:
        loader.dispose()


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def line_of(node: yaml.Node, loc: tuple[int | str, ...]) -> int:
    """The line of the value at ``loc`` (a field's key line), or of its deepest enclosing node present."""
    line = _line(node)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            matches = [(key, value) for key, value in node.value if key.value == str(part)]
            if not matches:
                break
            key, node = matches[-1]  # YAML: the last of duplicated keys wins
            line = _line(key)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = _line(node)
        else:
            break
    return line


def duplicate_keys(root: yaml.Node | None) -> Iterator[tuple[str, int]]:
    """(field, line) of each key repeated within one mapping, anywhere in the tree."""
    seen_nodes: set[int] = set()

    def walk(node: yaml.Node, field: str) -> Iterator[tuple[str, int]]:
        if id(node) in seen_nodes:  # aliases may share (or even recurse into) nodes
            return
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                path = f"{field}.{key.value}" if field else str(key.value)
                if isinstance(key, yaml.ScalarNode) and key.value in keys:
                    yield path, _line(key)
                keys.add(key.value if isinstance(key, yaml.ScalarNode) else "")
                yield from walk(value, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                yield from walk(item, f"{field}[{index}]")

    if root is not None:
        yield from walk(root, "")


def field_path(loc: tuple[int | str, ...]) -> str:
    """``('exceptions', 'clients', 0)`` -> ``.exceptions.clients[0]``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def _kind(value: object) -> str:
    if value is None:
        return "empty"
    kinds: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def _message(error: Any) -> str:
    """A pydantic error in the words of a rule file."""
    kind, loc = error["type"], error["loc"]
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return f"must be one of {error['ctx']['expected']}, not {error['input']!r}"
    if kind == "model_type":
        return f"must be a mapping of fields, not {_kind(error['input'])}"
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
        return f"unknown field ({hint})"
    return str(error["msg"])


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the rule model (or nested model) at ``loc``."""
    model: type[BaseModel] = Rule
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
