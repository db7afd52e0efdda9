"""moto's UpdateItem applied straight to the item when every action is a plain top-level SET, REMOVE, ADD or DELETE.

moto 5.2.5 applies every UpdateExpression by deep-copying its syntax tree and walking the copy with ten
processors (each checking or rewriting one kind of node), then walking it again to execute it. For the
service's writes (`SET #a = :a, #b = :b REMOVE #c`, `ADD #n :n`) that was most of an emulated
transaction. Those walks only ever do a few things to such an expression, so each expression text is
turned once into a plan (its actions, in moto's order of checking and in its order of execution, and
what moto checks of the text alone), and each write runs the plan: the same checks, in the same order,
raising the same exceptions, then the same changes to the item. An item's size (moto's 400 KB limit)
is summed once per write and kept up to date as attributes are set, where moto sums the whole item at
every attribute it sets.

What goes to moto's own pipeline, untouched: any function, arithmetic, nested path or list index; an
expression moto refuses for its text alone (two SET clauses, overlapping plain paths, a reserved word
as a plain name); names or values not given, or not plain (a name that is not a string, values that
are not a map); AttributeUpdates and Expected.

tests/unit/test_moto_updates.py holds many writes, good and bad, to the outcomes of moto's own pipeline.
Drop this module once moto's update expressions cost what DynamoDB's do.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from moto.dynamodb.comparisons import create_condition_expression_parser
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    DuplicateUpdateExpression,
    EmptyKeyAttributeException,
    ExpressionAttributeValueNotDefined,
    IncorrectDataType,
    IncorrectOperandType,
    InvalidAttributeTypeError,
    ItemSizeTooLarge,
    ItemSizeToUpdateTooLarge,
    MockValidationException,
    UpdateHashRangeKeyException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DDBType, DDBTypeConversion, DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize

# moto's parsing modules start with `# type: ignore`: mypy sees no names in them
from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
    ExpressionAttribute,
    ExpressionAttributeName,
    ExpressionAttributeValue,
    UpdateExpression,
    UpdateExpressionAddAction,
    UpdateExpressionAddActions,
    UpdateExpressionAddClause,
    UpdateExpressionDeleteAction,
    UpdateExpressionDeleteActions,
    UpdateExpressionDeleteClause,
    UpdateExpressionPath,
    UpdateExpressionRemoveAction,
    UpdateExpressionRemoveActions,
    UpdateExpressionRemoveClause,
    UpdateExpressionSetAction,
    UpdateExpressionSetActions,
    UpdateExpressionSetClause,
    UpdateExpressionValue,
)
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords
from moto.dynamodb.utils import find_duplicates, find_path_overlaps

_PLANNED_TEXTS = 1024  # far more than the service's distinct update expressions
_MAX_ITEM_BYTES = 405000  # moto's LimitedSizeDict limit (between DynamoDB's documented and measured one)
_EMPTY_SET_MESSAGE = (
    "1 validation error detected: One or more parameter values were invalid: An string set  may not be empty"
)
# the nodes that only group actions: a plan's expression holds these and plain actions, nothing else
_GROUPS = (
    UpdateExpression,  # its clause types are subclasses of it: checked exactly below
    UpdateExpressionSetClause,
    UpdateExpressionSetActions,
    UpdateExpressionRemoveClause,
    UpdateExpressionRemoveActions,
    UpdateExpressionAddClause,
    UpdateExpressionAddActions,
    UpdateExpressionDeleteClause,
    UpdateExpressionDeleteActions,
)
_KINDS = {
    UpdateExpressionSetAction: "SET",
    UpdateExpressionRemoveAction: "REMOVE",
    UpdateExpressionAddAction: "ADD",
    UpdateExpressionDeleteAction: "DELETE",
}


@dataclass(frozen=True)
class Action:
    """One action on a top-level attribute: `token` is its placeholder (`#a`) or its plain name."""

    kind: str  # SET, REMOVE, ADD or DELETE
    token: str
    placeholder: bool
    value: str | None  # the value's placeholder (`:v`); None for REMOVE


@dataclass(frozen=True)
class UpdatePlan:
    checked: tuple[Action, ...]  # in the order moto's validators visit them (the text's)
    executed: tuple[int, ...]  # positions in `checked`, in the order moto's executor applies them (`normalize`)
    # moto checks each node grouping actions for paths given twice (the node's own), lowest first: the spans of
    # `checked` under them, in that order (the first span holding a duplicate is the one moto reports)
    groups: tuple[tuple[int, int], ...]
    names: tuple[str, ...]  # every name placeholder
    values: tuple[str, ...]  # every value placeholder
    changes_values: bool  # ADD or DELETE: a set may be changed where it is (moto's executors append and remove)


def _action(node: Any) -> Action | None:
    """The plan's action for a plain top-level action node, None for anything else."""
    kind = _KINDS.get(type(node))
    children = node.children
    if kind is None or len(children) != (1 if kind == "REMOVE" else 2):
        return None
    path = children[0]
    if type(path) is not UpdateExpressionPath or len(path.children) != 1:
        return None
    element = path.children[0]
    if type(element) not in (ExpressionAttributeName, ExpressionAttribute):
        return None
    token = element.children[0]
    placeholder = type(element) is ExpressionAttributeName
    if not placeholder and token.upper() in ReservedKeywords.get_reserved_keywords():
        return None  # moto refuses it, after checks that depend on the request: its pipeline says how
    value = None
    if kind != "REMOVE":
        operand = children[1]
        if kind == "SET":  # `= :v`, nothing around it
            if type(operand) is not UpdateExpressionValue or len(operand.children) != 1:
                return None
            operand = operand.children[0]
        if type(operand) is not ExpressionAttributeValue:
            return None
        value = operand.children[0]
    return Action(kind, token, placeholder, value)


