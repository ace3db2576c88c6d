"""The one module that reaches into pydantic's internals: a model's fields
validated by pydantic-core alone, and the model built from the result.

Validating through a model runs its Python validators, a Python call each
per field and message; `schema.events` decodes plate events with a validator
made here from the model's own core schema with those validators taken out,
and repeats their work itself (what that gains end to end is in
bench/README.md). What is relied on: the layout of a model's
`__pydantic_core_schema__` (a model of model-fields; function-before and
function-after validators wrapping a field's schema, under its default, if
any), and the attributes pydantic sets on an instance (as
`BaseModel.model_construct` does).

pydantic is pinned to the minor version this was tested with
(pyproject.toml), and tests/unit/test_events_fast_path.py decodes a corpus
of valid and invalid events both ways and asserts identical events and
errors, so an upgrade that changes any of the above fails there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError
from pydantic_core import CoreSchema, SchemaValidator, core_schema

Model = TypeVar("Model", bound=BaseModel)
# What a field's schema becomes once its Python validators are taken out.
Rewrite = Callable[[CoreSchema], CoreSchema]

_VALIDATORS = ("function-before", "function-after")


def _has_function(schema: Any) -> bool:
    if isinstance(schema, dict):
        if str(schema.get("type", "")).startswith("function"):
            return True
        return any(_has_function(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_function(v) for v in schema)
    return False


def _without_validators(schema: Any, names: frozenset[str], where: str) -> Any:
    """`schema` without its outer Python validators, which must be exactly `names`."""
    stripped: set[str] = set()
    while schema["type"] in _VALIDATORS:
        stripped.add(schema["function"]["function"].__name__)
        schema = schema["schema"]
    if stripped != names or _has_function(schema):
        raise RuntimeError(f"{where}'s validators changed: update the fast path")
    return schema


def _replaced(schema: Any, names: frozenset[str], rewrite: Rewrite, where: str) -> Any:
    if schema["type"] == "default":  # the default stays, around the new schema
        return {**schema, "schema": _replaced(schema["schema"], names, rewrite, where)}
    return rewrite(_without_validators(schema, names, where))


def fields_validator(
    model: type[BaseModel],
    replaced: Mapping[str, tuple[frozenset[str], Rewrite]],
    aliases: Mapping[str, list[list[str]]],
    post_init: str | None,
) -> SchemaValidator:
    """A validator of `model`'s fields alone: a mapping in, `validated_fields` out.

    Each field in `replaced` loses its Python validators, which must be
    exactly the ones named, and what remains goes through its rewrite (under
    the field's default, which stays). `aliases` are validation aliases by
    field. Raises RuntimeError when the model has any other Python validator
    or another `post_init` than the one named: the caller repeats exactly
    these, so none may be skipped unnoticed.
    """
    model_schema = cast(dict[str, Any], model.__pydantic_core_schema__)
    shape = (model_schema["type"], model_schema["schema"]["type"], model_schema.get("post_init"))
    if shape != ("model", "model-fields", post_init):
        raise RuntimeError(f"{model.__name__}'s model validators changed: update the fast path")
    fields = {name: dict(field) for name, field in model_schema["schema"]["fields"].items()}
    for name, field in fields.items():
        where = f"{model.__name__}.{name}"
        if name in replaced:
            names, rewrite = replaced[name]
            field["schema"] = _replaced(field["schema"], names, rewrite, where)
        elif _has_function(field["schema"]):
            raise RuntimeError(f"{where} has a validator the fast path does not repeat")
    for name, alias in aliases.items():
        fields[name]["validation_alias"] = alias
    return SchemaValidator(
        core_schema.model_fields_schema(cast(Any, fields), model_name=model.__name__),
        cast(core_schema.CoreConfig, model_schema["config"]),
    )


def validated_fields(
    validator: SchemaValidator, message: Mapping[str, Any]
) -> tuple[dict[str, Any], set[str]] | None:
    """The validated values and the names of the fields set, or None when refused."""
    try:
        values, _, fields_set = validator.validate_python(message)
    except ValidationError:
        return None
    return values, fields_set


_new_object = object.__new__
_set_slot = object.__setattr__


def construct(model: type[Model], values: dict[str, Any], fields_set: set[str]) -> Model:
    """The instance pydantic-core would build from validated `values`, without
    validating them again (as `BaseModel.model_construct` does)."""
    instance: Model = _new_object(model)
    _set_slot(instance, "__dict__", values)
    _set_slot(instance, "__pydantic_fields_set__", fields_set)
    _set_slot(instance, "__pydantic_extra__", None)
    _set_slot(instance, "__pydantic_private__", None)
    return instance
