"""The DORA figures (relkit.metrics) on hand-built ledgers, each figure worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from relkit.chain import Entry
from relkit.metrics import compute, duration, parse_since, prometheus_text

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)  # 2026-11-01T00:00Z: a 30-day period


class Ledger:
    """Entries in order, numbered as the store numbers them."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def add(self, ts: str, kind: str, run_id: str, env: str = "production", **data: Any) -> None:
        self.entries.append(Entry(len(self.entries) + 1, f"{ts}+00:00", run_id, kind, env, "", data))

    def deploy(
        self,
        run_id: str,
        version: str,
        day: str,
        times: tuple[str, ...],
        status: str = "successful",
        **origin: Any,
    ) -> None:
        """A deploy run: started, switched, smoke passed, finished, at ``day`` + each of ``times``."""
        started, switched, smoke, finished = (f"{day}T{t}" for t in times)
        self.add(started, "run.started", run_id, action="deploy", version=version, **origin)
        self.add(switched, "host.switched", run_id, version=version, action="deploy")
        self.add(smoke, "smoke.result", run_id, version=version, passed=True)
        self.add(finished, "run.finished", run_id, action="deploy", status=status)


def production_ledger() -> list[Entry]:
    """Four deploys to production in November 2026 (one before the period, one that never switched)."""
    book = Ledger()
    # before the period: not counted anywhere
    book.deploy("d0", "0.9.0", "2026-10-20", ("10:00:00", "10:01:00", "10:02:00", "10:03:00"))
    # 1.0.0: frozen 2026-11-03 10:00 +07:00 = 03:00Z, switched 11-05 10:05Z
    book.deploy(
        "d1",
        "1.0.0",
        "2026-11-05",
        ("10:00:00", "10:05:00", "10:06:00", "10:07:00"),
        code_freeze={"commit": "a1f3c9e", "time": "2026-11-03T10:00:00+07:00"},
    )
    # a deploy that failed before any host switched: no change, not a deploy
    book.add("2026-11-07T10:00:00", "run.started", "dx", action="deploy", version="1.1.0")
    book.add("2026-11-07T10:01:00", "smoke.result", "dx", version="1.1.0", passed=False)
    book.add("2026-11-07T10:02:00", "run.finished", "dx", action="deploy", status="failed")
    # 2.0.0: no code freeze, its build commit at 11-09 09:00Z; switched 11-10 09:10Z
    book.deploy(
        "d2",
        "2.0.0",
        "2026-11-10",
        ("09:00:00", "09:10:00", "09:11:00", "09:12:00"),
        build={"commit": "b2", "commit_time": "2026-11-09T09:00:00Z"},
    )
    # 6 h later health is critical (inside the 24 h window): 2.0.0 failed at 15:10 ...
    book.add("2026-11-10T15:00:00", "health.result", "h1", status="warning")
    book.add("2026-11-10T15:10:00", "health.result", "h2", status="critical")
    # ... a manual rollback, whose smoke passes at 15:26: restored 16 min after the failure
    book.add("2026-11-10T15:20:00", "run.started", "r1", action="rollback")
    book.add("2026-11-10T15:21:00", "rollback.requested", "r1", by="dewi", reason="errors")
    book.add("2026-11-10T15:25:00", "host.switched", "r1", version="1.0.0", action="rollback")
    book.add("2026-11-10T15:26:00", "smoke.result", "r1", version="1.0.0", passed=True)
    book.add("2026-11-10T15:27:00", "run.finished", "r1", action="rollback", status="successful")
    # staging traffic between: ignored for production
    book.deploy("s1", "3.0.0", "2026-11-19", ("09:00:00", "09:01:00", "09:02:00", "09:03:00"))
    book.entries[-4:] = [
        Entry(e.seq, e.ts, e.run_id, e.kind, "staging", e.host, e.data) for e in book.entries[-4:]
    ]
    # 3.0.0: smoke fails at 12:06, automatic rollback, its smoke passes at 12:09: restored in 3 min
    book.add("2026-11-20T12:00:00", "run.started", "d3", action="deploy", version="3.0.0",
             code_freeze={"commit": "c3", "time": "2026-11-19T12:00:00Z"})  # fmt: skip
    book.add("2026-11-20T12:05:00", "host.switched", "d3", version="3.0.0", action="deploy")
    book.add("2026-11-20T12:06:00", "smoke.result", "d3", version="3.0.0", passed=False)
    book.add("2026-11-20T12:07:00", "rollback.started", "d3", automatic=True)
    book.add("2026-11-20T12:08:00", "host.switched", "d3", version="1.0.0", action="rollback")
    book.add("2026-11-20T12:09:00", "smoke.result", "d3", version=None, passed=True)
    book.add("2026-11-20T12:10:00", "run.finished", "d3", action="deploy", status="rolled_back")
    # 3.0.1: frozen 11-24 00:00Z, switched 11-25 08:30Z
    book.deploy(
        "d4",
        "3.0.1",
        "2026-11-25",
        ("08:00:00", "08:30:00", "08:31:00", "08:32:00"),
        code_freeze={"commit": "d4", "time": "2026-11-24T00:00:00Z"},
    )
    # critical 24.5 h after the switch: outside a 24 h window, inside a 48 h one
    book.add("2026-11-26T09:00:00", "health.result", "h3", status="critical")
    return book.entries


