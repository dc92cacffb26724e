"""DORA metrics of each environment, computed from ledger entries. Pure: no I/O.

The four figures, per environment, over the period ``since`` → ``now``:

- **deploys**: deploy runs (``run.started`` with ``action: deploy``) that switched at least one
  host in (a ``host.switched`` of the run that is not its own automatic rollback), switched
  within the period. A deploy that failed before any switch changed nothing and is not one; a
  deploy run with no ``run.finished`` yet (running, or killed and not yet unlocked) is counted
  as ``unfinished`` and left out of the figures below.
- **deployment frequency**: successful deploys (``run.finished`` status ``successful``) per
  day of the period; ``successful`` gives the count.
- **lead time for changes**: per release first switched in by a successful deploy in the
  period, from the start of the change to that switch. The start is the code freeze time the
  manifest gave (``code_freeze.time``, recorded in the deploy's ``run.started``), else the
  commit time the artifact's build info gave (``build.commit_time``); a release with neither
  is listed under ``without_start``. The figure is the median.
- **change failure rate**: failed deploys / finished deploys. A deploy failed when its own
  smoke test failed or its run did not finish ``successful`` (rolled back, kept failed), or
  when, after its switch and within the environment's monitoring window
  (``policy.monitoring_hours``) and before the next deploy's switch, a rollback of the
  environment started or a health check recorded a ``critical`` result. The failure is
  recorded at the first of those entries.
- **time to restore**: per failed deploy, from its failure to the first later passing smoke
  test in the environment (the automatic or manual rollback's, or the next deploy's) or
  passing health result (``ok`` or ``warning``): a healthy release live again. The figure is
  the median of the restored ones; ``unrestored`` counts the others.

A figure with nothing to compute it from is ``None`` (no deploys: no failure rate), never a
division by zero. Ledger times are ISO 8601 in UTC; times in the data may carry any offset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import median
from typing import Any

from relkit.chain import Entry

DAY = 86400.0
SUCCESSFUL = "successful"


@dataclass(frozen=True)
class LeadTime:
    """One release's lead time: from the start of the change to its first switch in."""

    version: str
    start: str
    source: str
    """Where the start comes from: ``code_freeze`` or ``build_commit``."""
    end: str
    seconds: float


@dataclass(frozen=True)
class Failure:
    """A deploy that failed, what showed it, and when a healthy release was live again."""

    version: str
    run_id: str
    switched_at: str
    at: str
    what: str
    seq: int
    restored_at: str | None = None
    restore_seconds: float | None = None


@dataclass(frozen=True)
class EnvMetrics:
    """The four DORA figures of one environment over one period (see the module's docstring)."""

    env: str
    days: float
    window_hours: float
    deploys: int = 0
    successful: int = 0
    unfinished: int = 0
    deployment_frequency_per_day: float | None = None
    lead_time_seconds: float | None = None
    lead_times: tuple[LeadTime, ...] = ()
    without_start: tuple[str, ...] = ()
    change_failure_rate: float | None = None
    failures: tuple[Failure, ...] = ()
    time_to_restore_seconds: float | None = None
    unrestored: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys (``relkit metrics --output json``)."""
        return {
            "env": self.env,
            "monitoring_window_hours": self.window_hours,
            "deploys": self.deploys,
            "successful": self.successful,
            "unfinished": self.unfinished,
            "deployment_frequency_per_day": self.deployment_frequency_per_day,
            "lead_time": {
                "median_seconds": self.lead_time_seconds,
                "releases": [lt.__dict__ for lt in self.lead_times],
                "without_start": list(self.without_start),
            },
            "change_failure_rate": self.change_failure_rate,
            "failed_deploys": [f.__dict__ for f in self.failures],
            "time_to_restore": {
                "median_seconds": self.time_to_restore_seconds,
                "restored": len(self.failures) - self.unrestored,
                "unrestored": self.unrestored,
            },
        }


@dataclass(frozen=True)
class Metrics:
    """The figures of every environment asked for, over ``since`` → ``now``."""

    since: str
    now: str
    days: float
    environments: tuple[EnvMetrics, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable keys."""
        return {
            "since": self.since,
            "now": self.now,
            "days": self.days,
            "environments": [m.to_dict() for m in self.environments],
        }


def parse_since(text: str, now: datetime) -> datetime:
    """The start of the period: ``Nd`` (days before ``now``), ``Nh`` (hours) or an ISO date or
    time (a naive one is UTC). ValueError says what is expected."""
    value = text.strip()
    expected = "expected Nd, Nh or an ISO date (e.g. 90d, 12h, 2026-09-01)"
    if m := re.fullmatch(r"(\d{1,5})([dh])", value):
        amount = int(m.group(1))
        if amount == 0:
            raise ValueError(f"{expected} of more than 0, got {text!r}")
        return now - (timedelta(days=amount) if m.group(2) == "d" else timedelta(hours=amount))
    try:
        moment = datetime.fromisoformat(value) if "T" in value or " " in value else None
        if moment is None:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day)
    except ValueError:
        raise ValueError(f"{expected}, got {text!r}") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment >= now:
        raise ValueError(f"{expected} before now ({now:%Y-%m-%d %H:%M}Z), got {text!r}")
    return moment


