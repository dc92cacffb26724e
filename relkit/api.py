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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, seen statically: callers get real types instead of Any
    from relkit import __version__ as __version__
    from relkit.chain import ChainCheck as ChainCheck
    from relkit.chain import Entry as Entry
    from relkit.debuglog import write_debug_log as write_debug_log
    from relkit.errors import BadInput as BadInput
    from relkit.errors import GateBlocked as GateBlocked
    from relkit.errors import HealthCritical as HealthCritical
    from relkit.errors import Locked as Locked
    from relkit.errors import PlayFailed as PlayFailed
    from relkit.errors import RelkitError as RelkitError
    from relkit.errors import RollbackFailed as RollbackFailed
    from relkit.errors import Unsigned as Unsigned
    from relkit.gatekeeper import Checked as Checked
    from relkit.gatekeeper import evaluate as evaluate_gates  # noqa: F401 (re-exported under its public name)
    from relkit.gatekeeper import record as record_gates  # noqa: F401
    from relkit.gatekeeper import refuse_pass as refuse_gate_pass  # noqa: F401
    from relkit.gates import STAGES as STAGES
    from relkit.gates import GateReport as GateReport
    from relkit.gates import Override as Override
    from relkit.health import HealthReport as HealthReport
    from relkit.health import HostHealth as HostHealth
    from relkit.hostrules import CALLBACK_EVENTS as CALLBACK_EVENTS
    from relkit.hostrules import new_run_id as new_run_id
    from relkit.manifest import Manifest as Manifest
    from relkit.metrics import EnvMetrics as EnvMetrics
    from relkit.metrics import Metrics as Metrics
    from relkit.metrics import duration as duration
    from relkit.notify import Delivery as Delivery
    from relkit.notify import Notice as Notice
    from relkit.project import Project as Project
    from relkit.project import in_project as in_project
    from relkit.report_render import Written as Written
    from relkit.results import HealthResult as HealthResult
    from relkit.results import PlayResult as PlayResult
    from relkit.results import ReleaseResult as ReleaseResult
    from relkit.results import TaskOutcome as TaskOutcome
    from relkit.results import outcome_of as outcome_of
    from relkit.secret_channel import GATE_PASS as GATE_PASS
    from relkit.secret_channel import SOCKET_ENV as SOCKET_ENV
    from relkit.secret_channel import fetch_from_env as fetch_from_env
    from relkit.secret_channel import fetch_gate_pass as fetch_gate_pass
    from relkit.secrets import RedactingStream as RedactingStream
    from relkit.secrets import redact as redact
    from relkit.secrets import redact_text as redact_text
    from relkit.snapshots import SnapshotRow as SnapshotRow
    from relkit.snapshots import human_size as human_size
    from relkit.store import Holder as Holder
    from relkit.store import Store as Store
    from relkit.usecases.deploy import deploy as deploy
    from relkit.usecases.direct import foreign_hosts as foreign_hosts
    from relkit.usecases.direct import play_manifest as play_manifest
    from relkit.usecases.gates import check_gates as check_gates
    from relkit.usecases.gates import config_schema as config_schema
    from relkit.usecases.gates import manifest_schema as manifest_schema
    from relkit.usecases.gates import override as override
    from relkit.usecases.gates import overrides_of_run as overrides_of_run
    from relkit.usecases.gates import validate as validate
    from relkit.usecases.health import check_health as health  # noqa: F401
    from relkit.usecases.ledger_moves import export_lines as ledger_export_lines  # noqa: F401
    from relkit.usecases.ledger_moves import ledger_import as ledger_import
    from relkit.usecases.ledger_moves import ledger_init as ledger_init
    from relkit.usecases.metrics import dora_metrics as metrics  # noqa: F401
    from relkit.usecases.notices import send_notice as send_notice
    from relkit.usecases.playing import register_secrets as register_secrets
    from relkit.usecases.prepare import prepare as prepare
    from relkit.usecases.procedure import Signed as Signed
    from relkit.usecases.procedure import approve as approve
    from relkit.usecases.procedure import close as close
    from relkit.usecases.procedure import verify as verify
    from relkit.usecases.recording import OutcomeSink as OutcomeSink
    from relkit.usecases.records import StatusView as StatusView
    from relkit.usecases.records import ledger_entries as ledger_entries
    from relkit.usecases.records import ledger_verify as ledger_verify
    from relkit.usecases.records import snapshots as snapshots
    from relkit.usecases.records import status as status
    from relkit.usecases.records import unlock as unlock
    from relkit.usecases.records import witness_check as witness_check
    from relkit.usecases.reports import release_report as release_report
    from relkit.usecases.reports import write_file as write_file
    from relkit.usecases.rollback import rollback as rollback
    from relkit.usecases.runs import Run as Run
    from relkit.usecases.runs import RunReport as RunReport
    from relkit.usecases.runs import identity as identity
    from relkit.usecases.signers import SignersView as SignersView
    from relkit.usecases.signers import show as signers_show  # noqa: F401
    from relkit.usecases.signers import update as signers_update  # noqa: F401
    from relkit.usecases.signing import record as record_signed_act  # noqa: F401
    from relkit.usecases.signing import sign_if_needed as sign_act_if_needed  # noqa: F401
    from relkit.usecases.validation import Validation as Validation
    from relkit.usecases.validation import validate_release as validate_release

