"""The project config (``relkit.yml``): the app, its environments and how to run it.

Pure model: no I/O. Strings in ``service``, ``smoke``, ``health`` and ``deploy_path`` may use
Ansible host variables (``{{ app_port }}``) and the variables every play provides
(:mod:`relkit.playvars`): they are templated per host by the plays.

Every field is described: docs/configuration.md's relkit.yml reference is generated from these
models (:mod:`relkit.configdoc`, ``make docs``).
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from relkit.errors import FieldError
from relkit.hostrules import HEALTH_KINDS, PG_DEFAULTS, PG_HOSTS, RESERVED, SMOKE_KINDS
from relkit.names import SafeName

Command = Annotated[str, Field(min_length=1, max_length=4000, title="command")]
Seconds = Annotated[float, Field(gt=0, le=3600, title="seconds")]
HostVar = Annotated[
    str,
    Field(
        pattern=r"^\{\{[^{}]+\}\}$",
        title="host variable",
        description="an Ansible host variable, e.g. {{ app_port }}",
    ),
]
ConfigPath = Annotated[str, Field(min_length=1, max_length=500, title="path")]
Url = Annotated[str, Field(min_length=1, max_length=2000, title="URL")]


def _short_segments(value: str) -> str:
    if any(len(part) > 64 for part in value.split("/")):
        raise ValueError("each path segment must be at most 64 characters")
    return value


SharedPath = Annotated[
    str,
    Field(
        max_length=200,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*(/[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*)*$",
        title="relative path",
    ),
    AfterValidator(_short_segments),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


Provenance = Literal["build_info", "signed", "either"]
"""The proof an environment requires of where an artifact comes from (the ``artifact_checksum`` gate)."""


Port = Annotated[int, Field(ge=1, le=65535)]
SshOption = Annotated[
    str,
    Field(pattern=r"^[A-Za-z][A-Za-z0-9]*=[^\s=][^\n]*$", max_length=500, title="ssh option"),
]


class WorkerNode(_Model):
    """``environments.<name>.engine.worker``: the execution node the environment's plays run on.
    relkit connects with OpenSSH, transmits the job on the connection's stdin (ansible-runner's
    ``transmit`` stream: the playbooks, roles, inventory, extra vars and the release's files) to
    ``command`` and reads the play's events back from its stdout; the node runs the play against
    the hosts. The node needs ansible-core, ansible-runner and relkit installed (docs/engines.md)."""

    host: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:\[\]-]+$")] = Field(
        description="the node's address or name, as ssh takes it"
    )
    user: SafeName | None = Field(
        None, description="the SSH user on the node (default: ssh's: the login name)"
    )
    port: Port = Field(22, description="the node's SSH port")
    identity_file: ConfigPath | None = Field(
        None, description="the SSH private key to log in with, relative to relkit.yml (default: ssh's)"
    )
    ssh_options: list[SshOption] = Field(
        [],
        description="more ssh ``-o`` options, e.g. ``StrictHostKeyChecking=yes`` or "
        "``UserKnownHostsFile=known_hosts`` (ssh reads ~/.ssh/config too)",
    )
    command: Command = Field(
        "ansible-runner worker",
        description="the command that runs the job on the node (ansible-runner's worker, reading the "
        "stream on stdin); when its first word is an absolute path, that directory comes first on the "
        "job's PATH (so a virtualenv's ansible-playbook and relkit are the ones used)",
    )
    work_dir: Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]*$", max_length=200, title="path")] = Field(
        "/tmp",
        description="the node's directory for each job's private data directory (removed when the job "
        "ends) and its secret channel's socket",
    )


class Engine(_Model):
    """``environments.<name>.engine`` as a mapping: an engine other than ``local``, with its settings.
    Today one: ``worker``."""

    worker: WorkerNode = Field(description="run the plays on an execution node over SSH")


class ServicePort(_Model):
    """A port the app listens on, on one address of the host (a bare port: any address)."""

    port: Port | HostVar = Field(description="the port (or a host variable giving it, e.g. {{ app_port }})")
    host: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        None, description="the address the app binds (e.g. {{ app_bind }}); none: any address"
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_port(cls, value: object) -> object:
        """``8080`` or ``"{{ app_port }}"`` stands for ``{port: ...}``."""
        if isinstance(value, int | str) and not isinstance(value, bool):
            return {"port": value}
        return value


class Service(_Model):
    """Shell commands run with ``/bin/sh`` on each host, in the deploy path; they see
    ``$RELKIT_VERSION`` (the release they act on), ``$RELKIT_RELEASE`` (its directory) and
    ``$RELKIT_DEPLOY_PATH``, and their output goes to ``<deploy_path>/.relkit/service.log``."""

    start: Command = Field(
        description="starts the app from current/ after the switch; must return (background the server)"
    )
    stop: Command | None = Field(
        None,
        description="stops the live release before the switch (not run on a first deploy: nothing is live)",
    )
    ports: list[ServicePort] | None = Field(
        None,
        max_length=100,
        description="ports the app listens on (a port, or {port, host}): after stop, before start, "
        "they must be free, else the switch fails naming the process holding one; default: "
        "the ports of the port smoke checks on the host's own addresses; []: none",
    )
    migrate: Command | None = Field(
        None,
        description="runs the new release's migration before the switch, after the data snapshot; "
        "$RELKIT_RELEASE is the new release's directory (also $RELKIT_VERSION, $RELKIT_PREVIOUS, "
        "$RELKIT_FIRST_HOST)",
    )
    migrate_hosts: Literal["all", "first"] = Field(
        "all", description="first: migrate once, on the first host (a database all hosts share)"
    )
    timeout: Seconds = Field(60, description="time allowed for each command")


class SmokeCheck(_Model):
    """One smoke check: a ``name`` and exactly one of ``http``, ``port`` or ``command``."""

    name: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="names the check in results"
    )
    http: Url | None = Field(None, description="passes when this URL answers with status (and contains)")
    status: Annotated[int, Field(ge=100, le=599)] = Field(200, description="http: the status expected")
    contains: Annotated[str, Field(max_length=2000)] | None = Field(
        None, description="http: text the body must contain"
    )
    port: Annotated[int, Field(ge=1, le=65535)] | HostVar | None = Field(
        None, description="passes when a TCP connection to host:port is accepted"
    )
    host: Annotated[str, Field(max_length=255)] = Field(
        "127.0.0.1", description="port: the host to connect to"
    )
    command: Command | None = Field(
        None, description="passes when the command, run in the deploy path, exits 0"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SmokeCheck:
        kinds = [k for k in SMOKE_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of 'http', 'port' or 'command'")
        return self


class Smoke(_Model):
    """Smoke checks run on each host right after every switch (deploy and rollback), retried until
    they pass or ``timeout`` runs out; ``relkit health`` runs them too, as critical checks."""

    timeout: Seconds = Field(20, description="the checks are retried until they pass or this runs out")
    interval: Annotated[float, Field(gt=0, le=60, title="seconds")] = Field(
        0.1, description="pause between retries"
    )
    checks: list[SmokeCheck] = Field(min_length=1, description="at least one (SOP 4.3.3)")


class HealthCheck(_Model):
    """One health check: a ``name``, a ``severity`` and exactly one of ``http``, ``port``,
    ``command``, ``log``, ``disk_free_mb`` or ``memory_free_mb``. ``max_latency_ms`` goes only with
    ``http`` or ``port``; ``pattern`` and ``max_matches`` only with ``log``."""

    name: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="names the check in results; unique, and not a smoke check's name"
    )
    severity: Literal["warning", "critical"] = Field(
        "critical", description="critical results count toward health.critical_threshold"
    )
    http: Url | None = Field(
        None, description="fails on another status than status, or a body without contains"
    )
    status: Annotated[int, Field(ge=100, le=599)] = Field(200, description="http: the status expected")
    contains: Annotated[str, Field(max_length=2000)] | None = Field(
        None, description="http: text the body must contain"
    )
    max_latency_ms: Annotated[float, Field(gt=0, le=600_000)] | None = Field(
        None, description="http / port: slower answers fail the check"
    )
    port: Annotated[int, Field(ge=1, le=65535)] | HostVar | None = Field(
        None, description="fails when no TCP connection to host:port is accepted"
    )
    host: Annotated[str, Field(max_length=255)] = Field(
        "127.0.0.1", description="port: the host to connect to"
    )
    command: Command | None = Field(
        None, description="fails when the command, run in the deploy path, exits non-zero"
    )
    log: Annotated[str, Field(min_length=1, max_length=500, title="path")] | None = Field(
        None,
        description="a log file, absolute or relative to the deploy path: fails when more than max_matches "
        "lines matching pattern were written since the previous health run",
    )
    pattern: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        None, description="log: Python regex of an error line (default ERROR|CRITICAL|Traceback)"
    )
    max_matches: Annotated[int, Field(ge=0)] | None = Field(
        None, description="log: matching lines allowed since the previous run (default 0)"
    )
    disk_free_mb: Annotated[int, Field(ge=1)] | None = Field(
        None, description="fails with less than this many MiB free under the deploy path"
    )
    memory_free_mb: Annotated[int, Field(ge=1)] | None = Field(
        None, description="fails with less than this many MiB of available memory (MemAvailable)"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> HealthCheck:
        kinds = [k for k in HEALTH_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of {', '.join(repr(k) for k in HEALTH_KINDS)}")
        if self.max_latency_ms is not None and kinds[0] not in ("http", "port"):
            raise FieldError(("max_latency_ms",), f"goes only with 'http' or 'port', not '{kinds[0]}'")
        for key in ("pattern", "max_matches"):
            if getattr(self, key) is not None and kinds[0] != "log":
                raise FieldError((key,), f"goes only with 'log', not '{kinds[0]}'")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except (re.error, OverflowError, RecursionError, ValueError) as exc:
                raise FieldError(("pattern",), f"not a valid regular expression: {exc}") from None
        return self

    @property
    def kind(self) -> str:
        """Which kind of check this is (http, port, command, log, disk_free_mb, memory_free_mb)."""
        return next(k for k in HEALTH_KINDS if getattr(self, k) is not None)


class Health(_Model):
    """Post-release health checks (``relkit health``) and what a run of critical results triggers.
    They run during ``policy.monitoring_hours`` after the last switch of an environment, with the
    smoke checks, which count as critical."""

    critical_threshold: Annotated[int, Field(ge=1, le=100)] = Field(
        3, description="critical results in a row, since the last switch, that trigger on_critical"
    )
    on_critical: Literal["rollback", "ask"] = Field(
        "rollback",
        description="rollback: relkit rolls back by itself; ask: records decision.needed for the PO",
    )
    timeout: Annotated[float, Field(gt=0, le=60, title="seconds")] = Field(5, description="per check")
    checks: list[HealthCheck] = Field(
        default_factory=list, description="names unique and different from the smoke checks' names"
    )

    @model_validator(mode="after")
    def _unique_names(self) -> Health:
        _unique("checks", [c.name for c in self.checks], "check names must be unique")
        return self


Percent = Annotated[str, Field(pattern=r"^(100|[1-9][0-9]?)%$", title="percentage")]
BatchSize = Annotated[int, Field(ge=1, le=100_000, title="hosts")] | Percent


class PrometheusAnalysis(_Model):
    """A PromQL query asked of a Prometheus server during a rollout's pause: every sample it returns
    must lie within ``max`` (and ``min``); no sample, or no answer, fails the analysis."""

    url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000, title="http(s) URL")] = Field(
        description="the Prometheus server, e.g. http://prometheus:9090 (relkit asks its /api/v1/query)"
    )
    query: Annotated[str, Field(min_length=1, max_length=4000, title="PromQL")] = Field(
        description="an instant query, e.g. sum(rate(http_errors_total[1m]))"
    )
    max: float | None = Field(None, description="the largest value a sample may have")
    min: float | None = Field(None, description="the smallest value a sample may have")
    timeout: Annotated[float, Field(gt=0, le=60, title="seconds")] = Field(5, description="for the query")

    @model_validator(mode="after")
    def _bounded(self) -> PrometheusAnalysis:
        if self.max is None and self.min is None:
            raise ValueError("give max (or min, or both): the bound every sample must keep")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise FieldError(("min",), f"{self.min} is above max {self.max}")
        return self


class Analysis(_Model):
    """What is checked during each pause of a rollout, on the hosts switched so far: health checks
    (the kinds of ``health.checks``) and a Prometheus query. Any failure stops the rollout."""

    checks: list[HealthCheck] = Field(
        default_factory=list, description="health checks; a failing critical one fails the analysis"
    )
    prometheus: PrometheusAnalysis | None = Field(
        None, description="a query whose samples must stay in bounds"
    )
    timeout: Annotated[float, Field(gt=0, le=60, title="seconds")] = Field(5, description="per check")

    @model_validator(mode="after")
    def _something(self) -> Analysis:
        if not self.checks and self.prometheus is None:
            raise ValueError("give checks, prometheus or both (or remove analysis)")
        _unique("checks", [c.name for c in self.checks], "check names must be unique")
        return self


class RolloutHooks(_Model):
    """Commands run on each host around its switch, in the deploy path (like ``service`` commands):
    take it out of the load balancer before its service stops, put it back once its smoke test passed."""

    drain: Command | None = Field(None, description="run before the host's service stops")
    undrain: Command | None = Field(None, description="run after the host's smoke test passed")


class Rollout(_Model):
    """Batches of hosts switched one after the other (``environments.<name>.rollout``)."""

    batches: list[BatchSize] = Field(
        min_length=1,
        max_length=100,
        description="how many hosts run the new release once each batch is done: a count or a percentage "
        "of the environment's hosts (rounded up), growing, the last 100%; e.g. [1, 25%, 100%]: one canary "
        "host, then up to a quarter, then the rest (hosts in inventory order)",
    )
    pause: Annotated[float, Field(ge=0, le=86_400, title="seconds")] | Literal["approval"] = Field(
        0.0,
        description="between batches: seconds to wait before the analysis, or approval: the rollout stops "
        "until a signed continue (relkit deploy MANIFEST --env ENV --continue --key KEY)",
    )
    analysis: Analysis | None = Field(None, description="checked after each pause, before the next batch")
    on_failure: Literal["rollback", "keep"] = Field(
        "rollback",
        description="when a batch or an analysis fails: rollback returns every host switched so far (code "
        "and data); keep stops the rollout there until a signed continue or a rollback",
    )
    hooks: RolloutHooks | None = Field(None, description="drain / undrain commands around each host's switch")

    @field_validator("batches")
    @classmethod
    def _growing(cls, value: list[int | str]) -> list[int | str]:
        if value[-1] != "100%":
            raise ValueError("the last batch must be 100% (every host runs the release at the end)")
        for kind in (int, str):
            sizes = [int(str(b).rstrip("%")) for b in value if isinstance(b, kind)]
            if any(b <= a for a, b in itertools.pairwise(sizes)):
                raise ValueError("each batch must reach more hosts than the one before it")
        return value


class Environment(_Model):
    """``environments.<name>`` (the name: same rules as ``app``): where the environment's inventory
    is, what it is promoted from, where its plays run and how its hosts switch."""

    inventory: ConfigPath = Field(description="Ansible inventory file or directory, relative to relkit.yml")
    promote_from: SafeName | None = Field(
        None,
        description="the environment whose smoke test an artifact must have passed first; it also makes "
        "this environment a production environment for the gates (the whole procedure). Must name a "
        "known environment; cycles are refused",
    )
    rollout: Rollout | None = Field(
        None,
        description="switch the hosts in batches (canary first), pausing and analysing between "
        "batches; unset: every host switches in one step",
    )
    provenance: Provenance | None = Field(
        None,
        description="the proof of the artifact's origin this environment requires (needs promote_from); "
        "default: policy.provenance",
    )
    engine: Literal["local"] | Engine = Field(
        "local",
        description="where the plays run: ``local`` (ansible-runner on this controller) or "
        "``{worker: {host: ...}}`` (an execution node running ``ansible-runner worker``, over SSH)",
    )

    @field_validator("provenance")
    @classmethod
    def _promoted_only(cls, value: Provenance | None, info: ValidationInfo) -> Provenance | None:
        if value is not None and not info.data.get("promote_from"):
            raise ValueError(
                "only an environment with promote_from checks the artifact's provenance: "
                "remove provenance or add promote_from"
            )
        return value


class Retention(_Model):
    """How many complete releases each host keeps (never the live one, the one it replaced, nor
    the one a rollback would go to)."""

    keep_releases: Annotated[int, Field(ge=2, le=100)] = Field(
        5,
        description="complete releases kept on each host; never the live one or the previous one; "
        "snapshots follow their releases",
    )


DataPath = Annotated[
    str,
    Field(
        pattern=r"^/?[A-Za-z0-9_][A-Za-z0-9_.+-]*(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*$",
        max_length=500,
        title="path",
        description="relative to the deploy path (e.g. shared/data/app.db), or absolute",
    ),
]
# EnvVarName's pattern (EnvVarName, below, adds a schema description the data items' schema lacks).
_DataEnvVarName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", title="variable name")]
PgName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_$.-]{0,62}$", title="PostgreSQL name")]
_DATA_PG_FIELDS = ("database", "host", "port", "user", "password_env")
_DATA_RESERVED = RESERVED  # the host layout's own names (module_utils/relkit_rules.py)


class DataItem(_Model):
    """One item of ``data:``, snapshotted before every switch and restored by a rollback; names are
    unique. ``database``, ``host``, ``port``, ``user`` and ``password_env`` are for ``postgresql``
    only; ``path`` is not used by it."""

    name: SafeName = Field(description="names the snapshot file on the host")
    kind: Literal["sqlite", "postgresql", "directory"] = Field(description="how it is snapshotted")
    path: DataPath | None = Field(
        None,
        description="sqlite / directory (required): the file or directory, relative to the deploy path "
        "(e.g. shared/data/app.db) or absolute; no '..', not under releases/, snapshots/, .relkit/ or "
        "current",
    )
    database: PgName | None = Field(None, description="postgresql (required): the database")
    host: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        None, description="postgresql: server host or socket directory (default 127.0.0.1)"
    )
    port: Annotated[int, Field(ge=1, le=65535)] | HostVar | None = Field(
        None, description="postgresql: server port (default 5432)"
    )
    user: PgName | None = Field(None, description="postgresql: the role (default postgres)")
    password_env: _DataEnvVarName | None = Field(
        None,
        description="postgresql: controller environment variable holding the password "
        "(sent to the host as a no_log module option, never recorded)",
    )
    hosts: Literal["all", "first"] = Field(
        "all",
        description="snapshot on every host, or once on the first host of the inventory (the default for "
        "postgresql)",
    )
    timeout: Seconds = Field(600, description="seconds allowed for one snapshot or restore of this item")

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("kind") == "postgresql":
            data = {"hosts": PG_HOSTS, **PG_DEFAULTS, **data}  # the hosts' defaults (relkit_rules.py)
        return data

    @model_validator(mode="after")
    def _fields_of_kind(self) -> DataItem:
        if self.kind == "postgresql":
            if self.database is None:
                raise FieldError(("database",), "required for kind postgresql")
            if self.path is not None:
                raise FieldError(("path",), "not used by kind postgresql (give database, host, port, user)")
            return self
        if self.path is None:
            raise FieldError(("path",), f"required for kind {self.kind}")
        given = [f for f in _DATA_PG_FIELDS if getattr(self, f) is not None]
        if given:
            also = f" (so are {', '.join(given[1:])})" if given[1:] else ""
            raise FieldError((given[0],), f"only for kind postgresql{also}")
        parts = self.path.split("/")
        if ".." in parts:
            raise FieldError(("path",), "must not contain '..'")
        if not self.path.startswith("/") and parts[0] in _DATA_RESERVED:
            raise FieldError(("path",), f"{parts[0]}/ is relkit's own; data lives in shared/ or elsewhere")
        return self


def _unique(where: str, names: list[str], rule: str) -> None:
    """Raise at the second use of a name in the list ``where``: ``where.<i>.name``."""
    for index, name in enumerate(names):
        if name in names[:index]:
            first = names.index(name)
            raise FieldError((where, index, "name"), f"{rule}: {name!r} is also {where}.{first}'s name")


def _unique_data_names(items: list[DataItem]) -> list[DataItem]:
    for index, item in enumerate(items):
        earlier = [i.name for i in items[:index]]
        if item.name in earlier:
            raise FieldError(
                (index, "name"),
                f"names must be unique: {item.name!r} is also data.{earlier.index(item.name)}'s name",
            )
    return items


DataList = Annotated[list[DataItem], AfterValidator(_unique_data_names)]


class Artifacts(_Model):
    """Artifact handling on the controller, and the limits hosts unpack an artifact within."""

    cache_dir: ConfigPath = Field(
        ".relkit/artifacts",
        description="where artifacts given by url: are downloaded (relative to relkit.yml), as "
        "<sha256>.artifact; verified by sha256 like any artifact",
    )
    build_info: Annotated[str, Field(min_length=1, max_length=200, title="file name")] = Field(
        "relkit-build.json",
        description="JSON file at the artifact's root whose 'commit' names the commit it was built from; "
        "production's artifact_checksum gate compares it with the manifest's code_freeze.commit",
    )
    max_unpacked_mb: Annotated[int, Field(ge=1, le=1024 * 1024)] = Field(
        2048,
        description="a host refuses an artifact whose regular files add up to more MiB unpacked (read from "
        "its headers, before anything is written)",
    )
    max_members: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        100_000,
        description="a host refuses an artifact with more members (files, directories and links)",
    )


class Ansible(_Model):
    """How plays are run."""

    forks: Annotated[int, Field(ge=1, le=500)] = Field(20, description="hosts worked on in parallel")
    timeout: Annotated[int, Field(ge=1, le=3600, title="seconds")] = Field(
        30, description="connection timeout"
    )
    vault_password_file: ConfigPath | None = Field(
        None,
        description="Ansible Vault password file (or executable script), relative to relkit.yml; "
        "decrypts the inventory's vault data (default: $ANSIBLE_VAULT_PASSWORD_FILE)",
    )


NOTIFY_EVENTS = (
    "announcement",
    "deploy.started",
    "deploy.finished",
    "smoke.failed",
    "rollback",
    "health.critical",
    "release.closed",
)
NotifyEvent = Literal[
    "announcement",
    "deploy.started",
    "deploy.finished",
    "smoke.failed",
    "rollback",
    "health.critical",
    "release.closed",
]
EnvVarName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
        title="variable name",
        description="name of an environment variable",
    ),
]
EmailAddress = Annotated[str, Field(pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+$", max_length=320, title="address")]


class _Channel(_Model):
    events: list[NotifyEvent] | None = Field(
        None, description="the events sent to this channel (default: every event)"
    )
    timeout: Annotated[float, Field(gt=0, le=120, title="seconds")] = Field(10, description="per send")

    def wants(self, event: str) -> bool:
        """True when this channel is subscribed to ``event``."""
        return self.events is None or event in self.events


class WebhookChannel(_Channel):
    """``notifications.channels.<name>`` with ``type: webhook``: a JSON POST (Slack/Mattermost-compatible:
    ``{"text": ...}`` plus structured fields). Give exactly one of ``url`` or ``url_env``."""

    type: Literal["webhook"] = Field(description="the channel's kind")
    url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000, title="http(s) URL")] | None = (
        Field(None, description="where to POST")
    )
    url_env: EnvVarName | None = Field(
        None,
        description="read the URL from this environment variable instead (secret URLs); at send time it "
        "must be an http:// or https:// URL without white space or control characters, else the delivery "
        "fails (the URL is not shown)",
    )
    token_env: EnvVarName | None = Field(
        None,
        description="send 'Authorization: Bearer <value of this variable>', read at send time; a value "
        "with white space, a control or a non-ASCII character is refused (the delivery fails, the value is "
        "not shown)",
    )

    @model_validator(mode="after")
    def _one_url(self) -> WebhookChannel:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of 'url' or 'url_env'")
        return self


class EmailChannel(_Channel):
    """``notifications.channels.<name>`` with ``type: email``: email over SMTP."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["email"] = Field(description="the channel's kind")
    host: Annotated[str, Field(min_length=1, max_length=255)] = Field(description="the SMTP server")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(25, description="the SMTP server's port")
    starttls: bool = Field(
        True,
        description="upgrade the connection with STARTTLS (certificate verified) before anything else; a "
        "server that does not offer it is a failed delivery, nothing sent",
    )
    allow_plaintext_auth: bool = Field(
        False,
        description="with 'starttls: false', still log in (send the password) over the unencrypted "
        "connection; without it a channel with user and no TLS is refused",
    )
    sender: EmailAddress = Field(alias="from", description="the From address")
    to: list[EmailAddress] = Field(min_length=1, max_length=100, description="the recipients")
    user: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        None, description="SMTP login; give both user and password_env, or neither; sent only over TLS"
    )
    password_env: EnvVarName | None = Field(
        None, description="SMTP password: name of the environment variable holding it"
    )

    @model_validator(mode="after")
    def _auth_pair(self) -> EmailChannel:
        if (self.user is None) != (self.password_env is None):
            missing, given = (
                ("password_env", "user") if self.password_env is None else ("user", "password_env")
            )
            raise FieldError(
                (missing,), f"required with '{given}': give both 'user' and 'password_env', or neither"
            )
        return self


