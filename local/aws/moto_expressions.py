"""moto's walk over an update expression's syntax tree, with its node-type table built once per walk.

moto 5.2.5 validates and executes every UpdateExpression by walking its syntax tree once per
processor (about ten of them). At every node of every walk it rebuilds the processor's table of
node types (`_processing_map()`, a new dict) twice: once to ask whether the node is processed,
once to find the function that processes it. Every conditional write of the service is an update
expression, so these rebuilt tables were a large part of an emulated write.

Here each walk builds the table once and visits the nodes exactly as moto's
`DepthFirstTraverser.traverse_node_recursively` does: children first, in order, each after the
processor's `pre_processing_of_child` hook; a node of a listed type replaced by what the first
matching entry (in the table's order) returns, and linked back into its parent.
tests/unit/test_moto_expressions.py holds update expressions to moto's own walk's results.

Drop this module once moto's traverser keeps its table.
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node


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
    _traverse._table_once = True  # type: ignore[attr-defined]
    _traverse.generic = DepthFirstTraverser.traverse  # type: ignore[attr-defined]  # for the test comparing the two
    DepthFirstTraverser.traverse = _traverse  # type: ignore[method-assign]
