"""The one module that reaches into graphql-core's internals: plain fields read
without graphql-core's per-field machinery.

graphql-core spends about 10 us on every field of every object (a resolve-info
tuple, a path, the resolver through Strawberry, value completion); a page of
100 reads with its camera and plate has 1,200 fields, 900 of them plain
attributes. `LeanExecutionContext` reads those directly inside graphql-core's
own loop over a selection set, and the live plan (`gateway.live_plan`) reads
a subscription's plain fields with the same `plain_value`. What it gains end
to end is in bench/README.md.

What is taken from graphql-core's executor, which it documents as not public:
`execute_fields` (copied, with the plain fields read in its loop),
`execute_field`, `collect_and_execute_subfields`, `handle_field_error`,
`settle_in_background`, `is_awaitable`, `middleware_manager`, and the shape
of a grouped field set. graphql-core is pinned to the minor version this was
tested with (pyproject.toml), and tests/unit/test_library_internals.py runs
the fast path beside graphql-core's own over corpora of queries and
subscriptions (tests/integration/test_live_protocols.py over both websocket
protocols), so an upgrade that changes any of them fails there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final, NamedTuple

from graphql import (
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    Undefined,
    is_leaf_type,
)
from graphql.pyutils import Path, gather_with_cancel

from gateway.strawberry_internals import StrawberryExecutionContext, plain_attribute


class PlainField(NamedTuple):
    """How to resolve a plain field: what Strawberry's resolver for it does
    (its default resolver, `getattr`, on the attribute), then the scalar's
    output coercion or, for an object, its sub-selection."""

    read: Callable[[Any, str], Any]
    attribute: str
    field_type: GraphQLOutputType
    non_null: bool
    coerce: Callable[[Any], Any] | None  # a scalar or enum
    object_type: GraphQLObjectType | None  # an object without is_type_of


def plain_plan(parent_type: GraphQLObjectType, name: str) -> PlainField | None:
    """The plan of field `name` of `parent_type`, or None when graphql-core must run it:
    a field that is not a plain attribute, a list, an interface or union."""
    field = parent_type.fields.get(name)
    attribute = plain_attribute(field) if field is not None else None
    if field is None or attribute is None:
        return None
    field_type = field.type
    non_null = isinstance(field_type, GraphQLNonNull)
    inner = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    read, attribute_name = attribute
    if is_leaf_type(inner):
        coerce = inner.coerce_output_value
        return PlainField(read, attribute_name, field_type, non_null, coerce, None)
    if isinstance(inner, GraphQLObjectType) and inner.is_type_of is None:
        return PlainField(read, attribute_name, field_type, non_null, None, inner)
    return None


# What `plain_value` returns for a value only graphql-core may produce (an error).
SLOW: Final[object] = object()


def plain_value(plan: PlainField, source: Any) -> Any:
    """The completed scalar, the object to complete, None, or SLOW."""
    try:
        value = plan.read(source, plan.attribute)
        if value is None:
            return SLOW if plan.non_null else None
        if isinstance(value, Exception) or value is Undefined:
            return SLOW
        if plan.coerce is None:
            return value
        coerced = plan.coerce(value)
    except Exception:  # the ordinary path reports it
        return SLOW
    return SLOW if coerced is None or coerced is Undefined else coerced


class _Step(NamedTuple):
    """One response key of a selection set, and its plain-field plan if any."""

    name: str
    field_details_list: Any
    plan: PlainField | None


class LeanExecutionContext(StrawberryExecutionContext):
    """Strawberry's execution context with a fast path for plain fields.

    A field with Strawberry's default resolver (an attribute set when the
    object was built) is read directly: no resolve info, no resolver
    wrapper, no path, no dispatch on the type; a scalar is coerced, an
    object's sub-selection executed. Anything else goes the ordinary way,
    and so does a plain field whose value would be an error (null for a
    non-null field, a failed coercion), which then raises graphql-core's own
    error. With field middleware (an extension's `resolve` hook) every
    field goes the ordinary way.

    `execute_fields` is graphql-core 3.3's, with the plain fields read in
    its loop; graphql-core memoizes a selection set per execution, so its
    plans are looked up once per selection set, not once per object.
    """

    _plans: ClassVar[dict[tuple[GraphQLObjectType, str], PlainField | None]] = {}

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        try:
            for name, details, plan in self._steps(parent_type, grouped_field_set):
                value = plain_value(plan, source_value) if plan is not None else SLOW
                if value is not SLOW and (plan.object_type is None or value is None):  # type: ignore[union-attr]
                    results[name] = value
                    continue
                field_path = Path(path, name, parent_type.name)
                if value is SLOW:
                    result = self.execute_field(
                        parent_type, source_value, details, field_path, position_context
                    )
                else:
                    result = self._complete_object(
                        plan,  # type: ignore[arg-type]
                        details,
                        field_path,
                        value,
                        position_context,
                    )
                if result is not Undefined:
                    results[name] = result
                    if self.is_awaitable(result):
                        awaitable_fields.append(name)
        except Exception:
            if awaitable_fields:
                # As graphql-core: settle the other fields' awaitables.
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return self._await_fields(results, awaitable_fields)

    @staticmethod
    async def _await_fields(results: dict[str, Any], names: list[str]) -> dict[str, Any]:
        if len(names) == 1:
            results[names[0]] = await results[names[0]]
        else:
            values = await gather_with_cancel(*(results[name] for name in names))
            results.update(zip(names, values, strict=True))
        return results

    def _steps(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> list[_Step]:
        # Keyed by identity, as graphql-core memoizes sub-selections: the set
        # is kept beside its steps, so its id cannot be reused meanwhile.
        cache: dict[int, tuple[Any, list[_Step]]] = self.__dict__.setdefault("_lean_steps", {})
        cached = cache.get(id(grouped_field_set))
        if cached is not None:
            return cached[1]
        steps = [
            _Step(name, details, self._plan(parent_type, details[0].node.name.value))
            for name, details in grouped_field_set.items()
        ]
        cache[id(grouped_field_set)] = (grouped_field_set, steps)
        return steps

    def _plan(self, parent_type: GraphQLObjectType, name: str) -> PlainField | None:
        manager = self.middleware_manager
        if manager is not None and manager.middlewares:
            return None
        key = (parent_type, name)
        plans = LeanExecutionContext._plans
        return plans[key] if key in plans else plans.setdefault(key, plain_plan(*key))

    def _complete_object(
        self, plan: PlainField, field_details_list: Any, path: Path, value: Any, position: Any
    ) -> Any:
        """`complete_value` of an object, with `execute_field`'s error handling."""
        assert plan.object_type is not None
        try:
            completed = self.collect_and_execute_subfields(
                plan.object_type, field_details_list, path, value, position
            )
        except Exception as raw_error:  # as execute_field does
            self.handle_field_error(raw_error, plan.field_type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._await_object(completed, plan.field_type, field_details_list, path)
        return completed

    async def _await_object(
        self, completed: Awaitable[Any], field_type: GraphQLOutputType, details: Any, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:  # as execute_field does
            self.handle_field_error(raw_error, field_type, details, path)
            return None
