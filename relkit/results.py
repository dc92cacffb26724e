"""What comes back from hosts: typed task outcomes and play results, parsed once.

The engines (:mod:`relkit.engines`) turn each ansible-runner host event into a
:class:`TaskOutcome` with :func:`outcome_of`; everything downstream (recording, snapshots,
health, the quick check, the ledger callback) reads these types, never the runner's dicts.

relkit's host modules report under fixed keys of their result:

``relkit`` (``relkit_release``) → :class:`ReleaseResult`
    ``state`` (probe, install, activate, rollback), ``version``, ``sha256``, ``previous``,
    ``action`` (deploy / rollback), ``switched``, ``already_live``, ``found_live`` (the
    host-history record ``{run_id, at, by}`` of a switch another run made), probe fields
    (``installed``, ``current``, ``live``, ``last_switch``, ``free_mb``), the quick check's
    ``card`` (added by the relkit_release action plugin), and data snapshots (``snapshot``,
    ``at_rollback``, ``restored``, ``pruned_snapshots``).
``checks`` (``relkit_smoke``, ``relkit_release``)
    the smoke checks' results: one dict per check with ``name``, ``ok``, ``detail``.
``health`` (``relkit_health``) → :class:`HealthResult`
    ``status``, ``version`` and one result per check.
``shortfalls`` (``relkit_host_check``)
    what a host lacks against the manifest's requirements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relkit.hostrules import HOST_EVENTS


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class ReleaseResult:
    """What ``relkit_release`` reports under ``relkit`` for one host (see the module docstring)."""

    raw: dict[str, Any]
    state: str = ""
    version: str | None = None
    sha256: str = ""
    previous: str | None = None
    action: str | None = None
    switched: bool = False
    already_live: bool = False
    found_live: dict[str, Any] | None = None
    current: str | None = None
    last_switch: dict[str, Any] | None = None
    card: dict[str, Any] | None = None
    snapshot: dict[str, Any] | None = None
    at_rollback: dict[str, Any] | None = None
    restored: dict[str, Any] | None = None
    pruned_snapshots: tuple[str, ...] = ()

    @classmethod
    def parse(cls, data: dict[str, Any]) -> ReleaseResult:
        """Read the module's dict; fields of the wrong type are treated as absent."""
        text = lambda key: str(data[key]) if data.get(key) is not None else None  # noqa: E731
        return cls(
            raw=data,
            state=str(data.get("state") or ""),
            version=text("version"),
            sha256=str(data.get("sha256") or ""),
            previous=text("previous"),
            action=text("action"),
            switched=bool(data.get("switched")),
            already_live=bool(data.get("already_live")),
            found_live=_dict(data.get("found_live")),
            current=text("current"),
            last_switch=_dict(data.get("last_switch")),
            card=_dict(data.get("card")),
            snapshot=_dict(data.get("snapshot")),
            at_rollback=_dict(data.get("at_rollback")),
            restored=_dict(data.get("restored")),
            pruned_snapshots=tuple(str(i) for i in data.get("pruned_snapshots") or ()),
        )

    @property
    def probed(self) -> bool:
        """True for a probe or install result (they say what is installed)."""
        return "installed" in self.raw

    @property
    def moved(self) -> bool:
        """True when ``current`` moved on the host: switched by this run or found switched."""
        return self.switched or self.found_live is not None


@dataclass(frozen=True)
class HealthResult:
    """What ``relkit_health`` reports under ``health`` for one host."""

    status: str
    version: str | None
    checks: tuple[dict[str, Any], ...]

    @classmethod
    def parse(cls, data: dict[str, Any]) -> HealthResult | None:
        """None when the host reported no check list (the module failed before checking)."""
        if data.get("checks") is None:
            return None
        version = data.get("version")
        return cls(
            str(data.get("status", "critical")), str(version) if version else None, tuple(data["checks"])
        )


