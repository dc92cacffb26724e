"""The project config (``relkit.yml``): the app, its environments and how to run it.

Pure model: no I/O. Strings in ``service``, ``smoke`` and ``deploy_path`` may use Ansible
host variables (``{{ app_port }}``): they are templated per host by the plays.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from relkit.names import SafeName

Command = Annotated[str, Field(min_length=1, max_length=4000)]
Seconds = Annotated[float, Field(gt=0, le=3600)]
HostVar = Annotated[
    str,
    Field(pattern=r"^\{\{[^{}]+\}\}$", description="an Ansible host variable, e.g. {{ app_port }}"),
]
SharedPath = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*(/[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*)*$"
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Environment(_Model):
    """One environment: where its inventory is and what it is promoted from."""

    inventory: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        description="inventory file or directory, relative to relkit.yml"
    )
    promote_from: SafeName | None = Field(
        None,
        description="environment whose smoke test this artifact must have passed first",
    )


class Service(_Model):
    """Shell commands run on each host, in the deploy path, after a switch."""

    start: Command
    stop: Command | None = None
    migrate: Command | None = Field(None, description="run before the switch (issue: snapshots)")
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
        kinds = [k for k in ("http", "port", "command") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of 'http', 'port' or 'command'")
        return self


class Smoke(_Model):
    """Smoke checks run right after every switch; they retry until ``timeout``."""

    timeout: Seconds = 20
    interval: Annotated[float, Field(gt=0, le=60)] = 0.1
    checks: list[SmokeCheck] = Field(min_length=1, description="at least one: SOP 4.3.3")


class Retention(_Model):
    """How many complete releases each host keeps (never the live one or the previous)."""

    keep_releases: Annotated[int, Field(ge=2, le=100)] = 5


class Artifacts(_Model):
    """Artifact handling on the controller."""

    cache_dir: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        ".relkit/artifacts",
        description="where URL artifacts are downloaded, relative to relkit.yml",
    )


class Ansible(_Model):
    """How plays are run."""

    forks: Annotated[int, Field(ge=1, le=500)] = 20
    timeout: Annotated[int, Field(ge=1, le=3600)] = 30


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

    @model_validator(mode="after")
    def _known_promotions(self) -> ProjectConfig:
        for name, env in self.environments.items():
            if env.promote_from and env.promote_from not in self.environments:
                raise ValueError(
                    f"environments.{name}.promote_from: unknown environment {env.promote_from!r}"
                )
        if not (self.deploy_path.startswith("/") or self.deploy_path.startswith("{{")):
            raise ValueError("deploy_path must be an absolute path")
        if ".." in self.deploy_path.split("/"):
            raise ValueError("deploy_path must not contain '..'")
        return self
