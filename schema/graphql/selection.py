"""Which nested objects a query selected, read from the resolver's `info`.

A page's `camera`/`plate` objects are loaded once for the whole page by the
resolver that builds it (one batched statement each) and set on the nodes as
plain attributes: an async resolver per node costs Strawberry a task and an
await per read, which dominated a page of 100. So the page's resolver needs to
know, before building the page, whether they were asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import strawberry

NESTED: Final = frozenset({"camera", "plate"})
NO_NESTED: Final = frozenset[str]()


def _fields(selections: Iterable[Any]) -> list[Any]:
    """The fields among `selections`, fragments (spread or inline) opened."""
    found: list[Any] = []
    for selection in selections:
        if isinstance(selection, strawberry.types.nodes.SelectedField):
            found.append(selection)
        else:
            found.extend(_fields(selection.selections))
    return found


def _result_fields(info: strawberry.Info[Any, Any]) -> list[Any]:
    """The fields selected on this field's result, fragments opened."""
    return _fields(s for field in _fields(info.selected_fields) for s in field.selections)


def nested_fields(info: strawberry.Info[Any, Any], path: Sequence[str] = ()) -> frozenset[str]:
    """Which of `camera`/`plate` are selected on the nodes at `path` below this field.

    `path` is `("edges", "node")` for a connection, `()` for a field that is
    itself a read. Over-asking (a field under `@skip`) only costs a query.
    """
    level = _result_fields(info)
    for name in path:
        level = _fields(s for field in level if field.name == name for s in field.selections)
    return NESTED.intersection(field.name for field in level)


def selected_names(info: strawberry.Info[Any, Any]) -> frozenset[str]:
    """The names of the fields selected on this field's result (fragments opened)."""
    return frozenset(field.name for field in _result_fields(info))


def below_nested(info: strawberry.Info[Any, Any]) -> bool:
    """Whether a read's `camera`/`plate` (this field being a read) selects an object
    of its own (`plate { reads }`, `camera { reads }`): those go through the
    request's reader, while the objects' scalars are plain attributes."""
    nested = _fields(s for field in _result_fields(info) for s in field.selections)
    return any(field.selections for field in nested)


def connection_nested(info: strawberry.Info[Any, Any]) -> frozenset[str]:
    """`nested_fields` for a Relay connection of reads."""
    return nested_fields(info, ("edges", "node"))