def _actions(node: Any, found: list[Action], groups: list[tuple[int, int]]) -> bool:
    """Collect the actions under `node` depth first, as moto's walks meet them, and the span of actions under each
    node that groups them, in the order moto's walks finish them; False if an action is not plain."""
    start = len(found)
    for child in node.children or ():
        if type(child) in _KINDS:
            action = _action(child)
            if action is None:
                return False
            found.append(action)
        elif type(child) not in _GROUPS or not _actions(child, found, groups):
            return False
    groups.append((start, len(found)))
    return True


def make_plan(tree: Any) -> UpdatePlan | None:
    """The plan of a parsed update expression, or None when moto's own pipeline must apply it."""
    checked: list[Action] = []
    groups: list[tuple[int, int]] = []
    if type(tree) not in _GROUPS or not _actions(tree, checked, groups):
        return None
    for clause in (UpdateExpressionAddClause, UpdateExpressionRemoveClause, UpdateExpressionSetClause):
        if len(tree.find_clauses([clause])) > 1:
            return None  # TooManyClauses, raised by moto's first validator
    if find_path_overlaps([action.token for action in checked if not action.placeholder]):
        return None  # DuplicateUpdateExpression of the text's own paths: moto says which
    # the order moto executes them in: its own normalize() on a copy (the parse is shared, never changed)
    normalized = copy.deepcopy(tree)
    position = {id(node): i for i, node in enumerate(normalized.find_clauses(list(_KINDS)))}  # the walk's order
    normalized.normalize()
    return UpdatePlan(
        checked=tuple(checked),
        executed=tuple(position[id(node)] for node in normalized.children),
        groups=tuple(dict.fromkeys(group for group in groups if group[1] > group[0])),
        names=tuple(action.token for action in checked if action.placeholder),
        values=tuple(action.value for action in checked if action.value is not None),
        changes_values=any(action.kind in ("ADD", "DELETE") for action in checked),
    )


@functools.lru_cache(maxsize=_PLANNED_TEXTS)
def _plan_of(text: str) -> UpdatePlan | None:
    return make_plan(UpdateExpressionParser.make(text))


def plan_for(text: str) -> UpdatePlan | None:
    """The plan of an update expression text (parsed once), or None; a text that does not parse raises as moto's
    parse does (and is not kept)."""
    UpdateExpressionParser.make(text)  # moto parses first: its error for a text it cannot parse
    return _plan_of(text)


def _plain(plan: UpdatePlan, names: Any, values: Any) -> bool:
    """Names and values are maps (or not given), and every placeholder the plan uses is given, each name a string:
    moto's own pipeline raises what it raises otherwise."""
    if not isinstance(names, dict | None) or not isinstance(values, dict | None):
        return False
    if plan.names and not (isinstance(names, dict) and all(type(names.get(token)) is str for token in plan.names)):
        return False
    return not plan.values or (isinstance(values, dict) and all(token in values for token in plan.values))


def _raise_duplicate(plan: UpdatePlan, paths: list[str]) -> None:
    """The DuplicateUpdateExpression moto raises: at the lowest node whose actions name a path twice, its plain
    paths listed before those given by placeholders."""
    for start, end in plan.groups:
        actions = plan.checked[start:end]
        listed = [path for action, path in zip(actions, paths[start:end], strict=True) if not action.placeholder]
        listed += [path for action, path in zip(actions, paths[start:end], strict=True) if action.placeholder]
        duplicates = find_duplicates(listed)
        if duplicates:
            raise DuplicateUpdateExpression(*duplicates)


