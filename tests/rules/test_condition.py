"""The condition language: grammar, evaluation, reasons and syntax errors."""

from __future__ import annotations

import itertools
import math

import pytest

from detector.alert import Reason
from rules.condition import And, Comparison, Condition, ConditionSyntaxError, Not, Or, parse


def reasons_of(text: str, features: dict[str, float]) -> list[tuple[str, float, str, float]]:
    return [(r.feature, r.value, r.op, r.threshold) for r in Condition(text).evaluate(features).reasons]


# -- grammar --------------------------------------------------------------------------------------

A, B, C = Comparison("a", ">", 1.0), Comparison("b", ">", 2.0), Comparison("c", ">", 3.0)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a > 1", A),
        ("a > 1 or b > 2 and c > 3", Or((A, And((B, C))))),
        ("a > 1 and b > 2 or c > 3", Or((And((A, B)), C))),
        ("not a > 1 and b > 2", And((Not(A), B))),
        ("not (a > 1 and b > 2)", Not(And((A, B)))),
        ("a > 1 and (b > 2 or c > 3)", And((A, Or((B, C))))),
        ("not not a > 1", Not(Not(A))),
        ("((a > 1))", A),
        ("a > 1 and b > 2 and c > 3", And((A, B, C))),
    ],
)
def test_precedence_is_not_then_and_then_or(text: str, tree: object) -> None:
    assert parse(text) == tree


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_every_operator_parses_with_or_without_spaces(op: str) -> None:
    assert parse(f"x {op} 2") == parse(f"x{op}2") == Comparison("x", op, 2.0)


@pytest.mark.parametrize(
    ("number", "value"),
    [("-3", -3.0), ("0.25", 0.25), (".5", 0.5), ("7.", 7.0), ("1e3", 1000.0), ("-2.5E-3", -0.0025), ("3e+2", 300.0)],
)
def test_numbers_include_negatives_decimals_and_exponents(number: str, value: float) -> None:
    assert parse(f"x >= {number}") == Comparison("x", ">=", value)


@pytest.mark.parametrize(
    ("a", "op", "b", "expected"),
    [
        (1.0, "<", 2.0, True), (2.0, "<", 2.0, False),
        (2.0, "<=", 2.0, True), (3.0, "<=", 2.0, False),
        (3.0, ">", 2.0, True), (2.0, ">", 2.0, False),
        (2.0, ">=", 2.0, True), (1.0, ">=", 2.0, False),
        (2.0, "==", 2.0, True), (2.5, "==", 2.0, False),
        (2.5, "!=", 2.0, True), (2.0, "!=", 2.0, False),
    ],
)
def test_every_operator_evaluates(a: float, op: str, b: float, expected: bool) -> None:
    assert Condition(f"x {op} {b}").evaluate({"x": a}).holds is expected


def test_features_lists_every_name_read_once() -> None:
    assert Condition("a > 1 and (b < 2 or not a == 3) or c_9 != 0").features == {"a", "b", "c_9"}


def test_conditions_compare_and_hash_by_text() -> None:
    assert Condition("a > 1") == Condition("a > 1")
    assert Condition("a > 1") != Condition("a >= 1")
    assert len({Condition("a > 1"), Condition("a > 1")}) == 1
    assert str(Condition("a>1")) == "a>1"


# -- evaluation and reasons -----------------------------------------------------------------------


def test_and_reports_every_child_and_nothing_when_one_fails() -> None:
    assert reasons_of("a > 1 and b < 5", {"a": 2.0, "b": 3.0}) == [("a", 2.0, ">", 1.0), ("b", 3.0, "<", 5.0)]
    evaluation = Condition("a > 1 and b < 5").evaluate({"a": 2.0, "b": 9.0})
    assert evaluation == (False, [])


def test_or_reports_only_the_true_branches_but_all_of_them() -> None:
    assert reasons_of("a > 1 or b > 1 or c > 1", {"a": 0.0, "b": 2.0, "c": 3.0}) == [
        ("b", 2.0, ">", 1.0),
        ("c", 3.0, ">", 1.0),
    ]


def test_a_false_and_inside_an_or_leaves_no_partial_reasons() -> None:
    assert reasons_of("(a > 1 and b > 1) or c > 1", {"a": 5.0, "b": 0.0, "c": 2.0}) == [("c", 2.0, ">", 1.0)]


