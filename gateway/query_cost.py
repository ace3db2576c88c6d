"""What a GraphQL operation may cost, computed before it runs: pages multiplied through nesting.

    cost(selection set) = the sum of cost(field) over its fields
    cost(field)         = n * (1 + cost(below))  a field of many objects
                        = cost(below)            a field of one object
                        = 0                      a scalar or enum

`n` is the page a field asks for: its `first` or `last` (from the document,
the variables or the schema's default; 20 for a connection given neither),
or `LIST_BOUND` for a list without a page argument (`cameras`, `sites`,
`readsPerHour`). A connection's `edges` count once: their number is the
connection's page. Every alias and every spread of a fragment counts, and
`@skip`/`@include` are not read: the figure bounds the reads an operation
can ask for. Introspection fields cost nothing.

`QueryCost` refuses an operation whose cost passes the limit with
BAD_USER_INPUT, before any resolver runs, for queries over HTTP and
websockets and for subscriptions (whose selection runs once per live read).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    get_named_type,
    get_operation_ast,
    is_list_type,
    value_from_ast,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gateway.errors import BAD_INPUT
from gateway.strawberry_internals import graphql_core_schema
from schema.paging import DEFAULT_PAGE

# What a list without a page argument counts as: the cameras of a site, the
# sites, a plate's cameras. An estimate: those lists are as long as the
# deployment is large, and each of their objects may open pages of its own.
LIST_BOUND: Final = 50
_PAGE_ARGUMENTS: Final = ("first", "last")


class _Walk:
    """One operation's walk: its fragments and its variables (defaults filled in)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.fragment_costs: dict[str, int] = {}
        self.visiting: set[str] = set()

    def selections(self, parent: GraphQLObjectType, selection_set: SelectionSetNode) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(parent, selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                if isinstance(inner, GraphQLObjectType):
                    total += self.selections(inner, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> int:
        # A fragment costs the same wherever it is spread: computed once.
        if name in self.fragment_costs:
            return self.fragment_costs[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.visiting:
            return 0  # unknown or cyclic: validation refuses both
        inner = self.schema.get_type(definition.type_condition.name.value)
        if not isinstance(inner, GraphQLObjectType):
            return 0
        self.visiting.add(name)
        cost = self.fragment_costs[name] = self.selections(inner, definition.selection_set)
        self.visiting.discard(name)
        return cost

    def field(self, parent: GraphQLObjectType, node: FieldNode) -> int:
        field = parent.fields.get(node.name.value)
        if field is None or node.selection_set is None:
            return 0  # a scalar, or an introspection field
        inner = get_named_type(field.type)
        below = (
            self.selections(inner, node.selection_set)
            if isinstance(inner, GraphQLObjectType)
            else 0
        )
        many = self.page(field, node)
        return below if many is None else many * (1 + below)

    def page(self, field: GraphQLField, node: FieldNode) -> int | None:
        """How many objects `field` may return, or None for one object."""
        field_type = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
        paged = any(name in field.args for name in _PAGE_ARGUMENTS)
        if paged:
            sizes = [self.argument(field, node, name) for name in _PAGE_ARGUMENTS]
            given = [size for size in sizes if size is not None]
            return max(given) if given else DEFAULT_PAGE
        if is_list_type(field_type):
            return None if _is_connection_edges(field) else LIST_BOUND
        return None

    def argument(self, field: GraphQLField, node: FieldNode, name: str) -> int | None:
        """An integer argument's value (0 at least), or None when not given."""
        definition = field.args.get(name)
        if definition is None:
            return None
        value: Any = Undefined
        for argument in node.arguments or ():
            if argument.name.value == name:
                value = value_from_ast(argument.value, definition.type, self.variables)
        if value is Undefined:
            value = definition.default_value
        return _as_count(value)


def _as_count(value: Any) -> int | None:
    # Variables are raw here (coercion comes later): graphql-core takes an
    # integral float for an Int and refuses anything else before running.
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return max(value, 0) if isinstance(value, int) else None


def _is_connection_edges(field: GraphQLField) -> bool:
    """True for the `edges` of a connection: their number is the connection's page."""
    node_type = get_named_type(field.type)
    return isinstance(node_type, GraphQLObjectType) and "node" in node_type.fields


def _variables(operation: OperationDefinitionNode, given: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name in given:
            values[name] = given[name]
        elif definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
    return values


def _fragments(document: DocumentNode) -> Iterator[tuple[str, FragmentDefinitionNode]]:
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            yield definition.name.value, definition


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> int:
    """The cost of the operation `operation_name` of a validated `document`.

    0 when the operation is not found (execution reports that).
    """
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    walk = _Walk(schema, dict(_fragments(document)), _variables(operation, variables or {}))
    return walk.selections(root, operation.selection_set)


def cost_error(cost: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"query cost {cost} is over the limit of {limit} (each page's size multiplies "
        "the cost of what is selected inside it): ask for smaller pages or fewer nested lists",
        extensions={"code": BAD_INPUT, "cost": cost, "maxCost": limit},
    )


class QueryCost(SchemaExtension):
    """Refuse an operation whose cost (`operation_cost`) passes `limit`, before it runs."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None:
            schema = graphql_core_schema(ctx.schema)
            cost = operation_cost(schema, document, ctx.operation_name, ctx.variables)
            if cost > self.limit:
                error = cost_error(cost, self.limit)
                if ctx.operation_type is OperationType.SUBSCRIPTION:
                    raise error  # Strawberry answers an error from on_execute
                # A result set here is what Strawberry returns instead of executing.
                ctx.result = ExecutionResult(data=None, errors=[error])
        yield
