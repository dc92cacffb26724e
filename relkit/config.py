"""The project config (``relkit.yml``): the app, its environments and how to run it.

Pure model: no I/O. Strings in ``service``, ``smoke`` and ``deploy_path`` may use Ansible
host variables (``{{ app_port }}``): they are templated per host by the plays.
"""

from __future__ import annotations

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

from relkit.hostrules import HEALTH_KINDS, PG_DEFAULTS, PG_HOSTS, RESERVED, SMOKE_KINDS
from relkit.names import SafeName

Command = Annotated[str, Field(min_length=1, max_length=4000)]
Seconds = Annotated[float, Field(gt=0, le=3600)]
HostVar = Annotated[
    str,
    Field(pattern=r"^\{\{[^{}]+\}\}$", description="an Ansible host variable, e.g. {{ app_port }}"),
]


def _short_segments(value: str) -> str:
    if any(len(part) > 64 for part in value.split("/")):
        raise ValueError("each path segment must be at most 64 characters")
    return value


SharedPath = Annotated[
    str,
    Field(
        max_length=200,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*(/[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*)*$",
    ),
    AfterValidator(_short_segments),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


Provenance = Literal["build_info", "signed", "either"]
"""The proof an environment requires of where an artifact comes from (the ``artifact_checksum`` gate)."""


class Environment(_Model):
    """One environment: where its inventory is and what it is promoted from."""

    inventory: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        description="inventory file or directory, relative to relkit.yml"
    )
    promote_from: SafeName | None = Field(
        None,
        description="environment whose smoke test this artifact must have passed first",
    )
    provenance: Provenance | None = Field(
        None,
        description="the proof of the artifact's origin this environment requires (needs promote_from); "
        "default: policy.provenance",
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


Port = Annotated[int, Field(ge=1, le=65535)]


class ServicePort(_Model):
    """A port the app listens on, on one address of the host (a bare port: any address)."""

    port: Port | HostVar
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
    """Shell commands run on each host, in the deploy path, after a switch."""

    start: Command
    stop: Command | None = None
    ports: list[ServicePort] | None = Field(
        None,
        max_length=100,
        description="ports the app listens on (a port, or {port, host}): after stop, before start, "
        "they must be free, else the switch fails naming the process holding one; default: "
        "the ports of the port smoke checks on the host's own addresses; []: none",
    )
    migrate: Command | None = Field(
        None,
        description="run before the switch, after the data snapshot, in the deploy path; "
        "$RELKIT_RELEASE is the new release's directory",
    )
    migrate_hosts: Literal["all", "first"] = Field(
        "all", description="first: migrate once, on the first host (a database all hosts share)"
    )
    timeout: Seconds = 60


class SmokeCheck(_Model):
    """One check: exactly one of http, port or command."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    http: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    status: Annotated[int, Field(ge=100, le=599)] = 200
    contains: Annotated[str, Field(max_length=2000)] | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | HostVar | None = None
    host: Annotated[str, Field(max_length=255)] = "127.0.0.1"
    command: Command | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SmokeCheck:
        kinds = [k for k in SMOKE_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of 'http', 'port' or 'command'")
        return self


class Smoke(_Model):
    """Smoke checks run right after every switch; they retry until ``timeout``."""

    timeout: Seconds = 20
    interval: Annotated[float, Field(gt=0, le=60)] = 0.1
    checks: list[SmokeCheck] = Field(min_length=1, description="at least one: SOP 4.3.3")


class HealthCheck(_Model):
    """One health check: exactly one of http, port, command, log, disk_free_mb or memory_free_mb."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    severity: Literal["warning", "critical"] = "critical"
    http: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    status: Annotated[int, Field(ge=100, le=599)] = 200
    contains: Annotated[str, Field(max_length=2000)] | None = None
    max_latency_ms: Annotated[float, Field(gt=0, le=600_000)] | None = Field(
        None, description="http/port: slower answers fail the check"
    )
    port: Annotated[int, Field(ge=1, le=65535)] | HostVar | None = None
    host: Annotated[str, Field(max_length=255)] = "127.0.0.1"
    command: Command | None = None
    log: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        None, description="log file, absolute or relative to the deploy path"
    )
    pattern: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        None, description="log: Python regex of an error line (default ERROR|CRITICAL|Traceback)"
    )
    max_matches: Annotated[int, Field(ge=0)] | None = Field(
        None, description="log: more matching lines than this since the last run fail (default 0)"
    )
    disk_free_mb: Annotated[int, Field(ge=1)] | None = Field(
        None, description="minimum free MiB under the deploy path"
    )
    memory_free_mb: Annotated[int, Field(ge=1)] | None = Field(
        None, description="minimum available memory, MiB (MemAvailable)"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> HealthCheck:
        kinds = [k for k in HEALTH_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of {', '.join(repr(k) for k in HEALTH_KINDS)}")
        if self.max_latency_ms is not None and kinds[0] not in ("http", "port"):
            raise ValueError("'max_latency_ms' goes with 'http' or 'port'")
        if (self.pattern is not None or self.max_matches is not None) and kinds[0] != "log":
            raise ValueError("'pattern' and 'max_matches' go with 'log'")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except (re.error, OverflowError, RecursionError, ValueError) as exc:
                raise ValueError(f"'pattern' is not a valid regular expression: {exc}") from None
        return self

    @property
    def kind(self) -> str:
        """Which kind of check this is (http, port, command, log, disk_free_mb, memory_free_mb)."""
        return next(k for k in HEALTH_KINDS if getattr(self, k) is not None)


class Health(_Model):
    """Post-release health checks (``relkit health``) and what a run of critical results triggers.

    They run during ``policy.monitoring_hours`` after the last switch of an environment.
    """

    critical_threshold: Annotated[int, Field(ge=1, le=100)] = Field(
        3, description="consecutive critical results (since the last switch) that trigger on_critical"
    )
    on_critical: Literal["rollback", "ask"] = Field(
        "rollback", description="rollback: automatic rollback; ask: record decision.needed for the PO"
    )
    timeout: Annotated[float, Field(gt=0, le=60)] = Field(5, description="seconds per check")
    checks: list[HealthCheck] = Field(
        default_factory=list, description="run with the smoke checks (which count as critical)"
    )

    @model_validator(mode="after")
    def _unique_names(self) -> Health:
        names = [c.name for c in self.checks]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"check names must be unique: {', '.join(dupes)}")
        return self


class Retention(_Model):
    """How many complete releases each host keeps (never the live one, the one it replaced, nor
    the one a rollback would go to)."""

    keep_releases: Annotated[int, Field(ge=2, le=100)] = 5


DataPath = Annotated[
    str,
    Field(
        pattern=r"^/?[A-Za-z0-9_][A-Za-z0-9_.+-]*(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*$",
        max_length=500,
        description="relative to the deploy path (e.g. shared/data/app.db), or absolute",
    ),
]
# EnvVarName's pattern (EnvVarName, below, adds a schema description the data items' schema lacks).
_DataEnvVarName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
PgName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_$.-]{0,62}$")]
_DATA_PG_FIELDS = ("database", "host", "port", "user", "password_env")
_DATA_RESERVED = RESERVED  # the host layout's own names (module_utils/relkit_rules.py)