def _time(value: Any) -> datetime | None:
    """An aware datetime from an ISO string (naive: UTC), else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(eq=False)
class _Deploy:
    run_id: str
    version: str
    started: Entry
    switched: Entry | None = None
    finished: Entry | None = None
    smoke_failed: Entry | None = None
    rollback: Entry | None = None

    @property
    def ok(self) -> bool:
        return self.finished is not None and self.finished.data.get("status") == SUCCESSFUL


def _deploys(entries: Sequence[Entry], env: str) -> list[_Deploy]:
    """The deploy runs of ``env``, in the order they started, with their key entries."""
    runs: dict[str, _Deploy] = {}
    for e in entries:
        if e.env != env:
            continue
        if e.kind == "run.started" and e.data.get("action") == "deploy":
            runs[e.run_id] = _Deploy(e.run_id, str(e.data.get("version", "?")), e)
            continue
        run = runs.get(e.run_id)
        if run is None:
            continue
        if e.kind == "host.switched" and e.data.get("action") != "rollback" and run.switched is None:
            run.switched = e
        elif e.kind == "smoke.result" and not e.data.get("passed") and run.smoke_failed is None:
            if run.rollback is None:  # after it: the automatic rollback's own smoke test
                run.smoke_failed = e
        elif e.kind == "rollback.started" and run.rollback is None:
            run.rollback = e
        elif e.kind == "run.finished":
            run.finished = e
    return list(runs.values())


def _lead_start(started: Entry) -> tuple[datetime, str] | None:
    """When the change started: the code freeze time, else the build's commit time."""
    freeze = started.data.get("code_freeze")
    if isinstance(freeze, Mapping) and (t := _time(freeze.get("time"))):
        return t, "code_freeze"
    build = started.data.get("build")
    if isinstance(build, Mapping) and (t := _time(build.get("commit_time"))):
        return t, "build_commit"
    return None


def _failure(deploy: _Deploy, after: Sequence[Entry], until: datetime) -> tuple[Entry, str] | None:
    """The first entry showing that ``deploy`` failed, and what it was."""
    own = [
        (deploy.smoke_failed, "smoke failed"),
        (deploy.rollback, "rolled back"),
        (deploy.finished if deploy.finished is not None and not deploy.ok else None, "deploy failed"),
    ]
    found = [(e, what) for e, what in own if e is not None]
    if found:
        return min(found, key=lambda pair: pair[0].seq)
    for e in after:
        if _at(e) > until:
            break
        if e.kind == "run.started" and e.data.get("action") == "rollback":
            return e, "rollback"
        if e.kind == "health.result" and e.data.get("status") == "critical":
            return e, "health critical"
    return None


def _restored(failure: Entry, later: Iterable[Entry], now: datetime) -> Entry | None:
    """The first entry after ``failure`` showing a healthy release live: a passing smoke test or
    a health result that is not critical."""
    for e in later:
        if e.seq <= failure.seq:
            continue
        if _at(e) > now:
            return None
        passed_smoke = e.kind == "smoke.result" and e.data.get("passed") is True
        healthy = e.kind == "health.result" and e.data.get("status") in ("ok", "warning")
        if passed_smoke or healthy:
            return e
    return None


def _at(entry: Entry) -> datetime:
    """When a ledger entry was written (its ``ts``: ISO 8601, UTC)."""
    moment = datetime.fromisoformat(entry.ts)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _seconds(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds(), 3)


