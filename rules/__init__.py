"""Detection rules as data: the schema, the loader (every error with file:line) and the evaluator.

>>> ruleset = load_rules([])  # the built-in rules only
>>> "high-query-rate" in {rule.id for rule in ruleset}
True
"""

from rules.errors import RuleError, RuleLoadError
from rules.loader import load_rules
from rules.ruleset import RuleHit, RuleSet
from rules.schema import Rule

__all__ = ["Rule", "RuleSet", "RuleHit", "RuleError", "RuleLoadError", "load_rules"]