class DataItem(_Model):
    """Data snapshotted before every switch and restored by a rollback (``data:`` in relkit.yml)."""

    name: SafeName = Field(description="names the snapshot file on the host")
    kind: Literal["sqlite", "postgresql", "directory"]
    path: DataPath | None = Field(None, description="sqlite / directory: the file or directory")
    database: PgName | None = Field(None, description="postgresql: the database")
    host: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        None, description="postgresql: server host or socket directory (default 127.0.0.1)"
    )
    port: Annotated[int, Field(ge=1, le=65535)] | HostVar | None = Field(None, description="default 5432")
    user: PgName | None = Field(None, description="postgresql: role (default postgres)")
    password_env: _DataEnvVarName | None = Field(
        None,
        description="postgresql: controller environment variable holding the password "
        "(sent to the host as a no_log module option, never recorded)",
    )
    hosts: Literal["all", "first"] = Field(
        "all", description="snapshot on every host, or once on the first host (default for postgresql)"
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
                raise ValueError("database: required for kind postgresql")
            if self.path is not None:
                raise ValueError("path: not used by kind postgresql (give database, host, port, user)")
            return self
        if self.path is None:
            raise ValueError(f"path: required for kind {self.kind}")
        given = [f for f in _DATA_PG_FIELDS if getattr(self, f) is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: only for kind postgresql")
        parts = self.path.split("/")
        if ".." in parts:
            raise ValueError("path: must not contain '..'")
        if not self.path.startswith("/") and parts[0] in _DATA_RESERVED:
            raise ValueError(f"path: {parts[0]}/ is relkit's own; data lives in shared/ or elsewhere")
        return self


def _unique_data_names(items: list[DataItem]) -> list[DataItem]:
    names = [i.name for i in items]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"data: names must be unique, repeated: {', '.join(dupes)}")
    return items


DataList = Annotated[list[DataItem], AfterValidator(_unique_data_names)]


class Artifacts(_Model):
    """Artifact handling on the controller, and the limits hosts unpack an artifact within."""

    cache_dir: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        ".relkit/artifacts",
        description="where URL artifacts are downloaded, relative to relkit.yml",
    )
    build_info: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        "relkit-build.json",
        description="JSON file at the artifact's root whose 'commit' names the commit it was built from",
    )
    max_unpacked_mb: Annotated[int, Field(ge=1, le=1024 * 1024)] = Field(
        2048,
        description="hosts refuse an artifact whose files add up to more MiB unpacked (before the switch)",
    )
    max_members: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        100_000,
        description="hosts refuse an artifact with more members (files, directories and links)",
    )


