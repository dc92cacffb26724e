"""The release manifest (``releases/<version>.yml``): one release, validated on load.

Pure model: no I/O. Every field is documented because the JSON Schema (``relkit schema``) is
what editors show to the people writing manifests.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from relkit.errors import FieldError
from relkit.names import SafeName

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="lower-case hex sha256")]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Artifact(_Model):
    """The build output deployed to hosts: a .tar.gz (or .tar) file."""

    path: ShortText | None = Field(
        None, description="artifact path, relative to the manifest's directory or absolute"
    )
    url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)] | None = Field(
        None, description="artifact URL (downloaded by the controller)"
    )
    sha256: Sha256
    provenance: Literal["build", "third_party"] = Field(
        "build",
        description="build: built by your pipeline from code_freeze.commit, with build info inside "
        "(relkit.yml artifacts.build_info); third_party: published by someone else, without build info: "
        "the QA and PO approvals of this manifest (which sign its sha256 and code_freeze) prove it, "
        "where relkit.yml's policy.provenance allows (signed or either)",
    )
    source: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        None,
        description="where a third-party artifact was published (release page or download URL), for the "
        "record: signed with the manifest",
    )

    @field_validator("path")
    @classmethod
    def _plain_path(cls, value: str | None) -> str | None:
        if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must not contain control characters (NUL, newline, escape…)")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Artifact:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of 'path' or 'url'")
        return self


class Change(_Model):
    """One feature or fix in the release, traced to its issue or ticket (SOP seed 002)."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9#][A-Za-z0-9#._/-]{0,63}$")] = Field(
        description="issue/ticket id, e.g. OPS-142 or #57"
    )
    type: Literal["feature", "fix", "security", "performance", "chore", "docs"]
    title: ShortText


class Schedule(_Model):
    """The agreed release window (SOP 4.1) in a named IANA timezone."""

    window_start: datetime
    window_end: datetime
    timezone: ShortText = Field(description="IANA timezone, e.g. Asia/Jakarta")
    expected_downtime_minutes: Annotated[int, Field(ge=0, le=10080)] = 0

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r}") from exc
        return value

    @property
    def zone(self) -> tzinfo:
        """The window's timezone."""
        return ZoneInfo(self.timezone)

    def aware(self, moment: datetime) -> datetime:
        """``moment`` with the schedule's timezone when it has none."""
        return moment if moment.tzinfo else moment.replace(tzinfo=self.zone)

    @model_validator(mode="after")
    def _ordered(self) -> Schedule:
        if self.aware(self.window_end) <= self.aware(self.window_start):
            raise FieldError(("window_end",), "must be after window_start")
        return self


class Owners(_Model):
    """Who does what (SOP roles). Only the QA and PO owners' signed approvals count."""

    po: ShortText | None = Field(
        None,
        description="the PO's principal in allowed_signers, or @group (relkit.yml approvals.groups): "
        "whose signed PO approval and verification count",
    )
    dev: ShortText | None = None
    qa: ShortText | None = Field(
        None,
        description="the QA's principal in allowed_signers, or @group (relkit.yml approvals.groups): "
        "whose signed QA approval counts",
    )
    ops: ShortText | None = None
    comms: ShortText | None = None


class OsSpec(_Model):
    """A supported operating system: distribution name and major versions."""

    distribution: ShortText = Field(description="e.g. Debian, Ubuntu, RedHat")
    versions: list[ShortText] = Field(default_factory=list, description="major versions; empty = any")


class Requirements(_Model):
    """What every host must offer (seed 003 §6.1)."""

    os: list[OsSpec] = Field(default_factory=list)
    cpu: Annotated[int, Field(ge=1, le=4096)] | None = None
    ram_mb: Annotated[int, Field(ge=1)] | None = None
    disk_mb: Annotated[int, Field(ge=1)] | None = Field(
        None, description="free disk under the deploy path, in MiB"
    )


class TestResult(_Model):
    """One kind of QA evidence."""

    result: Literal["passed", "failed", "pending"]
    link: ShortText | None = None


class TestEvidence(_Model):
    """QA on staging (SOP 4.2.1)."""

    functional: TestResult | None = None
    regression: TestResult | None = None
    performance: TestResult | None = None
    security: TestResult | None = None
    open_critical_bugs: Annotated[int, Field(ge=0)] = 0


class CodeFreeze(_Model):
    """The frozen commit the artifact is built from (SOP 4.2.3)."""

    commit: Annotated[str, Field(pattern=r"^[0-9a-f]{7,64}$")]
    time: datetime


class Manifest(_Model):
    """A release: what is shipped, when, by whom, and the evidence behind it."""

    app: SafeName
    version: SafeName
    artifact: Artifact
    changes: list[Change] = Field(default_factory=list, max_length=1000)
    schedule: Schedule | None = None
    owners: Owners = Field(default_factory=Owners)
    rollback_plan: Text | None = None
    requirements: Requirements = Field(default_factory=Requirements)
    tests: TestEvidence = Field(default_factory=TestEvidence)
    code_freeze: CodeFreeze | None = None
