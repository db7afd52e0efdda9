"""moto's condition expressions lexed and parsed once per text, their values bound per request.

moto 5.2.5 lexes and parses a ConditionExpression (or a FilterExpression) from its text every time it
meets one, and it meets each of a transaction's conditions three times: checking the request, checking
the condition, applying the write. The syntax tree it builds depends on the text and on the names the
placeholders stand for; the values (`:v`) only fill its leaves. So the tree is kept per text, with the
names it resolved and the value placeholders it used, and each parse whose names are the same and whose
values are all given takes the kept tree with this request's values in its leaves, then builds the
operators from it with moto's own code (`_make_op_condition`: a value's own checks, such as BETWEEN's,
stay where moto has them). Anything else (another meaning for a name, a name or value not given) is
parsed by moto as before, errors included, and a text that does not parse is not kept.

tests/unit/test_moto_conditions.py holds conditions, good and bad, to the outcomes of moto's own parse.
Drop this module once moto keeps its parses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moto.dynamodb.comparisons import ConditionExpressionParser

_KEPT_TEXTS = 1024  # far more than the service's distinct conditions and filters
_VALUE = ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE
_Node = ConditionExpressionParser.Node


@dataclass(frozen=True)
class KeptParse:
    """A condition's syntax tree (moto's, before operators are made), and what it depends on besides its text."""

    tree: Any
    names: tuple[tuple[str, Any], ...]  # each name placeholder and the name it stood for
    values: tuple[str, ...]  # each value placeholder the text uses
    names_found: tuple[str, ...]  # what moto's parse adds to `expr_attr_names_found`
    values_found: tuple[str, ...]  # and to `expr_attr_values_found`

    def fits(self, names: Any, values: Any) -> bool:
        """The same names stand for the same attributes, and every value is given."""
        if self.names and not (
            isinstance(names, dict)
            and all(type(given := names.get(placeholder)) is str and given == name for placeholder, name in self.names)
        ):
            return False
        if not self.values:
            return True
        return isinstance(values, dict) and all(placeholder in values for placeholder in self.values)


def _syntax_tree(parser: ConditionExpressionParser) -> KeptParse:
    """moto's parse up to its syntax tree (its stages in its order: the same errors), noting the lookups."""
    names: dict[str, Any] = {}
    values: dict[str, None] = {}
    look_up_name, look_up_value = parser._lookup_expression_attribute_name, parser._lookup_expression_attribute_value

    def name_of(placeholder: str) -> Any:
        names[placeholder] = look_up_name(placeholder)
        return names[placeholder]

    def value_of(placeholder: str) -> Any:
        found = look_up_value(placeholder)
        values[placeholder] = None
        return found

    parser._lookup_expression_attribute_name = name_of  # type: ignore[method-assign,assignment]  # this parser only
    parser._lookup_expression_attribute_value = value_of  # type: ignore[method-assign,assignment]
    nodes = parser._lex_condition_expression()
    nodes = parser._parse_paths(nodes)
    nodes = parser._apply_functions(nodes)
    nodes = parser._apply_comparator(nodes)
    nodes = parser._apply_in(nodes)
    nodes = parser._apply_between(nodes)
    nodes = parser._apply_parens_and_booleans(nodes)
    tree = nodes[0]
    parser._assert_no_redundant_parentheses(tree)
    return KeptParse(
        tree=tree,
        names=tuple(names.items()),
        values=tuple(values),
        names_found=tuple(parser._find_literals(tree)),
        values_found=tuple(parser._find_expr_attr_values(tree)),
    )


def _bound(node: Any, values: dict[str, Any]) -> Any:
    """The tree with this request's values in its value leaves, as moto's parse would have put them."""
    if node.kind == _VALUE:
        return node._replace(value=values[node.text])
    if not node.children:
        return node
    return node._replace(children=[_bound(child, values) for child in node.children])


_kept: dict[str, KeptParse] = {}
_generic_parse = ConditionExpressionParser.parse


def parse(self: ConditionExpressionParser) -> Any:
    text = self.condition_expression
    if not text or not isinstance(text, str):
        return _generic_parse(self)
    kept = _kept.get(text)
    if kept is None or not kept.fits(self.expression_attribute_names, self.expression_attribute_values):
        kept = _syntax_tree(self)
        if len(_kept) >= _KEPT_TEXTS:
            _kept.clear()  # the service's texts are a few dozen: only a flood of distinct texts gets here
        _kept[text] = kept
    self.expr_attr_names_found.extend(kept.names_found)
    self.expr_attr_values_found.extend(kept.values_found)
    tree = _bound(kept.tree, self.expression_attribute_values) if kept.values else kept.tree  # type: ignore[arg-type]
    return self._make_op_condition(tree)


def install() -> None:
    """Put the kept parse in place of moto's."""
    if getattr(ConditionExpressionParser.parse, "_kept", False):
        return
    parse._kept = True  # type: ignore[attr-defined]
    parse.generic = _generic_parse  # type: ignore[attr-defined]  # moto's, for the test comparing the two
    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]