Channel = Annotated[WebhookChannel | EmailChannel, Field(discriminator="type")]


class Notifications(_Model):
    """Where relkit tells people about a release (SOP 4.3.1, 4.4.2); secrets come from environment
    variables."""

    channels: dict[SafeName, Channel] = Field(
        default_factory=dict,
        description="channel name (what the ledger records) → a webhook or email channel",
    )

    @model_validator(mode="before")
    @classmethod
    def _typed(cls, data: object) -> object:
        channels = data.get("channels") if isinstance(data, dict) else None
        for name, channel in (channels or {}).items() if isinstance(channels, dict) else ():
            if not isinstance(channel, dict) or channel.get("type") not in ("webhook", "email"):
                where = ("channels", name, "type") if isinstance(channel, dict) else ("channels", name)
                raise FieldError(where, "expected a channel with type 'webhook' or 'email'")
        return data


class Freeze(_Model):
    """A dated period without deploys (e.g. year-end), in its own timezone: the freeze gate blocks
    deploys from start until end."""

    start: datetime = Field(description="the first moment of the freeze; without an offset, in timezone")
    end: datetime = Field(description="the end (excluded), after start")
    timezone: Annotated[str, Field(min_length=1, max_length=64, title="IANA timezone")] = Field(
        "UTC", description="e.g. Asia/Jakarta"
    )
    reason: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="shown when the freeze blocks a deploy"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Freeze:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise FieldError(("timezone",), f"unknown IANA timezone {self.timezone!r}") from exc
        start = self.start if self.start.tzinfo else self.start.replace(tzinfo=zone)
        end = self.end if self.end.tzinfo else self.end.replace(tzinfo=zone)
        if end <= start:
            raise FieldError(("end",), "must be after start")
        return self

    def covers(self, moment: datetime) -> bool:
        """True when ``moment`` (aware) falls inside the freeze."""
        zone = ZoneInfo(self.timezone)
        start = self.start if self.start.tzinfo else self.start.replace(tzinfo=zone)
        end = self.end if self.end.tzinfo else self.end.replace(tzinfo=zone)
        return start <= moment < end


