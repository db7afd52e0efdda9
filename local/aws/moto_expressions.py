"""moto's update expressions parsed once per text, and walked with each node-type table built once per walk.

moto 5.2.5 validates and executes every UpdateExpression by walking its syntax tree once per
processor (about ten of them). At every node of every walk it rebuilds the processor's table of
node types (`_processing_map()`, a new dict) twice: once to ask whether the node is processed,
once to find the function that processes it. Every conditional write of the service is an update
expression, so these rebuilt tables were a large part of an emulated write.

Here each walk builds the table once and visits the nodes exactly as moto's
`DepthFirstTraverser.traverse_node_recursively` does: children first, in order, each after the
processor's `pre_processing_of_child` hook; a node of a listed type replaced by what the first
matching entry (in the table's order) returns, and linked back into its parent.

The service writes a handful of update expressions over and over, and moto parses each one two or
three times per write (to check the request, then to apply it). A parsed expression is read, never
changed: the validator that rewrites it works on its own deep copy. So each text is parsed once
(a text that does not parse is not kept, and is refused again as moto refuses it).

tests/unit/test_moto_expressions.py holds update expressions, written twice, to the outcomes of
moto's own parse and walk.

Drop this module once moto keeps its parses and its traverser its table.
"""

from __future__ import annotations

import functools
from typing import Any

# moto's parsing modules start with `# type: ignore`: mypy sees no names in them
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node  # type: ignore[attr-defined]
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

_PARSED_TEXTS = 1024  # far more than the service's distinct update expressions


def _traverse(self: DepthFirstTraverser, node: Any) -> Any:
    processing = self._processing_map()
    kinds = tuple(processing)
    pre_processing_of_child = self.pre_processing_of_child

    def visit(node: Any, child_id: int = -1) -> Any:
        if isinstance(node, Node):
            parent_node = node.parent
            if node.children is not None:
                for i, child_node in enumerate(node.children):
                    pre_processing_of_child(node, i)
                    visit(child_node, i)
            if isinstance(node, kinds):
                node = next(process for kind, process in processing.items() if isinstance(node, kind))(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    return visit(node)


def install() -> None:
    if getattr(DepthFirstTraverser.traverse, "_table_once", False):
        return
    parse = UpdateExpressionParser.make.__func__

    @functools.lru_cache(maxsize=_PARSED_TEXTS)
    def parsed_once(text: str) -> Any:
        return parse(UpdateExpressionParser, text)

    def make(_cls: Any, text: str) -> Any:
        return parsed_once(text)

    make.generic = parse  # type: ignore[attr-defined]  # moto's, for the test comparing the two
    UpdateExpressionParser.make = classmethod(make)
    _traverse._table_once = True  # type: ignore[attr-defined]
    _traverse.generic = DepthFirstTraverser.traverse  # type: ignore[attr-defined]  # moto's, for the test
    DepthFirstTraverser.traverse = _traverse