def test_the_four_figures_of_production_worked_out_by_hand() -> None:
    [prod] = compute(production_ledger(), ["production"], SINCE, NOW, window_hours=24).environments
    # deploys in the period that switched a host and finished: 1.0.0, 2.0.0, 3.0.0, 3.0.1
    assert (prod.deploys, prod.successful, prod.unfinished) == (4, 3, 0)
    # 3 successful deploys over 30 days
    assert prod.deployment_frequency_per_day == pytest.approx(0.1)
    # 1.0.0: 11-03 03:00Z → 11-05 10:05Z = 2 d 7 h 5 min = 172800 + 25200 + 300 = 198300 s
    # 2.0.0: 11-09 09:00Z → 11-10 09:10Z = 1 d 10 min = 86400 + 600 = 87000 s (build commit)
    # 3.0.1: 11-24 00:00Z → 11-25 08:30Z = 1 d 8 h 30 min = 86400 + 30600 = 117000 s
    # 3.0.0 never ran successfully: no lead time. Median of 87000, 117000, 198300 = 117000.
    assert [(lt.version, lt.source, lt.seconds) for lt in prod.lead_times] == [
        ("1.0.0", "code_freeze", 198300),
        ("2.0.0", "build_commit", 87000),
        ("3.0.1", "code_freeze", 117000),
    ]
    assert prod.lead_time_seconds == 117000
    assert prod.without_start == ()
    # failed: 2.0.0 (health critical 6 h after its switch) and 3.0.0 (smoke): 2 of 4
    assert prod.change_failure_rate == 0.5
    assert [(f.version, f.what, f.at[:19], f.restored_at and f.restored_at[:19]) for f in prod.failures] == [
        ("2.0.0", "health critical", "2026-11-10T15:10:00", "2026-11-10T15:26:00"),
        ("3.0.0", "smoke failed", "2026-11-20T12:06:00", "2026-11-20T12:09:00"),
    ]
    # restored after 15:10 → 15:26 = 960 s and 12:06 → 12:09 = 180 s; median (960 + 180) / 2 = 570
    assert [f.restore_seconds for f in prod.failures] == [960, 180]
    assert (prod.time_to_restore_seconds, prod.unrestored) == (570, 0)


def test_a_longer_window_catches_the_late_critical_result_which_is_not_restored_yet() -> None:
    figures = compute(production_ledger(), ["production"], SINCE, NOW, window_hours={"production": 48})
    [prod] = figures.environments
    # 3.0.1's critical health result 24.5 h after its switch is inside 48 h: 3 failed of 4
    assert prod.change_failure_rate == 0.75
    assert [(f.version, f.what, f.restored_at) for f in prod.failures][-1] == (
        "3.0.1",
        "health critical",
        None,
    )
    # the restore median still covers the two restored failures only
    assert (prod.time_to_restore_seconds, prod.unrestored) == (570, 1)


def test_each_environment_has_its_own_figures_in_the_order_asked() -> None:
    figures = compute(production_ledger(), ["production", "staging", "qa"], SINCE, NOW)
    assert [m.env for m in figures.environments] == ["production", "staging", "qa"]
    staging, qa = figures.environments[1:]
    # staging: one successful deploy of 3.0.0, started without a code freeze or build commit
    assert (staging.deploys, staging.successful, staging.change_failure_rate) == (1, 1, 0.0)
    assert staging.without_start == ("3.0.0",)
    assert staging.lead_time_seconds is None
    assert staging.deployment_frequency_per_day == pytest.approx(1 / 30)
    assert qa.to_dict()["deploys"] == 0


def test_a_shorter_period_leaves_earlier_deploys_out() -> None:
    since = datetime(2026, 11, 15, tzinfo=UTC)  # 16 days: 3.0.0 and 3.0.1 only
    [prod] = compute(production_ledger(), ["production"], since, NOW).environments
    assert (prod.deploys, prod.successful) == (2, 1)
    assert prod.deployment_frequency_per_day == pytest.approx(1 / 16)
    assert [lt.version for lt in prod.lead_times] == ["3.0.1"]
    assert prod.change_failure_rate == 0.5


def test_a_deploy_still_running_is_unfinished_and_out_of_the_figures() -> None:
    book = Ledger()
    book.add("2026-11-30T10:00:00", "run.started", "d1", action="deploy", version="1.0.0")
    book.add("2026-11-30T10:01:00", "host.switched", "d1", version="1.0.0", action="deploy")
    [prod] = compute(book.entries, ["production"], SINCE, NOW).environments
    assert (prod.deploys, prod.successful, prod.unfinished) == (0, 0, 1)
    assert prod.change_failure_rate is None


