"""relkit's one front door: what the CLI, the Ansible plugins and other programs call.

This module only re-exports, on first use (an Ansible plugin that needs the secret channel
does not pay for pydantic and the use cases). Each use case lives in :mod:`relkit.usecases`
(one module each); it validates all input before anything runs, checks the gates, takes the
environment lock, runs the play through an engine (:mod:`relkit.engines`) and records every
step in the store (:mod:`relkit.store`). Expected failures raise the named errors of
:mod:`relkit.errors` (exit codes in :mod:`relkit.cli`).
"""

from __future__ import annotations

import importlib
from typing import Any

EXPORTS: dict[str, tuple[str, str]] = {
    "__version__": ("relkit", "__version__"),
    "ChainCheck": ("relkit.chain", "ChainCheck"),
    "Entry": ("relkit.chain", "Entry"),
    "BadInput": ("relkit.errors", "BadInput"),
    "GateBlocked": ("relkit.errors", "GateBlocked"),
    "HealthCritical": ("relkit.errors", "HealthCritical"),
    "Locked": ("relkit.errors", "Locked"),
    "PlayFailed": ("relkit.errors", "PlayFailed"),
    "RelkitError": ("relkit.errors", "RelkitError"),
    "RollbackFailed": ("relkit.errors", "RollbackFailed"),
    "Checked": ("relkit.gatekeeper", "Checked"),
    "evaluate_gates": ("relkit.gatekeeper", "evaluate"),
    "record_gates": ("relkit.gatekeeper", "record"),
    "GateReport": ("relkit.gates", "GateReport"),
    "Override": ("relkit.gates", "Override"),
    "HealthReport": ("relkit.health", "HealthReport"),
    "HostHealth": ("relkit.health", "HostHealth"),
    "CALLBACK_EVENTS": ("relkit.hostrules", "CALLBACK_EVENTS"),
    "new_run_id": ("relkit.hostrules", "new_run_id"),
    "Manifest": ("relkit.manifest", "Manifest"),
    "Delivery": ("relkit.notify", "Delivery"),
    "Notice": ("relkit.notify", "Notice"),
    "Project": ("relkit.project", "Project"),
    "Written": ("relkit.report_render", "Written"),
    "HealthResult": ("relkit.results", "HealthResult"),
    "PlayResult": ("relkit.results", "PlayResult"),
    "ReleaseResult": ("relkit.results", "ReleaseResult"),
    "TaskOutcome": ("relkit.results", "TaskOutcome"),
    "outcome_of": ("relkit.results", "outcome_of"),
    "GATE_PASS": ("relkit.secret_channel", "GATE_PASS"),
    "SOCKET_ENV": ("relkit.secret_channel", "SOCKET_ENV"),
    "fetch_from_env": ("relkit.secret_channel", "fetch_from_env"),
    "RedactingStream": ("relkit.secrets", "RedactingStream"),
    "redact": ("relkit.secrets", "redact"),
    "redact_text": ("relkit.secrets", "redact_text"),
    "SnapshotRow": ("relkit.snapshots", "SnapshotRow"),
    "human_size": ("relkit.snapshots", "human_size"),
    "Holder": ("relkit.store", "Holder"),
    "Store": ("relkit.store", "Store"),
    "deploy": ("relkit.usecases.deploy", "deploy"),
    "check_gates": ("relkit.usecases.gates", "check_gates"),
    "manifest_schema": ("relkit.usecases.gates", "manifest_schema"),
    "overrides_of_run": ("relkit.usecases.gates", "overrides_of_run"),
    "parse_overrides": ("relkit.usecases.gates", "parse_overrides"),
    "validate": ("relkit.usecases.gates", "validate"),
    "health": ("relkit.usecases.health", "check_health"),
    "send_notice": ("relkit.usecases.notices", "send_notice"),
    "prepare": ("relkit.usecases.prepare", "prepare"),
    "Signed": ("relkit.usecases.procedure", "Signed"),
    "approve": ("relkit.usecases.procedure", "approve"),
    "close": ("relkit.usecases.procedure", "close"),
    "verify": ("relkit.usecases.procedure", "verify"),
    "OutcomeSink": ("relkit.usecases.recording", "OutcomeSink"),
    "StatusView": ("relkit.usecases.records", "StatusView"),
    "ledger_entries": ("relkit.usecases.records", "ledger_entries"),
    "ledger_verify": ("relkit.usecases.records", "ledger_verify"),
    "snapshots": ("relkit.usecases.records", "snapshots"),
    "status": ("relkit.usecases.records", "status"),
    "unlock": ("relkit.usecases.records", "unlock"),
    "release_report": ("relkit.usecases.reports", "release_report"),
    "write_file": ("relkit.usecases.reports", "write_file"),
    "rollback": ("relkit.usecases.rollback", "rollback"),
    "Run": ("relkit.usecases.runs", "Run"),
    "RunReport": ("relkit.usecases.runs", "RunReport"),
    "identity": ("relkit.usecases.runs", "identity"),
}
"""Public name → (module, name in that module)."""

__all__ = sorted(EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module, attr = EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'relkit.api' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
