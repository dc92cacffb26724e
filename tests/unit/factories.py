"""Plain-data builders shared by the unit tests: valid manifests, configs and ledger entries."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from relkit.chain import Entry
from relkit.errors import BadInput
from relkit.loading import validate_data

SHA_A = "a" * 64
SHA_B = "b" * 64

_MANIFEST: dict[str, Any] = {
    "app": "webapp",
    "version": "1.2.3",
    "artifact": {"path": "dist/webapp-1.2.3.tar.gz", "sha256": SHA_A},
    "changes": [{"id": "WEB-1", "type": "feature", "title": "Notes"}],
    "schedule": {
        "window_start": "2026-11-10T22:00:00",
        "window_end": "2026-11-10T23:30:00",
        "timezone": "Asia/Jakarta",
    },
}

_CONFIG: dict[str, Any] = {
    "app": "webapp",
    "deploy_path": "/opt/webapp",
    "environments": {
        "staging": {"inventory": "inventory/staging.yml"},
        "production": {"inventory": "inventory/production.yml", "promote_from": "staging"},
    },
    "service": {"start": "python3 current/app.py serve"},
    "shared": ["data", "log"],
    "smoke": {"checks": [{"name": "health", "http": "http://127.0.0.1:8080/health"}]},
}


def manifest_data(**overrides: Any) -> dict[str, Any]:
    """A valid manifest as a dict (fresh copy); top-level keys replaced by ``overrides``."""
    data = copy.deepcopy(_MANIFEST)
    data.update(overrides)
    return data


def config_data(**overrides: Any) -> dict[str, Any]:
    """A valid relkit.yml as a dict (fresh copy); top-level keys replaced by ``overrides``."""
    data = copy.deepcopy(_CONFIG)
    data.update(overrides)
    return data


def problems_of(model: type, data: Any, source: str = "input.yml") -> list[str]:
    """The ``field.path: message`` lines of the BadInput that validating ``data`` raises."""
    with pytest.raises(BadInput) as info:
        validate_data(model, data, source)
    assert str(info.value).startswith(f"{source}: invalid {model.__name__}")
    return info.value.problems


def entry(
    kind: str,
    *,
    env: str = "staging",
    host: str = "",
    run_id: str = "r1",
    seq: int = 1,
    ts: str = "2026-11-10T15:00:00.000000+00:00",
    **data: Any,
) -> Entry:
    """An unsealed ledger entry (gates and status only look at its fields)."""
    return Entry(seq, ts, run_id, kind, env, host, data)
