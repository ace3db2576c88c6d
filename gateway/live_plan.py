"""A live subscription's selection planned once, then read straight off each read.

A shared shape (`gateway.websocket.SharedShape`) renders every read that
matches it; through graphql-core that is an execution per read (about 50 us
here: the root field, its arguments, the collection of fields, each field).
The selection does not change between reads, so it is planned once, from
Strawberry's view of it (fragments opened, @skip/@include decided on the
shape's variables), into the plain-field plans of
`gateway.graphql_core_internals`; a read is then a few attribute reads and
scalar coercions.

Anything a plan does not cover is left to graphql-core: a selection with
another directive, a fragment on another type, a response key selected
twice, a field that is not a plain attribute (`plan` returns None), and any
value that would be an error (`read` returns `SLOW`), so errors are
graphql-core's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from graphql import GraphQLNonNull, GraphQLObjectType, GraphQLSchema
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from gateway.graphql_core_internals import SLOW, PlainField, plain_plan, plain_value


class _Step(NamedTuple):
    """One response key: a plain field (with its sub-plan for an object) or __typename."""

    key: str
    plain: PlainField | None  # None: __typename
    children: tuple[_Step, ...] | None
    typename: str


class Plan(NamedTuple):
    """The subscription field's response key and the plan of the read below it."""

    key: str
    steps: tuple[_Step, ...]

    def read(self, event: Any) -> dict[str, Any] | object:
        """The result's `data`, or `SLOW` when graphql-core must render this read."""
        value = _read(self.steps, event)
        return SLOW if value is SLOW else {self.key: value}


def _included(directives: dict[str, Any]) -> bool | None:
    """@skip/@include decided (their `if` is already a value); None for any other."""
    if set(directives) - {"skip", "include"}:
        return None
    skip = directives.get("skip", {}).get("if", False)
    include = directives.get("include", {}).get("if", True)
    if not isinstance(skip, bool) or not isinstance(include, bool):
        return None
    return include and not skip


def _flatten(type_name: str, selections: Iterable[Selection]) -> list[SelectedField] | None:
    """The fields of `selections` on `type_name`, fragments opened, in order."""
    fields: list[SelectedField] = []
    for selection in selections:
        included = _included(selection.directives)
        if included is None:
            return None
        if not included:
            continue
        if isinstance(selection, SelectedField):
            fields.append(selection)
            continue
        assert isinstance(selection, FragmentSpread | InlineFragment)
        if selection.type_condition not in (None, type_name):
            return None
        inner = _flatten(type_name, selection.selections)
        if inner is None:
            return None
        fields.extend(inner)
    return fields


def _plan(parent: GraphQLObjectType, selections: Iterable[Selection]) -> tuple[_Step, ...] | None:
    fields = _flatten(parent.name, selections)
    if fields is None:
        return None
    steps: list[_Step] = []
    keys: set[str] = set()
    for field in fields:
        key = field.alias or field.name
        if key in keys:
            return None  # graphql-core merges the two selections
        keys.add(key)
        if field.name == "__typename":
            steps.append(_Step(key, None, None, parent.name))
            continue
        plain = plain_plan(parent, field.name)
        if plain is None:
            return None
        children = None
        if plain.object_type is not None:
            children = _plan(plain.object_type, field.selections)
            if children is None:
                return None
        steps.append(_Step(key, plain, children, parent.name))
    return tuple(steps)


def plan(schema: GraphQLSchema, selected: list[Selection]) -> Plan | None:
    """The plan of a subscription's selection (Strawberry's `info.selected_fields`)."""
    subscription = schema.subscription_type
    if subscription is None:
        return None
    root = _flatten(subscription.name, selected)
    if root is None or len(root) != 1:
        return None
    field = subscription.fields.get(root[0].name)
    if field is None:
        return None
    read_type = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not isinstance(read_type, GraphQLObjectType):
        return None
    steps = _plan(read_type, root[0].selections)
    return None if steps is None else Plan(root[0].alias or root[0].name, steps)


def _read(steps: tuple[_Step, ...], source: Any) -> dict[str, Any] | object:
    result: dict[str, Any] = {}
    for step in steps:
        if step.plain is None:
            result[step.key] = step.typename
            continue
        value: object = plain_value(step.plain, source)
        if value is SLOW:
            return SLOW
        if step.children is not None and value is not None:
            value = _read(step.children, value)
            if value is SLOW:
                return SLOW
        result[step.key] = value
    return result