EXPORTS: dict[str, tuple[str, str]] = {
    "__version__": ("relkit", "__version__"),
    "ChainCheck": ("relkit.chain", "ChainCheck"),
    "Entry": ("relkit.chain", "Entry"),
    "write_debug_log": ("relkit.debuglog", "write_debug_log"),
    "BadInput": ("relkit.errors", "BadInput"),
    "GateBlocked": ("relkit.errors", "GateBlocked"),
    "HealthCritical": ("relkit.errors", "HealthCritical"),
    "Locked": ("relkit.errors", "Locked"),
    "PlayFailed": ("relkit.errors", "PlayFailed"),
    "RelkitError": ("relkit.errors", "RelkitError"),
    "RollbackFailed": ("relkit.errors", "RollbackFailed"),
    "Unsigned": ("relkit.errors", "Unsigned"),
    "Checked": ("relkit.gatekeeper", "Checked"),
    "evaluate_gates": ("relkit.gatekeeper", "evaluate"),
    "record_gates": ("relkit.gatekeeper", "record"),
    "refuse_gate_pass": ("relkit.gatekeeper", "refuse_pass"),
    "GateReport": ("relkit.gates", "GateReport"),
    "Override": ("relkit.gates", "Override"),
    "STAGES": ("relkit.gates", "STAGES"),
    "HealthReport": ("relkit.health", "HealthReport"),
    "HostHealth": ("relkit.health", "HostHealth"),
    "CALLBACK_EVENTS": ("relkit.hostrules", "CALLBACK_EVENTS"),
    "new_run_id": ("relkit.hostrules", "new_run_id"),
    "Manifest": ("relkit.manifest", "Manifest"),
    "EnvMetrics": ("relkit.metrics", "EnvMetrics"),
    "Metrics": ("relkit.metrics", "Metrics"),
    "duration": ("relkit.metrics", "duration"),
    "Delivery": ("relkit.notify", "Delivery"),
    "Notice": ("relkit.notify", "Notice"),
    "Project": ("relkit.project", "Project"),
    "in_project": ("relkit.project", "in_project"),
    "Written": ("relkit.report_render", "Written"),
    "HealthResult": ("relkit.results", "HealthResult"),
    "PlayResult": ("relkit.results", "PlayResult"),
    "ReleaseResult": ("relkit.results", "ReleaseResult"),
    "TaskOutcome": ("relkit.results", "TaskOutcome"),
    "outcome_of": ("relkit.results", "outcome_of"),
    "GATE_PASS": ("relkit.secret_channel", "GATE_PASS"),
    "SOCKET_ENV": ("relkit.secret_channel", "SOCKET_ENV"),
    "fetch_from_env": ("relkit.secret_channel", "fetch_from_env"),
    "fetch_gate_pass": ("relkit.secret_channel", "fetch_gate_pass"),
    "RedactingStream": ("relkit.secrets", "RedactingStream"),
    "redact": ("relkit.secrets", "redact"),
    "redact_text": ("relkit.secrets", "redact_text"),
    "SnapshotRow": ("relkit.snapshots", "SnapshotRow"),
    "human_size": ("relkit.snapshots", "human_size"),
    "Holder": ("relkit.store", "Holder"),
    "Store": ("relkit.store", "Store"),
    "deploy": ("relkit.usecases.deploy", "deploy"),
    "check_gates": ("relkit.usecases.gates", "check_gates"),
    "config_schema": ("relkit.usecases.gates", "config_schema"),
    "manifest_schema": ("relkit.usecases.gates", "manifest_schema"),
    "overrides_of_run": ("relkit.usecases.gates", "overrides_of_run"),
    "override": ("relkit.usecases.gates", "override"),
    "validate": ("relkit.usecases.gates", "validate"),
    "health": ("relkit.usecases.health", "check_health"),
    "metrics": ("relkit.usecases.metrics", "dora_metrics"),
    "send_notice": ("relkit.usecases.notices", "send_notice"),
    "prepare": ("relkit.usecases.prepare", "prepare"),
    "Signed": ("relkit.usecases.procedure", "Signed"),
    "approve": ("relkit.usecases.procedure", "approve"),
    "close": ("relkit.usecases.procedure", "close"),
    "verify": ("relkit.usecases.procedure", "verify"),
    "OutcomeSink": ("relkit.usecases.recording", "OutcomeSink"),
    "register_secrets": ("relkit.usecases.playing", "register_secrets"),
    "foreign_hosts": ("relkit.usecases.direct", "foreign_hosts"),
    "play_manifest": ("relkit.usecases.direct", "play_manifest"),
    "record_signed_act": ("relkit.usecases.signing", "record"),
    "sign_act_if_needed": ("relkit.usecases.signing", "sign_if_needed"),
    "Validation": ("relkit.usecases.validation", "Validation"),
    "validate_release": ("relkit.usecases.validation", "validate_release"),
    "StatusView": ("relkit.usecases.records", "StatusView"),
    "ledger_entries": ("relkit.usecases.records", "ledger_entries"),
    "ledger_export_lines": ("relkit.usecases.ledger_moves", "export_lines"),
    "ledger_import": ("relkit.usecases.ledger_moves", "ledger_import"),
    "ledger_init": ("relkit.usecases.ledger_moves", "ledger_init"),
    "ledger_verify": ("relkit.usecases.records", "ledger_verify"),
    "snapshots": ("relkit.usecases.records", "snapshots"),
    "status": ("relkit.usecases.records", "status"),
    "unlock": ("relkit.usecases.records", "unlock"),
    "witness_check": ("relkit.usecases.records", "witness_check"),
    "SignersView": ("relkit.usecases.signers", "SignersView"),
    "signers_show": ("relkit.usecases.signers", "show"),
    "signers_update": ("relkit.usecases.signers", "update"),
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