GateName = Annotated[str, Field(pattern=r"^[a-z_]{1,40}$", title="gate name")]
StageKey = Annotated[str, Field(pattern=r"^(prepare|deploy|close)(:[A-Za-z0-9_.+-]+)?$", title="stage")]


Principal = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$", title="principal")]
GroupName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", title="group name")]


class Approvals(_Model):
    """Who may sign approvals and other acts: an OpenSSH allowed-signers file mapping principals to
    roles, and groups of principals."""

    allowed_signers: ConfigPath = Field(
        "allowed_signers",
        description="the OpenSSH allowed-signers file, relative to relkit.yml (by default the file "
        "allowed_signers next to it); each line's namespaces= option names the roles (relkit-qa, relkit-po, "
        "relkit-ops, relkit-admin) that principal may sign for. Pinned in the ledger on first use; a "
        "changed file counts once a relkit-admin of the pinned file signs it (relkit signers update)",
    )
    groups: dict[GroupName, Annotated[list[Principal], Field(min_length=1, max_length=200)]] = Field(
        default_factory=dict,
        description="group name → principals: a manifest owner written @NAME (owners.qa: '@qa-team') is any "
        "principal of group NAME; one principal still cannot approve as both QA and PO",
    )


SigningRole = Literal["po", "qa", "ops"]
"""A role whose members sign in namespace ``relkit-<role>``."""


