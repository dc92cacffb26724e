"""Safe names: app names, versions and environment names become paths on hosts."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

from relkit.hostrules import SAFE_NAME, is_safe_name


def check_safe_name(value: object) -> str:
    """Accept 1-64 chars of letters, digits, ``. _ + -``, not starting with a symbol, no ``..``."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {type(value).__name__}")
    if not is_safe_name(value):  # the hosts' own rule (module_utils/relkit_rules.py)
        raise ValueError(
            "must be 1-64 characters of letters, digits, '.', '_', '+' or '-', "
            "start with a letter or digit and not contain '..'"
        )
    return value


SAFE_NAME_SCHEMA = {
    "type": "string",
    "pattern": rf"^(?!.*\.\.){SAFE_NAME.pattern}$",  # the hosts' own rule
    "title": "name",
    "description": "1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit, no '..' "
    "(it becomes a path on hosts)",
}
"""The JSON Schema of a safe name: the rule of :func:`check_safe_name`, for editors and other validators."""

SafeName = Annotated[str, BeforeValidator(check_safe_name), WithJsonSchema(SAFE_NAME_SCHEMA)]
