"""Post-release health (SOP 4.4.1), the pure part: results, streaks, decisions, metrics text.

The use case that runs the checks, records them and applies the policy is
:mod:`relkit.usecases.health`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from relkit.chain import Entry
from relkit.config import Health, ProjectConfig
from relkit.hostrules import HEALTH_RANK
from relkit.results import PlayResult

_UNDEFINED = re.compile(r"is undefined|undefined variable", re.IGNORECASE)
"""How Ansible says a template named a variable it does not have (the module never ran)."""

RANK = HEALTH_RANK
"""Status -> rank: the relkit_health module's own (module_utils/relkit_rules.py)."""


@dataclass
class HostHealth:
    """One host's health: its status, live version and one result per check."""

    host: str
    status: str
    version: str | None
    checks: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""


@dataclass
class HealthReport:
    """What a ``relkit health`` run found and did, for the terminal and ``--output json``."""

    env: str
    status: str
    run_id: str = ""
    skipped: str = ""
    hosts: dict[str, HostHealth] = field(default_factory=dict)
    window_end: str = ""
    consecutive_critical: int = 0
    threshold: int = 0
    decision: dict[str, Any] = field(default_factory=dict)
    rolled_back: dict[str, str] = field(default_factory=dict)
    prom_file: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    next_steps: list[str] = field(default_factory=list)
    """What to do about a critical result: the commands to restart, roll back or decide."""
    checked_by: dict[str, Any] = field(default_factory=dict)
    """How the hosts were checked: ``how`` (``direct``: over the host cards, no play; ``play``)
    and, for a play, ``why_play`` (why the direct check was not used)."""

    @property
    def critical(self) -> bool:
        """True when a critical check failed on some host."""
        return self.status == "critical"

    def summary(self) -> str:
        """One line (or a few) saying what was found and what was done."""
        if self.skipped:
            return f"health {self.env}: skipped: {self.skipped}"
        bad = [
            f"{h.host} {c['name']}: {c['detail']}"
            for h in self.hosts.values()
            for c in h.checks
            if c["status"] == "critical"
        ] + [f"{h.host}: {h.problem}" for h in self.hosts.values() if h.problem]
        head = f"health {self.env}: {self.status}"
        if self.status == "critical":
            head += f" ({self.consecutive_critical} of {self.threshold} in a row since the last switch)"
        lines = [head, *(f"  {b}" for b in bad)]
        if self.rolled_back:
            lines.append(
                "  rolled back automatically: " + ", ".join(f"{h} → {v}" for h, v in self.rolled_back.items())
            )
        elif self.decision:
            lines.append(f"  {self.decision['note']}")
        if self.next_steps:
            lines.append("next steps:")
            lines += [f"  - {step}" for step in self.next_steps]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["critical"] = self.critical
        return data


# -- pure logic --------------------------------------------------------------------------


def monitoring_hours(config: ProjectConfig) -> float:
    """Hours a release is monitored after its switch (``policy.monitoring_hours``, SOP 4.4.1: 24-48)."""
    return config.policy.monitoring_hours


def last_switch(entries: Iterable[Entry], env: str) -> Entry | None:
    """The last ``host.switched`` entry of ``env``."""
    found = None
    for e in entries:
        if e.kind == "host.switched" and e.env == env:
            found = e
    return found


def window_end(switch: Entry, hours: float) -> datetime:
    """When the monitoring window that opened with ``switch`` closes."""
    return datetime.fromisoformat(switch.ts) + timedelta(hours=hours)


def health_checks(config: ProjectConfig) -> list[dict[str, Any]]:
    """What the host module runs: the smoke checks as critical, then the health checks."""
    smoke = [
        {**c.model_dump(exclude_none=True), "severity": "critical", "source": "smoke"}
        for c in config.smoke.checks
    ]
    return smoke + [{**c.model_dump(exclude_none=True), "source": "health"} for c in config.health.checks]


def health_vars(config: ProjectConfig) -> dict[str, Any]:
    """``relkit_health`` of the plays: the checks and the seconds each may take. The health play
    runs them; the deploy play's probe keeps them, rendered, in the host cards (the direct check)."""
    return {"checks": health_checks(config), "timeout": config.health.timeout}


def host_health(result: PlayResult, hosts: Iterable[str] = ()) -> dict[str, HostHealth]:
    """Per host, the module's health result; a host without one (unreachable, failed) is critical."""
    found: dict[str, HostHealth] = {}
    for o in result.outcomes:
        if o.health is not None:
            found[o.host] = HostHealth(o.host, o.health.status, o.health.version, list(o.health.checks))
            if not o.health.checks and o.status != "ok":
                found[o.host].problem = o.msg
        elif o.status in ("failed", "unreachable") and o.host not in found:
            found[o.host] = HostHealth(o.host, "critical", None, [], f"{o.status}: {o.msg}")
    for host in hosts:
        found.setdefault(host, HostHealth(host, "critical", None, [], "no health result (host not reached)"))
    return dict(sorted(found.items()))


