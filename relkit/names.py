"""Safe names: app names, versions and environment names become paths on hosts."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def check_safe_name(value: object) -> str:
    """Accept 1-64 chars of letters, digits, ``. _ + -``, not starting with a symbol, no ``..``."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {type(value).__name__}")
    if not _SAFE.fullmatch(value) or ".." in value:
        raise ValueError(
            "must be 1-64 characters of letters, digits, '.', '_', '+' or '-', "
            "start with a letter or digit and not contain '..'"
        )
    return value


SafeName = Annotated[str, BeforeValidator(check_safe_name)]