class Policy(_Model):
    """Which gates guard which stage, and their parameters. The defaults are the full procedure."""

    gates: dict[StageKey, list[GateName]] = Field(
        default_factory=dict,
        description="stage (prepare, deploy, close) or stage:env (e.g. deploy:production) → gate names; "
        "replaces that stage's default list; unknown gate names are bad input",
    )
    notice_lead_hours: Annotated[float, Field(ge=0, le=24 * 30, title="hours")] = Field(
        24, description="how long before the window the announcement must have been sent (notice_sent)"
    )
    monitoring_hours: Annotated[float, Field(ge=24, le=48, title="hours")] = Field(
        24,
        description="how long relkit health keeps checking after the last switch, and how long before a "
        "release can be closed (monitoring_elapsed)",
    )
    freezes: list[Freeze] = Field(
        default_factory=list, description="dated periods without deploys (freeze gate)"
    )
    provenance: Provenance = Field(
        "build_info",
        description="what proves an artifact's origin on environments with promote_from: build_info (its "
        "artifacts.build_info names code_freeze.commit), signed (the QA and PO approvals of the manifest, "
        "which sign its artifact sha256 and code_freeze: for third-party artifacts), or either (build info "
        "for artifact.provenance: build, the approvals for third_party); environments.<env>.provenance "
        "overrides it",
    )
    not_overridable: list[GateName] = Field(
        default_factory=lambda: ["artifact_checksum", "promoted_from"],
        description="gates that relkit override cannot pass",
    )
    on_smoke_failure: Literal["rollback", "ask"] = Field(
        "rollback", description="smoke failed after a switch: roll back, or record that the PO decides"
    )
    on_partial_failure: Literal["rollback", "keep"] = Field(
        "rollback", description="some hosts failed after others switched: roll those back, or keep them"
    )
    signed_acts: Literal["promoted", "all"] = Field(
        "promoted",
        description="where deploys, rollbacks, unlocks and closes must be signed with the actor's SSH key "
        "(--key / RELKIT_KEY): on environments with promote_from, or on all; overrides are always signed",
    )
    override_roles: list[SigningRole] = Field(
        default_factory=lambda: list[SigningRole](["po"]),
        min_length=1,
        description="roles (allowed-signers namespaces relkit-<role>) whose members may sign a "
        "relkit override",
    )