def _checked_values(
    plan: UpdatePlan, names: dict[str, str], values: dict[str, Any], table: Table
) -> list[DynamoType | None]:
    """moto's validators on the plan, in their order; each action's attribute name and value (a DynamoType)."""
    # OverlappingPathsValidator: a name given twice, plain or through placeholders
    paths = [names[action.token] if action.placeholder else action.token for action in plan.checked]
    if len(set(paths)) != len(paths):
        _raise_duplicate(plan, paths)
    # UpdateHashRangeKeyValidator
    key_attributes = table.table_key_attrs
    for action in plan.checked:
        name = (names or {}).get(action.token, action.token)
        if name in key_attributes:
            raise UpdateHashRangeKeyException(name)
    # ExpressionAttributeValueProcessor: a new DynamoType per use, as moto's copy of the tree has
    operands: list[DynamoType | None] = []
    for action in plan.checked:
        if action.value is None:
            operands.append(None)
            continue
        try:
            target = values[action.value]
        except KeyError:
            raise ExpressionAttributeValueNotDefined(attribute_value=action.value) from None
        operands.append(DynamoType(target))
    # TypeMismatchValidator, then EmptyStringKeyValueValidator: moto compares the SET's token, not the name
    sets = [
        (action, cast(DynamoType, operand))
        for action, operand in zip(plan.checked, operands, strict=True)
        if action.kind == "SET"
    ]
    for action, operand in sets:
        for definition in table.attr:
            if definition["AttributeName"] == action.token and definition["AttributeType"] != operand.type:
                raise InvalidAttributeTypeError(action.token, definition["AttributeType"], operand.type)
    if sets:
        index_keys = table.attribute_keys
        for action, operand in sets:
            if not operand.value and operand.type in ["S", "B"] and action.token in index_keys:
                raise EmptyKeyAttributeException(key_in_index=True)
    return operands


class _SizedAttributes:
    """An item's attributes, changed as moto's executor changes them, the size limit checked on every set as
    moto's LimitedSizeDict checks it (the whole item, the value replaced included, plus the new one); each
    attribute sized once per write, when a set first needs the total."""

    def __init__(self, attrs: dict[str, Any]) -> None:
        self.attrs = attrs
        self._sizes: dict[str, int] | None = None

    @staticmethod
    def _entry(key: Any, value: Any) -> int:
        return bytesize(key) + (value.size() if type(value) is DynamoType else bytesize(str(value)))

    def set(self, name: str, value: DynamoType) -> None:
        if self._sizes is None:
            self._sizes = {key: self._entry(key, held) for key, held in self.attrs.items()}
            self._total = sum(self._sizes.values())
        added = self._entry(name, value)
        if self._total + added > _MAX_ITEM_BYTES:
            raise ItemSizeTooLarge
        dict.__setitem__(self.attrs, name, value)
        self._total += added - self._sizes.get(name, 0)
        self._sizes[name] = added

    def remove(self, name: str) -> None:
        if name in self.attrs:
            dict.pop(self.attrs, name)
            if self._sizes is not None:
                self._total -= self._sizes.pop(name)

    def changed_in_place(self, name: str) -> None:
        """The attribute's value was changed where it is (a set's elements), or deleted with its last element."""
        if self._sizes is None:
            return
        self._total -= self._sizes.pop(name)
        if name in self.attrs:
            self._sizes[name] = self._entry(name, self.attrs[name])
            self._total += self._sizes[name]


def _add(attributes: _SizedAttributes, name: str, value: DynamoType) -> None:
    """moto's AddExecutor: a set's new elements, or a number's sum (from 0 when the attribute is missing)."""
    attrs = attributes.attrs
    if value.is_set():
        if len(value.value) == 0:
            raise MockValidationException(_EMPTY_SET_MESSAGE)
        if name in attrs:
            current = attrs[name]
        else:
            current = DynamoType({value.type: []})
            attributes.set(name, current)
        if not current.type == value.type:
            raise IncorrectDataType()
        for element in value.value:
            if element not in current.value:
                current.value.append(element)
        attributes.changed_in_place(name)
    elif value.type == DDBType.NUMBER:
        existing = attrs[name] if name in attrs else DynamoType({DDBType.NUMBER: "0"})
        if not existing.type == DDBType.NUMBER:
            raise IncorrectDataType()
        attributes.set(name, existing + value)
    else:
        raise IncorrectDataType()


def _delete(attributes: _SizedAttributes, name: str, value: DynamoType) -> None:
    """moto's DeleteExecutor: a set's elements out, the attribute with them once the set is empty."""
    if not value.is_set():
        raise IncorrectOperandType("operator: DELETE", DDBTypeConversion.get_human_type(value.type))
    attrs = attributes.attrs
    if name not in attrs:
        return  # deleting from a set that is not there is not a problem
    current = attrs[name]
    if current.type != value.type:
        raise IncorrectDataType()
    for element in value.value:
        with contextlib.suppress(KeyError, ValueError):  # DynamoDB does not mind an element not in the set
            current.value.remove(element)
    if not current.value:  # DynamoDB has no empty sets
        dict.__delitem__(attrs, name)
    attributes.changed_in_place(name)


