"""Rule conditions: a small, safe expression language over feature names.

Grammar (``not`` binds tighter than ``and``, which binds tighter than ``or``)::

    condition  := any
    any        := all ("or" all)*
    all        := negation ("and" negation)*
    negation   := "not" negation | "(" any ")" | comparison
    comparison := feature OP (number | threshold)
    OP         := "<" | "<=" | ">" | ">=" | "==" | "!="
    feature    := [a-z_][a-z0-9_]*
    number     := -12, 0.5, .5, 3e-4, 1.5E+3 ...
    threshold  := "$" [a-z_][a-z0-9_]*

The text is parsed once into a tree of small dataclasses; nothing is ever
handed to ``eval``. Evaluation answers whether the condition holds and which
comparisons made it hold, as :class:`detector.alert.Reason` objects an analyst
can check.

A comparison over a feature that is absent or NaN is false, negated or not
(``not`` is applied by De Morgan's laws down to the comparisons): a feature a
window could not compute (no inputs logged, too few events) never makes a rule
fire.

>>> c = Condition("rate_60s > 120 and not interarrival_cv >= 0.5")
>>> sorted(c.features)
['interarrival_cv', 'rate_60s']
>>> holds, reasons = c.evaluate({"rate_60s": 300.0, "interarrival_cv": 0.1})
>>> holds, [(r.feature, r.value, r.op, r.threshold) for r in reasons]
(True, [('rate_60s', 300.0, '>', 120.0), ('interarrival_cv', 0.1, '<', 0.5)])
>>> c.evaluate({"rate_60s": 300.0}).holds
False

A named threshold (``$name``) is a number given later, per model: the rule's
default, or what calibration learned from the model's own traffic
(:meth:`Condition.bind`). Until it is bound the comparison never holds:

>>> c = Condition("neighbourhood_low < $crowded")
>>> sorted(c.names), c.evaluate({"neighbourhood_low": 0.1}).holds
(['crowded'], False)
>>> c.bind({"crowded": 0.3}).evaluate({"neighbourhood_low": 0.1}).reasons
[Reason(feature='neighbourhood_low', value=0.1, op='<', threshold=0.3)]
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from detector.alert import Reason

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
NEGATED_OP = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
"""The operator that holds exactly when the key does not (for real numbers)."""

FEATURE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
KEYWORDS = frozenset({"and", "or", "not"})
MAX_DEPTH = 64
"""Deepest nesting of parentheses and ``not`` accepted (keeps the parser's recursion bounded)."""


class ConditionSyntaxError(ValueError):
    """A condition that does not follow the grammar; says where (1-based column) and what was expected.

    >>> Condition("rate_60s > ")
    Traceback (most recent call last):
    ...
    rules.condition.ConditionSyntaxError: expected a number after '>' at column 12, found the end
    """

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


# -- the tree ---------------------------------------------------------------------------------------
#
# Every node can ``holds(features, reasons)``: it returns whether it holds and, when it
# does, appends the comparisons that made it hold to ``reasons``; a node that does not
# hold leaves ``reasons`` as it found it. ``negated()`` gives the equivalent tree of
# ``not node`` without any Not in it (De Morgan), which is what Condition evaluates.


@dataclass(frozen=True, slots=True)
class Comparison:
    """``feature OP threshold``; false when the feature is absent or NaN. A comparison with a named
    threshold (``name``) holds NaN until it is bound, so it never holds unbound."""

    feature: str
    op: str
    threshold: float
    name: str | None = None

    def holds(self, features: Mapping[str, float], reasons: list[Reason]) -> bool:
        value = features.get(self.feature)
        if value is None or value != value or not OPERATORS[self.op](value, self.threshold):
            return False
        reasons.append(Reason(feature=self.feature, value=float(value), op=self.op, threshold=self.threshold))
        return True

    def negated(self) -> Comparison:
        return Comparison(self.feature, NEGATED_OP[self.op], self.threshold, self.name)

    def positive(self) -> Comparison:
        return self

    def bound(self, values: Mapping[str, float]) -> Comparison:
        if self.name is None or self.name not in values:
            return self
        return Comparison(self.feature, self.op, float(values[self.name]), self.name)

    def __str__(self) -> str:
        return f"{self.feature} {self.op} " + (f"${self.name}" if self.name else repr(self.threshold))


@dataclass(frozen=True, slots=True)
class And:
    """Holds when every child holds; its reasons are all of theirs."""

    children: tuple[Node, ...]

    def holds(self, features: Mapping[str, float], reasons: list[Reason]) -> bool:
        mark = len(reasons)
        for child in self.children:
            if not child.holds(features, reasons):
                del reasons[mark:]
                return False
        return True

    def negated(self) -> Or:
        return Or(tuple(child.negated() for child in self.children))

    def positive(self) -> And:
        return And(tuple(child.positive() for child in self.children))

    def bound(self, values: Mapping[str, float]) -> And:
        return And(tuple(child.bound(values) for child in self.children))

    def __str__(self) -> str:
        return "(" + " and ".join(map(str, self.children)) + ")"


@dataclass(frozen=True, slots=True)
class Or:
    """Holds when any child holds; its reasons are those of every child that holds."""

    children: tuple[Node, ...]

    def holds(self, features: Mapping[str, float], reasons: list[Reason]) -> bool:
        found = False
        for child in self.children:  # no short cut: every true branch is a reason
            found = child.holds(features, reasons) or found
        return found

    def negated(self) -> And:
        return And(tuple(child.negated() for child in self.children))

    def positive(self) -> Or:
        return Or(tuple(child.positive() for child in self.children))

    def bound(self, values: Mapping[str, float]) -> Or:
        return Or(tuple(child.bound(values) for child in self.children))

    def __str__(self) -> str:
        return "(" + " or ".join(map(str, self.children)) + ")"


@dataclass(frozen=True, slots=True)
class Not:
    """Holds when the child does not; reasons are the child's comparisons with their operators negated."""

    child: Node

    def holds(self, features: Mapping[str, float], reasons: list[Reason]) -> bool:
        return self.child.negated().holds(features, reasons)

    def negated(self) -> Node:
        return self.child.positive()

    def positive(self) -> Node:
        return self.child.negated()

    def bound(self, values: Mapping[str, float]) -> Not:
        return Not(self.child.bound(values))

    def __str__(self) -> str:
        return f"not {self.child}"


Node = Comparison | And | Or | Not


def comparisons(node: Node) -> Iterator[Comparison]:
    """Every comparison in a tree, left to right."""
    if isinstance(node, Comparison):
        yield node
    elif isinstance(node, Not):
        yield from comparisons(node.child)
    else:
        for child in node.children:
            yield from comparisons(child)


# -- the parser -------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<ref>\$[A-Za-z0-9_]*)
    | (?P<op><=|>=|==|!=|<|>)
    | (?P<paren>[()])
    """,
    re.VERBOSE,
)


class _Token(NamedTuple):
    kind: str  # number, word, op, paren, end
    text: str
    column: int  # 1-based


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            hint = " (equality is '==')" if char == "=" else ""
            raise ConditionSyntaxError(f"unexpected character {char!r} at column {position + 1}{hint}", position + 1)
        kind = match.lastgroup or ""
        if kind != "space":
            found.append(_Token(kind, match.group(), position + 1))
        position = match.end()
    found.append(_Token("end", "", len(text) + 1))
    return found


class _Parser:
    """Recursive descent over the token list, one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def is_keyword(self, word: str) -> bool:
        return self.token.kind == "word" and self.token.text == word

    def fail(self, expected: str) -> ConditionSyntaxError:
        token = self.token
        found = "the end" if token.kind == "end" else repr(token.text)
        return ConditionSyntaxError(f"expected {expected} at column {token.column}, found {found}", token.column)

    def condition(self) -> Node:
        node = self.any()
        if self.token.kind != "end":
            raise self.fail("'and', 'or' or the end of the condition")
        return node

    def any(self) -> Node:
        children = [self.all()]
        while self.is_keyword("or"):
            self.take()
            children.append(self.all())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def all(self) -> Node:
        children = [self.negation()]
        while self.is_keyword("and"):
            self.take()
            children.append(self.negation())
        return children[0] if len(children) == 1 else And(tuple(children))

    def negation(self) -> Node:
        if self.depth >= MAX_DEPTH:
            raise ConditionSyntaxError(
                f"nesting deeper than {MAX_DEPTH} at column {self.token.column}", self.token.column
            )
        self.depth += 1
        try:
            if self.is_keyword("not"):
                self.take()
                return Not(self.negation())
            if self.token.text == "(":
                opening = self.take()
                node = self.any()
                if self.token.text != ")":
                    raise self.fail(f"')' to close the '(' at column {opening.column}")
                self.take()
                return node
            return self.comparison()
        finally:
            self.depth -= 1

    def comparison(self) -> Comparison:
        previous = self.tokens[self.at - 1].text if self.at else ""
        after = f" after {previous!r}" if previous else ""
        token = self.token
        if token.kind != "word" or token.text in KEYWORDS:
            raise self.fail(f"a feature name, 'not' or '('{after}")
        if not FEATURE_NAME.fullmatch(token.text):
            hint = f"; did you mean {token.text.lower()!r}?" if token.text.lower() in KEYWORDS else ""
            raise ConditionSyntaxError(
                f"invalid feature name {token.text!r} at column {token.column}: "
                f"use lowercase letters, digits and '_'{hint}",
                token.column,
            )
        self.take()
        if self.token.kind != "op":
            raise self.fail(f"a comparison operator ({', '.join(OPERATORS)}) after {token.text!r}")
        op = self.take().text
        if self.token.kind == "ref":
            ref = self.take()
            if not FEATURE_NAME.fullmatch(ref.text[1:]):
                raise ConditionSyntaxError(
                    f"invalid threshold name {ref.text!r} at column {ref.column}: "
                    "use '$' and then lowercase letters, digits and '_'",
                    ref.column,
                )
            return Comparison(token.text, op, math.nan, ref.text[1:])
        if self.token.kind != "number":
            raise self.fail(f"a number after {op!r}")
        number = self.take()
        threshold = float(number.text)
        if not math.isfinite(threshold):
            raise ConditionSyntaxError(f"number {number.text} at column {number.column} is out of range", number.column)
        return Comparison(token.text, op, threshold)


def parse(text: str) -> Node:
    """The tree of a condition, as written (``not`` kept).

    >>> print(parse("a > 1 or b > 2 and not c == -3e-2"))
    (a > 1.0 or (b > 2.0 and not c == -0.03))
    >>> print(parse("(a > 1 or b > 2) and c < .5"))
    ((a > 1.0 or b > 2.0) and c < 0.5)
    """
    return _Parser(text).condition()


# -- the compiled condition -------------------------------------------------------------------------


class Evaluation(NamedTuple):
    """Whether a condition holds, and the comparisons that made it hold (empty when it does not)."""

    holds: bool
    reasons: list[Reason]


class Condition:
    """A condition parsed once and ready to evaluate many times.

    ``ast`` is the tree as written; evaluation runs an equivalent tree with every
    ``not`` pushed down to the comparisons, so a negated comparison reports itself
    with the operator that held:

    >>> Condition("not x > 3").evaluate({"x": 1.0}).reasons
    [Reason(feature='x', value=1.0, op='<=', threshold=3.0)]
    >>> Condition("x > 1 or y > 1").evaluate({"x": 2.0, "y": 5.0}).reasons  # every true branch
    [Reason(feature='x', value=2.0, op='>', threshold=1.0), Reason(feature='y', value=5.0, op='>', threshold=1.0)]
    """

    __slots__ = ("text", "ast", "features", "names", "_plan")

    def __init__(self, text: str) -> None:
        self.text = text
        self.ast = parse(text)
        self.features: frozenset[str] = frozenset(c.feature for c in comparisons(self.ast))
        self.names: frozenset[str] = frozenset(c.name for c in comparisons(self.ast) if c.name is not None)
        """The named thresholds (``$name``) the condition reads."""
        self._plan = self.ast.positive()

    def bind(self, values: Mapping[str, float]) -> Condition:
        """The same condition with its named thresholds set from ``values`` (names not in it keep
        their value, NaN when never bound)."""
        bound = object.__new__(Condition)
        bound.text, bound.ast, bound.features, bound.names = self.text, self.ast, self.features, self.names
        bound._plan = self._plan.bound(values)
        return bound

    def named_comparisons(self) -> list[Comparison]:
        """Every comparison with a named threshold, as written (for calibration)."""
        return [c for c in comparisons(self.ast) if c.name is not None]

    def evaluate(self, features: Mapping[str, float]) -> Evaluation:
        """Whether the condition holds over ``features`` and why."""
        reasons: list[Reason] = []
        return Evaluation(self._plan.holds(features, reasons), reasons)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Condition({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)