RESERVED_ENV = frozenset(
    {"PATH", "HOME", "USER", "SHELL", "PWD", "LANG", "TERM", "TMPDIR", "PYTHONPATH", "SSH_AUTH_SOCK"}
    | {"RELKIT_CLI", "RELKIT_PROJECT", "RELKIT_STATE_DIR", "RELKIT_USER", "RELKIT_RUN_ID"}
    | {"RELKIT_SECRETS_SOCKET", "RELKIT_SECRETS_TOKEN"}
)
"""Variables ``secrets:`` may not list (nor any ANSIBLE_*): hiding them from the play would break it."""


LedgerUrl = Annotated[
    str,
    Field(
        pattern=r"^postgres(ql)?://[^\s:@/]*@?[^\s]*$",
        max_length=1000,
        title="PostgreSQL URL",
        description="postgresql://USER@HOST[:PORT]/DB[?sslmode=verify-full&...]",
    ),
]


class Ledger(_Model):
    """Where the record and the environment locks live: SQLite in the state directory by default
    (one controller); a PostgreSQL URL shares them across a team's controllers and CI runners."""

    url: LedgerUrl | None = Field(
        None,
        description="a shared PostgreSQL ledger, e.g. postgresql://relkit@db.example.com/relkit?sslmode="
        "verify-full; no password in it (see password_env); $RELKIT_LEDGER_URL overrides it; unset: "
        "SQLite in state_dir",
    )
    password_env: EnvVarName | None = Field(
        None,
        description="controller environment variable holding the PostgreSQL password (default: "
        "$RELKIT_LEDGER_PASSWORD); a secret: never shown, kept out of plays' environments",
    )
    lease_seconds: Annotated[int, Field(ge=5, le=3600)] = Field(
        30,
        description="how long an environment lock in the shared ledger lives without its holder "
        "renewing it (the holder renews every third of it); a lapsed lease is reported STALE",
    )

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value is not None:
            userinfo = value.split("://", 1)[1].split("/", 1)[0].rpartition("@")[0]
            if ":" in userinfo:
                raise ValueError(
                    "holds a password: remove it and name the variable holding it in ledger.password_env"
                )
        return value


