"""Defect 8 (suggestions): with introspection off, no error spells out the
schema with "Did you mean …?"."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core.settings import GatewaySettings
from gateway.graphql_schema import build_schema

EDGES = "{ edges { cursor } }"
# (document, variables): each a near miss of a name the schema has.
NEAR_MISSES: list[tuple[str, dict[str, Any]]] = [
    (f"{{ evnts {EDGES} }}", {}),  # field
    (f"{{ events(frist: 1) {EDGES} }}", {}),  # argument
    (f'{{ events(filter: {{plat: "X"}}) {EDGES} }}', {}),  # input field
    (f"{{ events(filter: {{direction: INBOUN}}) {EDGES} }}", {}),  # enum value
    (f"query ($f: EventFiltr) {{ events(filter: $f) {EDGES} }}", {}),  # type
    ("{ ...F } fragment F on Qury { stats { totalReads } }", {}),  # type condition
    (f"query ($f: EventFilter) {{ events(filter: $f) {EDGES} }}", {"f": {"plat": "X"}}),
    (
        f"query ($f: EventFilter) {{ events(filter: $f) {EDGES} }}",
        {"f": {"direction": "INBOUN"}},
    ),
    ("subscription ($f: LiveFilter) { plateDetected(filter: $f) { id } }", {"f": {"cameraI": 1}}),
    ("subscription { plateDetected { plateTxt } }", {}),
]


async def _messages(introspection: bool, document: str, variables: dict[str, Any]) -> list[str]:
    schema = build_schema(GatewaySettings(introspection=introspection))
    if document.startswith("subscription"):
        stream = await schema.subscribe(document, variable_values=variables)
        result = await anext(aiter(stream))  # type: ignore[arg-type]
    else:
        result = await schema.execute(document, variable_values=variables)
    assert result.errors, document
    return [error.message for error in result.errors]


@pytest.mark.parametrize(("document", "variables"), NEAR_MISSES)
async def test_no_suggestions_with_introspection_off(
    document: str, variables: dict[str, Any]
) -> None:
    messages = await _messages(False, document, variables)
    assert not any("Did you mean" in m for m in messages), messages


@pytest.mark.parametrize(("document", "variables"), NEAR_MISSES)
async def test_suggestions_with_introspection_on(document: str, variables: dict[str, Any]) -> None:
    # The schema is public then: the hints help, and the test above can fail.
    messages = await _messages(True, document, variables)
    assert any("Did you mean" in m for m in messages), messages


@pytest.mark.parametrize(("document", "variables"), NEAR_MISSES)
async def test_the_same_rules_refuse_the_same_mistakes(
    document: str, variables: dict[str, Any]
) -> None:
    """Validation without hints is Strawberry's own (its rules included), hints aside."""

    def unhinted(message: str) -> str:
        # graphql-core words the rest of a message a little differently without a hint.
        return re.sub(r"[.,] [Ff]ound:", ", found:", re.sub(r" Did you mean [^?]*\?", "", message))

    quiet = await _messages(False, document, variables)
    hinted = await _messages(True, document, variables)
    assert [unhinted(m) for m in quiet] == [unhinted(m) for m in hinted]