class Ansible(_Model):
    """How plays are run."""

    forks: Annotated[int, Field(ge=1, le=500)] = 20
    timeout: Annotated[int, Field(ge=1, le=3600)] = 30
    vault_password_file: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
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
    str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", description="name of an environment variable")
]
EmailAddress = Annotated[str, Field(pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+$", max_length=320)]


class _Channel(_Model):
    events: list[NotifyEvent] | None = Field(
        None, description=f"events sent to this channel (default: all of {', '.join(NOTIFY_EVENTS)})"
    )
    timeout: Annotated[float, Field(gt=0, le=120)] = Field(10, description="seconds per send")

    def wants(self, event: str) -> bool:
        """True when this channel is subscribed to ``event``."""
        return self.events is None or event in self.events


class WebhookChannel(_Channel):
    """A JSON webhook (Slack/Mattermost-compatible: ``{"text": ...}`` plus structured fields)."""

    type: Literal["webhook"]
    url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)] | None = None
    url_env: EnvVarName | None = Field(
        None, description="read the URL from this variable instead (Slack-style secret URLs)"
    )
    token_env: EnvVarName | None = Field(
        None, description="send 'Authorization: Bearer <value of this variable>' (read at send time)"
    )

    @model_validator(mode="after")
    def _one_url(self) -> WebhookChannel:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of 'url' or 'url_env'")
        return self