class ProjectConfig(_Model):
    """The keys of ``relkit.yml`` itself."""

    app: SafeName = Field(description="the app's name; manifests must name the same app")
    deploy_path: Annotated[str, Field(min_length=1, max_length=500, title="path")] = Field(
        description="absolute path on the hosts (or starting with a host variable); letters, digits, "
        "_ . / + - and {{ host vars }}, no '..'; the inventory variable relkit_deploy_path overrides it "
        "per host"
    )
    environments: dict[SafeName, Environment] = Field(
        min_length=1, description="the environments relkit deploys to, by name"
    )
    service: Service = Field(description="how to stop, migrate and start the app")
    shared: list[SharedPath] = Field(
        default_factory=list,
        description="paths under shared/ linked into every release as <release>/<path> (no '..', no leading "
        "'/', each segment ≤ 64 characters)",
    )
    smoke: Smoke = Field(description="checks run right after every switch")
    retention: Retention = Field(default_factory=Retention, description="how many releases each host keeps")
    ansible: Ansible = Field(default_factory=Ansible, description="how plays are run")
    state_dir: ConfigPath = Field(
        ".relkit",
        description="ledger (ledger.db), locks/, runs/ (ansible-runner artifacts), relative to relkit.yml; "
        "$RELKIT_STATE_DIR overrides it",
    )
    ledger: Ledger = Field(
        default_factory=Ledger,
        description="where the ledger and the environment locks live (SQLite in state_dir, or a shared "
        "PostgreSQL)",
    )
    artifacts: Artifacts = Field(
        default_factory=Artifacts,
        description="artifact handling on the controller; the limits hosts unpack an artifact within",
    )
    policy: Policy = Field(
        default_factory=Policy, description="which gates guard which stage, and their parameters"
    )
    approvals: Approvals = Field(default_factory=Approvals, description="who may sign approvals and acts")
    health: Health = Field(default_factory=Health, description="checks run by relkit health after a release")
    notifications: Notifications = Field(
        default_factory=Notifications, description="where relkit tells people about a release"
    )
    data: DataList = Field(
        default_factory=list,
        description="data snapshotted before every switch and restored by a rollback",
    )
    secrets: list[EnvVarName] = Field(
        default_factory=list,
        description="controller environment variables whose values are secret: plays read them as "
        "{{ relkit_secrets.NAME }}; never in extravars, the play's environment, logs or the ledger",
    )

    @model_validator(mode="after")
    def _secret_names(self) -> ProjectConfig:
        for index, name in enumerate(self.secrets):
            if name in self.secrets[:index]:
                raise FieldError(
                    ("secrets", index), f"{name} is listed twice (also secrets.{self.secrets.index(name)})"
                )
            if name in RESERVED_ENV or name.startswith("ANSIBLE_"):
                raise FieldError(("secrets", index), f"{name}: the play needs it, it cannot be hidden")
        return self

    @model_validator(mode="after")
    def _health_names(self) -> ProjectConfig:
        smoke = [c.name for c in self.smoke.checks]
        for index, check in enumerate(self.health.checks):
            if check.name in smoke:
                first = smoke.index(check.name)
                raise FieldError(
                    ("health", "checks", index, "name"),
                    f"names already used by smoke.checks: {check.name!r} is smoke.checks.{first}'s",
                )
        return self

    @model_validator(mode="after")
    def _known_promotions(self) -> ProjectConfig:
        for name, env in self.environments.items():
            where = ("environments", name, "promote_from")
            if env.promote_from and env.promote_from not in self.environments:
                raise FieldError(where, f"unknown environment {env.promote_from!r}")
            seen, step = {name}, env.promote_from
            while step:
                if step in seen:
                    raise FieldError(where, f"promotion cycle through {step!r}")
                seen.add(step)
                step = self.environments[step].promote_from
        return self

    @field_validator("deploy_path")
    @classmethod
    def _deploy_path(cls, value: str) -> str:
        if not (value.startswith("/") or value.startswith("{{")):
            raise ValueError("must be an absolute path")
        if not re.fullmatch(r"[A-Za-z0-9_./+-]*(\{\{[^{}]+\}\}[A-Za-z0-9_./+-]*)*", value):
            raise ValueError("may only contain letters, digits, '_', '.', '/', '+', '-' and {{ host vars }}")
        if ".." in value.split("/"):
            raise ValueError("must not contain '..'")
        return value