@pytest.mark.parametrize(
    ("text", "features", "expected"),
    [
        ("not x > 3", {"x": 1.0}, [("x", 1.0, "<=", 3.0)]),
        ("not x == 3", {"x": 1.0}, [("x", 1.0, "!=", 3.0)]),
        ("not x != 3", {"x": 3.0}, [("x", 3.0, "==", 3.0)]),
        ("not x <= 3", {"x": 4.0}, [("x", 4.0, ">", 3.0)]),
        ("not x >= 3", {"x": 1.0}, [("x", 1.0, "<", 3.0)]),
        ("not x < 3", {"x": 3.0}, [("x", 3.0, ">=", 3.0)]),
        # De Morgan: not (a and b) holds through whichever comparison failed
        ("not (a > 1 and b > 1)", {"a": 5.0, "b": 0.0}, [("b", 0.0, "<=", 1.0)]),
        ("not (a > 1 or b > 1)", {"a": 0.0, "b": 1.0}, [("a", 0.0, "<=", 1.0), ("b", 1.0, "<=", 1.0)]),
        ("not not x > 3", {"x": 4.0}, [("x", 4.0, ">", 3.0)]),
    ],
)
def test_not_reports_inner_comparisons_with_the_operator_negated(
    text: str, features: dict[str, float], expected: list[tuple[str, float, str, float]]
) -> None:
    assert reasons_of(text, features) == expected


@pytest.mark.parametrize("missing", [{}, {"x": math.nan}])
@pytest.mark.parametrize("text", ["x > 0", "x < 0", "x == 0", "x != 0", "not x > 0", "not x != 0"])
def test_absent_or_nan_features_never_make_a_comparison_true(text: str, missing: dict[str, float]) -> None:
    assert Condition(text).evaluate(missing) == (False, [])


def test_an_absent_feature_only_falsifies_its_own_comparison() -> None:
    assert reasons_of("x > 0 or y > 0", {"y": 1.0}) == [("y", 1.0, ">", 0.0)]
    assert not Condition("x > 0 and y > 0").evaluate({"y": 1.0}).holds


def test_numpy_values_are_reported_as_floats() -> None:
    np = pytest.importorskip("numpy")
    (reason,) = Condition("x > 0").evaluate({"x": np.float32(0.5)}).reasons
    assert reason == Reason(feature="x", value=0.5, op=">", threshold=0.0)
    assert type(reason.value) is float


def test_the_tree_as_written_and_the_compiled_condition_agree_everywhere() -> None:
    text = "not (a > 1 and not b <= 2) or (c == 3 and not (a < 0 or b != 2))"
    condition, tree = Condition(text), parse(text)
    grid = [-1.0, 1.0, 2.0, 3.0, math.nan]
    for a, b, c in itertools.product(grid, repeat=3):
        features = {"a": a, "b": b, "c": c}
        reasons: list[Reason] = []
        assert tree.holds(features, reasons) == condition.evaluate(features).holds
        assert reasons == condition.evaluate(features).reasons


# -- syntax errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("rate_60s > ", "expected a number after '>' at column 12, found the end", 12),
        ("rate_60s > 120 and x < y", "expected a number after '<' at column 24, found 'y'", 24),
        ("rate_60s 120", "expected a comparison operator (<, <=, >, >=, ==, !=) after 'rate_60s' at column 10, found '120'", 10),
        ("x > 1 and", "expected a feature name, 'not' or '(' after 'and' at column 10, found the end", 10),
        ("x > 1 or or y > 2", "expected a feature name, 'not' or '(' after 'or' at column 10, found 'or'", 10),
        ("", "expected a feature name, 'not' or '(' at column 1, found the end", 1),
        ("3 < x", "expected a feature name, 'not' or '(' at column 1, found '3'", 1),
        ("(x > 1 and y > 2", "expected ')' to close the '(' at column 1 at column 17, found the end", 17),
        ("x > 1)", "expected 'and', 'or' or the end of the condition at column 6, found ')'", 6),
        ("x > 1 y > 2", "expected 'and', 'or' or the end of the condition at column 7, found 'y'", 7),
        ("x = 1", "unexpected character '=' at column 3 (equality is '==')", 3),
        ("x > 1 && y > 2", "unexpected character '&' at column 7", 7),
        ("Rate > 1", "invalid feature name 'Rate' at column 1: use lowercase letters, digits and '_'", 1),
        ("x > 1 AND y > 2", "expected 'and', 'or' or the end of the condition at column 7, found 'AND'", 7),
        ("NOT x > 1", "invalid feature name 'NOT' at column 1: use lowercase letters, digits and '_'; did you mean 'not'?", 1),
        ("x > 1e999", "number 1e999 at column 5 is out of range", 5),
        ("x > 1 and not", "expected a feature name, 'not' or '(' after 'not' at column 14, found the end", 14),
    ],
)
def test_syntax_errors_say_what_was_expected_and_where(text: str, message: str, column: int) -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        Condition(text)
    assert str(caught.value) == message
    assert caught.value.column == column


def test_nesting_is_bounded_instead_of_exhausting_the_stack() -> None:
    assert parse("(" * 60 + "x > 1" + ")" * 60) == Comparison("x", ">", 1.0)
    with pytest.raises(ConditionSyntaxError, match="nesting deeper than 64"):
        parse("not " * 5000 + "x > 1")