class EmailChannel(_Channel):
    """Email over SMTP."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["email"]
    host: Annotated[str, Field(min_length=1, max_length=255)]
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    starttls: bool = Field(
        True, description="upgrade the connection with STARTTLS (certificate verified) before anything else"
    )
    allow_plaintext_auth: bool = Field(
        False,
        description="with 'starttls: false', still log in (send the password) over the unencrypted "
        "connection; without it relkit refuses to",
    )
    sender: EmailAddress = Field(alias="from", description="the From address")
    to: list[EmailAddress] = Field(min_length=1, max_length=100)
    user: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    password_env: EnvVarName | None = Field(
        None, description="SMTP password: name of the environment variable holding it"
    )

    @model_validator(mode="after")
    def _auth_pair(self) -> EmailChannel:
        if (self.user is None) != (self.password_env is None):
            raise ValueError("give both 'user' and 'password_env', or neither")
        return self


Channel = Annotated[WebhookChannel | EmailChannel, Field(discriminator="type")]


class Notifications(_Model):
    """Where relkit tells people about a release (SOP 4.3.1, 4.4.2); secrets come from env vars."""

    channels: dict[SafeName, Channel] = Field(
        default_factory=dict, description="channel name → webhook or email channel"
    )

    @model_validator(mode="before")
    @classmethod
    def _typed(cls, data: object) -> object:
        channels = data.get("channels") if isinstance(data, dict) else None
        for name, channel in (channels or {}).items() if isinstance(channels, dict) else ():
            if not isinstance(channel, dict) or channel.get("type") not in ("webhook", "email"):
                raise ValueError(f"channels.{name}.type: expected 'webhook' or 'email'")
        return data


class Freeze(_Model):
    """A dated period without deploys (e.g. year-end), in its own timezone."""

    start: datetime
    end: datetime
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    reason: Annotated[str, Field(min_length=1, max_length=200)]

    @model_validator(mode="after")
    def _ordered(self) -> Freeze:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone: unknown IANA timezone {self.timezone!r}") from exc
        start = self.start if self.start.tzinfo else self.start.replace(tzinfo=zone)
        end = self.end if self.end.tzinfo else self.end.replace(tzinfo=zone)
        if end <= start:
            raise ValueError("end must be after start")
        return self

    def covers(self, moment: datetime) -> bool:
        """True when ``moment`` (aware) falls inside the freeze."""
        zone = ZoneInfo(self.timezone)
        start = self.start if self.start.tzinfo else self.start.replace(tzinfo=zone)
        end = self.end if self.end.tzinfo else self.end.replace(tzinfo=zone)
        return start <= moment < end


GateName = Annotated[str, Field(pattern=r"^[a-z_]{1,40}$")]
StageKey = Annotated[str, Field(pattern=r"^(prepare|deploy|close)(:[A-Za-z0-9_.+-]+)?$")]


Principal = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")]
GroupName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class Approvals(_Model):
    """Signed approvals: ssh-keygen allowed-signers file mapping principals to roles."""

    allowed_signers: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        "allowed_signers",
        description="relative to relkit.yml; each line's namespaces= option names the roles "
        "(relkit-qa, relkit-po) that principal may sign for",
    )
    groups: dict[GroupName, Annotated[list[Principal], Field(min_length=1, max_length=200)]] = Field(
        default_factory=dict,
        description="named groups of principals: a manifest owner written @NAME (owners.qa: '@qa-team') "
        "is any member of group NAME",
    )


SigningRole = Literal["po", "qa", "ops"]
"""A role whose members sign in namespace ``relkit-<role>``."""


class Policy(_Model):
    """Which gates guard which stage, and their parameters. The defaults are the SOP."""

    gates: dict[StageKey, list[GateName]] = Field(
        default_factory=dict,
        description="stage (prepare, deploy, close) or stage:env → gate names; replaces the default",
    )
    notice_lead_hours: Annotated[float, Field(ge=0, le=24 * 30)] = 24
    monitoring_hours: Annotated[float, Field(ge=24, le=48)] = 24
    freezes: list[Freeze] = Field(default_factory=list)
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
        "(--key): on environments with promote_from, or on all; overrides are always signed",
    )
    override_roles: list[SigningRole] = Field(
        default_factory=lambda: list[SigningRole](["po"]),
        min_length=1,
        description="roles (allowed-signers namespaces relkit-<role>) whose members may sign an override",
    )


RESERVED_ENV = frozenset(
    {"PATH", "HOME", "USER", "SHELL", "PWD", "LANG", "TERM", "TMPDIR", "PYTHONPATH", "SSH_AUTH_SOCK"}
    | {"RELKIT_CLI", "RELKIT_PROJECT", "RELKIT_STATE_DIR", "RELKIT_USER", "RELKIT_RUN_ID"}
    | {"RELKIT_SECRETS_SOCKET", "RELKIT_SECRETS_TOKEN"}
)
"""Variables ``secrets:`` may not list (nor any ANSIBLE_*): hiding them from the play would break it."""


class ProjectConfig(_Model):
    """``relkit.yml``."""

    app: SafeName
    deploy_path: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        description="absolute path on hosts; inventory var relkit_deploy_path overrides per host"
    )
    environments: dict[SafeName, Environment] = Field(min_length=1)
    service: Service
    shared: list[SharedPath] = Field(
        default_factory=list,
        description="paths under shared/ linked into every release (no '..', no leading '/')",
    )
    smoke: Smoke
    retention: Retention = Field(default_factory=Retention)
    ansible: Ansible = Field(default_factory=Ansible)
    state_dir: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        ".relkit", description="ledger, locks and run artifacts, relative to relkit.yml"
    )
    artifacts: Artifacts = Field(default_factory=Artifacts)
    policy: Policy = Field(default_factory=Policy)
    approvals: Approvals = Field(default_factory=Approvals)
    health: Health = Field(default_factory=Health)
    notifications: Notifications = Field(default_factory=Notifications)
    data: DataList = Field(
        default_factory=list, description="data snapshotted before every switch, restored by rollback"
    )
    secrets: list[EnvVarName] = Field(
        default_factory=list,
        description="controller environment variables whose values are secret: plays read them as "
        "{{ relkit_secrets.NAME }}; never in extravars, the play's environment, logs or the ledger",
    )

    @model_validator(mode="after")
    def _secret_names(self) -> ProjectConfig:
        if dupes := sorted({n for n in self.secrets if self.secrets.count(n) > 1}):
            raise ValueError(f"secrets: listed twice: {', '.join(dupes)}")
        reserved = [n for n in self.secrets if n in RESERVED_ENV or n.startswith("ANSIBLE_")]
        if reserved:
            raise ValueError(f"secrets: {', '.join(reserved)}: the play needs it, it cannot be hidden")
        return self

    @model_validator(mode="after")
    def _health_names(self) -> ProjectConfig:
        clash = {c.name for c in self.health.checks} & {c.name for c in self.smoke.checks}
        if clash:
            raise ValueError(f"health.checks: names already used by smoke.checks: {', '.join(sorted(clash))}")
        return self

    @model_validator(mode="after")
    def _known_promotions(self) -> ProjectConfig:
        for name, env in self.environments.items():
            if env.promote_from and env.promote_from not in self.environments:
                raise ValueError(
                    f"environments.{name}.promote_from: unknown environment {env.promote_from!r}"
                )
            seen, step = {name}, env.promote_from
            while step:
                if step in seen:
                    raise ValueError(f"environments.{name}.promote_from: promotion cycle through {step!r}")
                seen.add(step)
                step = self.environments[step].promote_from
        if not (self.deploy_path.startswith("/") or self.deploy_path.startswith("{{")):
            raise ValueError("deploy_path must be an absolute path")
        if not re.fullmatch(r"[A-Za-z0-9_./+-]*(\{\{[^{}]+\}\}[A-Za-z0-9_./+-]*)*", self.deploy_path):
            raise ValueError(
                "deploy_path may only contain letters, digits, '_', '.', '/', '+', '-' and {{ host vars }}"
            )
        if ".." in self.deploy_path.split("/"):
            raise ValueError("deploy_path must not contain '..'")
        return self