@dataclass(frozen=True)
class TaskOutcome:
    """One task's result on one host, as the ledger records it, with relkit's typed parts."""

    host: str
    task: str
    action: str
    status: str
    changed: bool
    msg: str
    result: dict[str, Any] = field(default_factory=dict)
    release: ReleaseResult | None = None
    checks: tuple[dict[str, Any], ...] | None = None
    health: HealthResult | None = None
    shortfalls: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, host: str, task: str, action: str, status: str, changed: bool, msg: str, result: dict[str, Any]
    ) -> TaskOutcome:
        """Build an outcome, parsing relkit's keys of ``result`` once."""
        release = _dict(result.get("relkit"))
        health = _dict(result.get("health"))
        checks = result.get("checks")
        return cls(
            host,
            task,
            action,
            status,
            changed,
            msg,
            result,
            release=ReleaseResult.parse(release) if release is not None else None,
            checks=tuple(checks) if isinstance(checks, list) else None,
            health=HealthResult.parse(health) if health is not None else None,
            shortfalls=tuple(str(s) for s in result.get("shortfalls") or ()),
        )

    @property
    def smoke_failed(self) -> bool:
        """True when this task ran smoke checks and one of them failed."""
        return self.status == "failed" and any(not c.get("ok") for c in self.checks or ())


@dataclass
class PlayResult:
    """What a play did: runner status and rc, and every task outcome per host."""

    status: str
    rc: int
    outcomes: list[TaskOutcome]
    artifacts: Path

    def hosts(self, status: str) -> list[str]:
        """Hosts with at least one task in ``status`` (failed / unreachable)."""
        return sorted({o.host for o in self.outcomes if o.status == status})

    @property
    def all_hosts(self) -> list[str]:
        """Every host that reported a task."""
        return sorted({o.host for o in self.outcomes})

    @property
    def bad_hosts(self) -> list[str]:
        """Hosts that failed or were unreachable."""
        return sorted(set(self.hosts("failed")) | set(self.hosts("unreachable")))

    def releases(self) -> dict[str, ReleaseResult]:
        """Per host, the last ``relkit_release`` result."""
        return {o.host: o.release for o in self.outcomes if o.release is not None}

    def host_states(self) -> dict[str, str]:
        """Per host: ok, failed or unreachable."""
        states = {h: "ok" for h in self.all_hosts}
        for status in ("failed", "unreachable"):
            for host in self.hosts(status):
                states[host] = status
        return states

    def stdout_tail(self, lines: int = 15) -> str:
        """The end of ansible's output, for failures that reached no host."""
        try:
            text = (self.artifacts / "stdout").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def failure_summary(self) -> str:
        """Failed hosts with their messages, or the play's own output when no host reported."""
        bad = [o for o in self.outcomes if o.status in ("failed", "unreachable")]
        if bad:
            return "\n".join(f"{o.host}: {o.status} in '{o.task}': {o.msg}" for o in bad)
        return f"ansible-runner status {self.status}, rc {self.rc}:\n{self.stdout_tail()}"

    @property
    def ok(self) -> bool:
        """True when the play succeeded on every host."""
        return self.status == "successful" and self.rc == 0

    def redone(self, hosts: Iterable[str], again: PlayResult) -> PlayResult:
        """This result with the outcomes of ``hosts`` replaced by ``again``'s (the same play run
        again on those hosts only); it succeeded if every other host succeeded and ``again`` did."""
        hosts = set(hosts)
        kept = [o for o in self.outcomes if o.host not in hosts]
        if set(self.bad_hosts) - hosts:
            status, rc = self.status, self.rc or again.rc or 2
        else:
            status, rc = again.status, again.rc
        return PlayResult(status, rc, kept + again.outcomes, self.artifacts)


def outcome_of(event: dict[str, Any]) -> TaskOutcome | None:
    """Turn an ansible-runner event into a :class:`TaskOutcome` (None for non-host events)."""
    status = HOST_EVENTS.get(event.get("event", ""))
    if status is None:
        return None
    data = event.get("event_data", {})
    res = data.get("res") or {}
    if not isinstance(res, dict):
        res = {}
    msg = res.get("msg", "")
    if status == "failed" and not msg:
        msg = str(res.get("stderr") or res.get("module_stderr") or "")[-500:]
    return TaskOutcome.of(
        host=data.get("host", "?"),
        task=data.get("task", ""),
        action=data.get("task_action", ""),
        status=status,
        changed=bool(res.get("changed")),
        msg=str(msg)[:2000],
        result=res,
    )