def config_problems(result: PlayResult) -> dict[str, str]:
    """Per host, why the health checks could not run there because of the configuration: its
    deploy path does not exist (the inventory's ``relkit_deploy_path`` points elsewhere, a
    variable it uses is unset, or nothing was deployed there), or a variable of the task is
    undefined. These are not health results: nothing about the live release was learnt."""
    found: dict[str, str] = {}
    for o in result.outcomes:
        missing = o.result.get("deploy_path_missing")
        if missing:
            found[o.host] = f"deploy path {missing} does not exist"
        elif o.status == "failed" and o.health is None and _UNDEFINED.search(o.msg):
            found.setdefault(o.host, o.msg.splitlines()[0][:300] if o.msg else "undefined variable")
    return dict(sorted(found.items()))


def overall(hosts: Iterable[HostHealth]) -> str:
    """The worst host status (ok when there is no host)."""
    return max((h.status for h in hosts), key=RANK.__getitem__, default="ok")


def critical_streak(entries: Iterable[Entry], env: str, since_seq: int) -> list[Entry]:
    """The trailing run of critical ``health.result`` entries of ``env`` after entry ``since_seq``."""
    streak: list[Entry] = []
    for e in entries:
        if e.kind != "health.result" or e.env != env or e.seq <= since_seq:
            continue
        streak = [*streak, e] if e.data.get("status") == "critical" else []
    return streak


def evidence(streak: Iterable[Entry]) -> list[dict[str, Any]]:
    """The failing results behind a decision: per health run, each host's critical checks."""
    return [
        {
            "seq": e.seq,
            "ts": e.ts,
            "run_id": e.run_id,
            "failing": {
                host: [
                    f"{c['name']}: {c['detail']}"
                    for c in info.get("checks", [])
                    if c.get("status") == "critical"
                ]
                or [info.get("problem") or "critical"]
                for host, info in e.data.get("hosts", {}).items()
                if info.get("status") == "critical"
            },
        }
        for e in streak
    ]


def decide(policy: Health, streak_len: int, in_window: bool, already_decided: bool) -> str | None:
    """What the policy asks for now: ``rollback``, ``ask`` or nothing."""
    if streak_len < policy.critical_threshold or not in_window or already_decided:
        return None
    return policy.on_critical


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_label(str(v))}"' for k, v in labels.items()) + "}"


PROM_HELP = {
    "relkit_health_check_status": "Health check result per host: 0 ok, 1 warning, 2 critical.",
    "relkit_health_check_latency_seconds": "Time the health check took on the host.",
    "relkit_health_host_status": "Worst check result per host: 0 ok, 1 warning, 2 critical.",
    "relkit_health_status": "Worst result of the environment: 0 ok, 1 warning, 2 critical.",
    "relkit_health_consecutive_critical": "Critical health results in a row since the last switch.",
    "relkit_health_monitoring_active": "1 while the live release is inside its monitoring window.",
    "relkit_health_last_run_timestamp_seconds": "When this health run finished (Unix time).",
    "relkit_health_run_duration_seconds": "How long this health run took.",
    "relkit_release_info": "The release live on each host.",
    "relkit_release_deployed_seconds": "Seconds since the live release was switched in (ledger).",
}


def prometheus_text(
    report: HealthReport, live: dict[str, tuple[str, str]], now: datetime, active: bool
) -> str:
    """The textfile-collector document: ``live`` is host → (version, switched-at ISO time)."""
    samples: dict[str, list[str]] = {name: [] for name in PROM_HELP}
    env = report.env
    for h in report.hosts.values():
        for c in h.checks:
            labels = _labels(env=env, host=h.host, check=c["name"], kind=c["kind"], severity=c["severity"])
            samples["relkit_health_check_status"].append(f"{labels} {RANK[c['status']]}")
            samples["relkit_health_check_latency_seconds"].append(
                f"{labels} {float(c.get('latency_ms') or 0) / 1000:.6f}"
            )
        samples["relkit_health_host_status"].append(f"{_labels(env=env, host=h.host)} {RANK[h.status]}")
    if report.hosts:
        samples["relkit_health_status"].append(f"{_labels(env=env)} {RANK[report.status]}")
        samples["relkit_health_consecutive_critical"].append(
            f"{_labels(env=env)} {report.consecutive_critical}"
        )
    samples["relkit_health_monitoring_active"].append(f"{_labels(env=env)} {int(active)}")
    samples["relkit_health_last_run_timestamp_seconds"].append(f"{_labels(env=env)} {now.timestamp():.3f}")
    samples["relkit_health_run_duration_seconds"].append(f"{_labels(env=env)} {report.seconds:.3f}")
    for host, (version, since) in sorted(live.items()):
        samples["relkit_release_info"].append(f"{_labels(env=env, host=host, version=version)} 1")
        age = max(0.0, (now - datetime.fromisoformat(since)).total_seconds())
        samples["relkit_release_deployed_seconds"].append(f"{_labels(env=env, host=host)} {age:.0f}")
    lines = []
    for name, rows in samples.items():
        if rows:
            lines += [f"# HELP {name} {PROM_HELP[name]}", f"# TYPE {name} gauge"]
            lines += [name + row for row in rows]
    return "\n".join(lines) + "\n"