_EXECUTORS: dict[str, Callable[[_SizedAttributes, str, Any], None]] = {
    "SET": _SizedAttributes.set,
    "REMOVE": lambda attributes, name, _: attributes.remove(name),
    "ADD": _add,
    "DELETE": _delete,
}


def _execute(plan: UpdatePlan, names: dict[str, str], item: Item, operands: list[DynamoType | None]) -> None:
    """moto's executors (SetExecutor, RemoveExecutor, AddExecutor, DeleteExecutor), in its order, on top-level
    attributes."""
    attributes = _SizedAttributes(item.attrs)
    for position in plan.executed:
        action = plan.checked[position]
        name = names[action.token] if action.placeholder else action.token
        _EXECUTORS[action.kind](attributes, name, operands[position])


def _as_it_was(item: Item | None, plan: UpdatePlan) -> Item | None:
    """The item before the update, for its stream record (nothing else reads it). moto deep-copies it; SET and
    REMOVE only replace and drop attributes, never change a value where it is, so for them a copy of the
    attribute map holding the same values is the same item as it was."""
    if item is None or plan.changes_values:
        return copy.deepcopy(item)
    as_it_was = cast(Item, Item.__new__(Item))
    as_it_was.hash_key, as_it_was.range_key = item.hash_key, item.range_key
    as_it_was.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(as_it_was.attrs, item.attrs)  # LimitedSizeDict's checks passed already: the same attributes
    return as_it_was


_generic_update_item = DynamoDBBackend.update_item  # moto's own, until install() takes what is there then


def update_item(
    self: DynamoDBBackend,
    table_name: str,
    key: dict[str, dict[str, Any]],
    update_expression: str,
    expression_attribute_names: dict[str, Any],
    expression_attribute_values: dict[str, Any],
    attribute_updates: dict[str, Any] | None = None,
    expected: dict[str, Any] | None = None,
    condition_expression: str | None = None,
    return_values_on_condition_check_failure: str | None = None,
) -> Item:
    generic = functools.partial(
        _generic_update_item,
        self,
        table_name,
        key,
        update_expression,
        expression_attribute_names,
        expression_attribute_values,
        attribute_updates=attribute_updates,
        expected=expected,
        condition_expression=condition_expression,
        return_values_on_condition_check_failure=return_values_on_condition_check_failure,
    )
    if not update_expression or attribute_updates or expected:
        return generic()
    names, values = expression_attribute_names, expression_attribute_values
    plan = plan_for(update_expression)
    if plan is None or not _plain(plan, names, values):
        return generic()

    # from here on, moto's update_item step by step, the validator's walks and the executor's replaced by the plan's
    table = self.get_table(table_name)
    if all([table.hash_key_attr in key, table.range_key_attr in key]):
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr])  # type: ignore[index]
    elif table.hash_key_attr in key:
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = None
    else:
        hash_value = DynamoType(key)
        range_value = None

    item = table.get_item(hash_value, range_value)
    orig_item = _as_it_was(item, plan) if table.stream_shard is not None else None
    condition = create_condition_expression_parser(condition_expression, names, values).parse()
    if not condition.expr(item):
        if return_values_on_condition_check_failure == "ALL_OLD" and item is not None:
            raise ConditionalCheckFailed(item=item.to_json()["Attributes"])
        raise ConditionalCheckFailed

    operands = _checked_values(plan, names, values, table)  # the checks depend on the request, not on the item
    if item is None:  # an update creates the item: moto puts its key, then updates it
        data: dict[str, Any] = {table.hash_key_attr: {hash_value.type: hash_value.value}}
        if range_value:
            data.update({table.range_key_attr: {range_value.type: range_value.value}})  # type: ignore[dict-item]
        table.put_item(data)
        item = cast(Item, table.get_item(hash_value, range_value))
    try:
        _execute(plan, names, item, operands)
    except ItemSizeTooLarge:
        raise ItemSizeToUpdateTooLarge() from None
    if table.stream_shard is not None:
        table.stream_shard.add(orig_item, item)
    return item


def install() -> None:
    """Put the planned update in place of moto's: before moto_queries and moto_atomicity wrap it (what does not
    take the plan goes to the update_item found here)."""
    global _generic_update_item
    if getattr(DynamoDBBackend.update_item, "_planned", False):
        return
    _generic_update_item = DynamoDBBackend.update_item
    update_item._planned = True  # type: ignore[attr-defined]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
