"""The error tree, translated at the gateway's edges: GraphQL codes and HTTP statuses.

Client mistakes keep their message and get a code in `extensions`; anything
else is logged here with its traceback and reaches the client masked.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from schema.errors import (
    AlprError,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    StorageUnavailable,
    Unauthenticated,
)

log = logging.getLogger(__name__)

# Most specific first: (error class, GraphQL code, HTTP status).
_CODES: tuple[tuple[type[AlprError], str, int], ...] = (
    (InvalidRequest, "BAD_USER_INPUT", 422),
    (NotFound, "NOT_FOUND", 404),
    (Unauthenticated, "UNAUTHENTICATED", 401),
    (Forbidden, "FORBIDDEN", 403),
    (RateLimited, "TOO_MANY_REQUESTS", 429),
    (StorageUnavailable, "SERVICE_UNAVAILABLE", 503),
)
INTERNAL = "INTERNAL_SERVER_ERROR"
UNAVAILABLE_MESSAGE = "the database is unavailable; retry later"


def code_and_status(exc: BaseException) -> tuple[str, int]:
    for cls, code, status in _CODES:
        if isinstance(exc, cls):
            return code, status
    return INTERNAL, 500


def public_message(exc: BaseException) -> str:
    """What a client may read about `exc`."""
    code, _ = code_and_status(exc)
    if code == "SERVICE_UNAVAILABLE":
        return UNAVAILABLE_MESSAGE
    if code == INTERNAL:
        return "internal error"
    return str(exc)


def error_body(exc: BaseException) -> dict[str, Any]:
    """A GraphQL-shaped body for errors raised before GraphQL runs (auth)."""
    code, _ = code_and_status(exc)
    return {
        "data": None,
        "errors": [{"message": public_message(exc), "extensions": {"code": code}}],
    }


class ErrorCodes(MaskErrors):
    """Give every GraphQL error a code; mask the ones the client did not cause."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda _: True)

    def _process_result(self, result: object) -> None:
        # MaskErrors checks a runtime Protocol with isinstance, which is slow,
        # and subscriptions run this for every event sent to every client.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        code, message = self._classify(error)
        return GraphQLError(
            message=message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={**(error.extensions or {}), "code": code},
        )

    @staticmethod
    def _classify(error: GraphQLError) -> tuple[str, str]:
        original = error.original_error
        if error.extensions and "code" in error.extensions:
            return str(error.extensions["code"]), error.message
        if isinstance(original, AlprError):
            code, _ = code_and_status(original)
            if code == INTERNAL:
                log.error("operation failed", exc_info=original)
            return code, public_message(original)
        if error.path is None:
            # Parsing, validation (depth, aliases, tokens) and variable
            # coercion happen before execution: the document was at fault.
            return "BAD_USER_INPUT", error.message
        log.error("resolver failed", exc_info=original or error)
        return INTERNAL, "internal error"