def env_metrics(
    entries: Sequence[Entry], env: str, since: datetime, now: datetime, window_hours: float
) -> EnvMetrics:
    """The four figures of ``env`` for deploys switched in between ``since`` and ``now``."""
    days = (now - since).total_seconds() / DAY
    mine = [e for e in entries if e.env == env]
    runs = _deploys(mine, env)
    switched = [r for r in runs if r.switched is not None]
    in_period = [r for r in switched if r.switched is not None and since <= _at(r.switched) <= now]
    finished = [r for r in in_period if r.finished is not None]
    good = [r for r in finished if r.ok]

    lead_times: list[LeadTime] = []
    without_start: list[str] = []
    first_ok: dict[str, _Deploy] = {}
    for r in (r for r in switched if r.ok):
        first_ok.setdefault(r.version, r)
    for version, r in first_ok.items():
        if r not in good or r.switched is None:
            continue  # first switched in before the period
        start = _lead_start(r.started)
        if start is None:
            without_start.append(version)
            continue
        lead_times.append(
            LeadTime(
                version, start[0].isoformat(), start[1], r.switched.ts, _seconds(start[0], _at(r.switched))
            )
        )

    failures: list[Failure] = []
    for r in finished:
        assert r.switched is not None
        switch_at = _at(r.switched)
        later = [e for e in mine if e.seq > r.switched.seq]
        following = [x for x in switched if x.switched is not None and x.switched.seq > r.switched.seq]
        until = switch_at + timedelta(hours=window_hours)
        if following and following[0].switched is not None:
            until = min(until, _at(following[0].switched))
        until = min(until, now)
        found = _failure(r, [e for e in later if e.run_id != r.run_id], until)
        if found is None:
            continue
        entry, what = found
        back = _restored(entry, later, now)
        seconds = _seconds(_at(entry), _at(back)) if back else None
        failures.append(
            Failure(
                r.version,
                r.run_id,
                r.switched.ts,
                entry.ts,
                what,
                entry.seq,
                back.ts if back else None,
                seconds,
            )
        )
    restores = [f.restore_seconds for f in failures if f.restore_seconds is not None]
    return EnvMetrics(
        env=env,
        days=days,
        window_hours=window_hours,
        deploys=len(finished),
        successful=len(good),
        unfinished=len(in_period) - len(finished),
        deployment_frequency_per_day=len(good) / days if days > 0 else None,
        lead_time_seconds=median(lt.seconds for lt in lead_times) if lead_times else None,
        lead_times=tuple(lead_times),
        without_start=tuple(without_start),
        change_failure_rate=len(failures) / len(finished) if finished else None,
        failures=tuple(failures),
        time_to_restore_seconds=median(restores) if restores else None,
        unrestored=len(failures) - len(restores),
    )


def compute(
    entries: Iterable[Entry],
    envs: Sequence[str],
    since: datetime,
    now: datetime,
    window_hours: Mapping[str, float] | float = 24.0,
) -> Metrics:
    """The figures of each of ``envs`` (in that order) over ``since`` → ``now``; ``window_hours``:
    the monitoring window after a switch, one for all environments or per environment."""
    rows = sorted(entries, key=lambda e: e.seq)
    hours = (
        {env: float(window_hours) for env in envs}
        if isinstance(window_hours, int | float)
        else {env: float(window_hours.get(env, 24.0)) for env in envs}
    )
    days = (now - since).total_seconds() / DAY
    return Metrics(
        since.isoformat(),
        now.isoformat(),
        days,
        tuple(env_metrics(rows, env, since, now, hours[env]) for env in envs),
    )


PROM_HELP = {
    "relkit_deployments": "Successful deploys switched in during the period.",
    "relkit_deployment_frequency_per_day": "Successful deploys per day over the period.",
    "relkit_lead_time_seconds": "Median time from code freeze (or build commit) to the first switch.",
    "relkit_change_failure_rate": "Failed deploys / finished deploys in the period (0 to 1).",
    "relkit_time_to_restore_seconds": "Median time from a deploy's failure to a healthy release live again.",
    "relkit_metrics_period_seconds": "Length of the period the figures cover.",
    "relkit_metrics_generated_timestamp_seconds": "When the figures were computed (Unix time).",
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def prometheus_text(metrics: Metrics) -> str:
    """The textfile-collector document: one gauge per figure and environment; a figure that is
    ``None`` has no sample (absent, not NaN)."""
    samples: dict[str, list[str]] = {name: [] for name in PROM_HELP}
    for m in metrics.environments:
        labels = f'{{env="{_label(m.env)}"}}'
        figures: dict[str, float | None] = {
            "relkit_deployments": float(m.successful),
            "relkit_deployment_frequency_per_day": m.deployment_frequency_per_day,
            "relkit_lead_time_seconds": m.lead_time_seconds,
            "relkit_change_failure_rate": m.change_failure_rate,
            "relkit_time_to_restore_seconds": m.time_to_restore_seconds,
        }
        for name, value in figures.items():
            if value is not None:
                samples[name].append(f"{name}{labels} {_number(value)}")
    samples["relkit_metrics_period_seconds"].append(
        f"relkit_metrics_period_seconds {_number(round(metrics.days * DAY))}"
    )
    generated = datetime.fromisoformat(metrics.now).timestamp()
    samples["relkit_metrics_generated_timestamp_seconds"].append(
        f"relkit_metrics_generated_timestamp_seconds {generated:.3f}"
    )
    lines: list[str] = []
    for name, rows in samples.items():
        if rows:
            lines += [f"# HELP {name} {PROM_HELP[name]}", f"# TYPE {name} gauge", *rows]
    return "\n".join(lines) + "\n"


def duration(seconds: float | None) -> str:
    """A duration as a table shows it: ``3d 4h``, ``2h 5m``, ``4m 10s``, ``12s``; ``-`` for none."""
    if seconds is None:
        return "-"
    s = round(abs(seconds))
    sign = "-" if seconds < 0 else ""
    d, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    if d:
        return f"{sign}{d}d {h}h"
    if h:
        return f"{sign}{h}h {m}m"
    if m:
        return f"{sign}{m}m {sec}s"
    return f"{sign}{sec}s"
