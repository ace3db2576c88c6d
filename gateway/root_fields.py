"""The root fields an operation of a GraphQL document selects, read from the document.

The audit records them with their arguments (`gateway.audit`), the metrics
label operations by them (`gateway.metrics`): both walk the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
)


def _everything(node: SelectionNode) -> bool:
    return True


def root_fields(
    document: DocumentNode,
    operation: OperationDefinitionNode,
    included: Callable[[SelectionNode], bool] = _everything,
) -> Iterator[FieldNode]:
    """The fields at the root of `operation`, in document order, through inline
    fragments and fragment spreads (each fragment opened once; unknown ones
    skipped). A selection (field or fragment) for which `included` is false
    is left out with everything below it."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return _walk(operation.selection_set, fragments, included, set())


def _walk(
    selections: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    included: Callable[[SelectionNode], bool],
    spread: set[str],
) -> Iterator[FieldNode]:
    for node in selections.selections:
        if not included(node):
            continue
        if isinstance(node, FieldNode):
            yield node
        elif isinstance(node, InlineFragmentNode):
            yield from _walk(node.selection_set, fragments, included, spread)
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in spread:
            fragment = fragments.get(node.name.value)
            if fragment is not None:
                spread.add(node.name.value)
                yield from _walk(fragment.selection_set, fragments, included, spread)
