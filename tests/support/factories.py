"""Plain-data builders shared by the unit tests: valid manifests, configs and ledger entries."""

from __future__ import annotations

import copy
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from relkit.chain import Entry
from relkit.errors import BadInput
from relkit.gates import Signature
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

FREEZE_COMMIT = "b27d4e1c8a9f3b5d7e0c2a4f6b8d1e3c5a7f9b02"
_FULL_PLAN: dict[str, Any] = {
    "owners": {"po": "dewi", "dev": "budi", "qa": "sari", "ops": "ops-demo", "comms": "rina"},
    "rollback_plan": "relkit rollback --env production: switch back to the previous release",
    "requirements": {"os": [{"distribution": "Debian", "versions": ["12"]}], "cpu": 1, "ram_mb": 512},
    "tests": {
        "functional": {"result": "passed"},
        "regression": {"result": "passed"},
        "performance": {"result": "passed"},
        "security": {"result": "passed"},
        "open_critical_bugs": 0,
    },
    "code_freeze": {"commit": FREEZE_COMMIT, "time": "2026-11-08T17:00:00+07:00"},
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


def full_manifest_data(**overrides: Any) -> dict[str, Any]:
    """A manifest with the whole release plan (owners, rollback plan, QA evidence, code freeze)."""
    data = manifest_data(**copy.deepcopy(_FULL_PLAN))
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


def signature(
    role: str,
    by: str,
    at: datetime,
    *,
    valid: bool = True,
    kind: str = "approval",
    env: str = "",
    problem: str = "",
    key: str | None = None,
    follows: tuple[str, ...] = (),
) -> Signature:
    """A checked approval/verification as the gatekeeper hands it to the gates: by default each
    principal signs with a key of its own (``SHA256:key-of-<by>``), and the record's digest is
    made from its fields (a PO approval names it in ``follows``)."""
    key = f"SHA256:key-of-{by}" if key is None else key
    digest = hashlib.sha256(f"{kind} {role} {by} {at.isoformat()} {env} {key} {follows}".encode()).hexdigest()
    return Signature(role, by, at, valid, problem, kind, env, key, digest, follows)


def unreachable_ssh_card(deploy_path: Path, **extra: Any) -> dict[str, Any]:
    """A host card (relkit/live_check.py) whose ssh command line reaches nothing: port 1."""
    return {
        "connection": "ssh",
        "argv": ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-p", "1"],
        "address": "127.0.0.1",
        "python": "python3",
        "deploy_path": str(deploy_path),
        **extra,
    }