def test_an_empty_ledger_gives_no_figures_and_no_division_by_zero() -> None:
    [prod] = compute([], ["production"], SINCE, NOW).environments
    assert prod.to_dict() == {
        "env": "production",
        "monitoring_window_hours": 24.0,
        "deploys": 0,
        "successful": 0,
        "unfinished": 0,
        "deployment_frequency_per_day": 0.0,
        "lead_time": {"median_seconds": None, "releases": [], "without_start": []},
        "change_failure_rate": None,
        "failed_deploys": [],
        "time_to_restore": {"median_seconds": None, "restored": 0, "unrestored": 0},
    }


def test_the_prometheus_text_parses_and_leaves_unknown_figures_out() -> None:
    figures = compute(production_ledger(), ["production", "qa"], SINCE, NOW)
    families = {f.name: f for f in text_string_to_metric_families(prometheus_text(figures))}
    values = {(f.name, s.labels.get("env")): s.value for f in families.values() for s in f.samples}
    assert values[("relkit_deployment_frequency_per_day", "production")] == pytest.approx(0.1)
    assert values[("relkit_deployments", "production")] == 3
    assert values[("relkit_lead_time_seconds", "production")] == 117000
    assert values[("relkit_change_failure_rate", "production")] == 0.5
    assert values[("relkit_time_to_restore_seconds", "production")] == 570
    assert values[("relkit_metrics_period_seconds", None)] == 30 * 86400
    assert values[("relkit_metrics_generated_timestamp_seconds", None)] == NOW.timestamp()
    # qa: nothing deployed, so only its count and frequency (0) are known
    assert values[("relkit_deployments", "qa")] == 0
    assert ("relkit_change_failure_rate", "qa") not in values
    assert ("relkit_lead_time_seconds", "qa") not in values
    assert all(f.type == "gauge" for f in families.values())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", NOW - timedelta(days=90)),
        ("12h", NOW - timedelta(hours=12)),
        ("2026-09-01", datetime(2026, 9, 1, tzinfo=UTC)),
        ("2026-09-01T06:00:00+07:00", datetime(2026, 8, 31, 23, tzinfo=UTC)),
    ],
)
def test_since_accepts_days_hours_and_iso_dates(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["1x", "90", "d", "-3d", "0d", "2026-13-01", "2027-01-01", ""])
def test_since_refuses_anything_else_saying_what_it_expects(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_since(text, NOW)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (12, "12s"), (250, "4m 10s"), (7500, "2h 5m"), (198300, "2d 7h"), (-60, "-1m 0s")],
)
def test_durations_read_at_a_glance(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


def test_a_critical_result_after_the_next_switch_is_the_next_deploys_failure() -> None:
    book = Ledger()
    book.deploy("d1", "1.0.0", "2026-11-10", ("08:00:00", "08:01:00", "08:02:00", "08:03:00"))
    book.deploy("d2", "1.1.0", "2026-11-10", ("10:00:00", "10:01:00", "10:02:00", "10:03:00"))
    # 3 h after 1.0.0's switch, but 1.1.0 switched in at 10:01: 1.1.0 failed, 1.0.0 did not
    book.add("2026-11-10T11:01:00", "health.result", "h1", status="critical")
    book.add("2026-11-10T11:06:00", "health.result", "h2", status="ok")
    [prod] = compute(book.entries, ["production"], SINCE, NOW).environments
    assert [(f.version, f.what, f.restore_seconds) for f in prod.failures] == [
        ("1.1.0", "health critical", 300)
    ]
    assert prod.change_failure_rate == 0.5


def test_a_failed_deploy_kept_for_the_po_is_restored_by_the_manual_rollback() -> None:
    book = Ledger()
    book.add("2026-11-10T08:00:00", "run.started", "d1", action="deploy", version="2.0.0")
    book.add("2026-11-10T08:01:00", "host.switched", "d1", version="2.0.0", action="deploy")
    book.add("2026-11-10T08:02:00", "smoke.result", "d1", version="2.0.0", passed=False)
    book.add("2026-11-10T08:02:01", "decision.needed", "d1", policy="on_smoke_failure: ask")
    book.add("2026-11-10T08:03:00", "run.finished", "d1", action="deploy", status="failed_kept")
    # the PO decides; the rollback's smoke passes 1 h 59 min (7140 s) after the failed one
    book.add("2026-11-10T10:00:00", "run.started", "r1", action="rollback")
    book.add("2026-11-10T10:00:30", "host.switched", "r1", version="1.0.0", action="rollback")
    book.add("2026-11-10T10:01:00", "smoke.result", "r1", version="1.0.0", passed=True)
    [prod] = compute(book.entries, ["production"], SINCE, NOW).environments
    assert (prod.deploys, prod.successful, prod.change_failure_rate) == (1, 0, 1.0)
    [failure] = prod.failures
    assert (failure.what, failure.seq, failure.restore_seconds) == ("smoke failed", 3, 7140)
    assert prod.lead_times == () and prod.deployment_frequency_per_day == 0.0
