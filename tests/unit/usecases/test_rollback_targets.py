"""The rollback target the controller names from its ledger (the hosts' own rule applied to the
switches and smoke results it recorded); a host whose history says otherwise refuses and is
rolled back the slow way (tests/host/test_rollback_refusal_module.py, the SSH rollback tests)."""

from __future__ import annotations

from typing import Any

from relkit.chain import Entry
from relkit.usecases.rollback import ledger_targets


class Ledger:
    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def add(self, kind: str, run: str, host: str = "", **data: Any) -> None:
        self.entries.append(Entry(len(self.entries) + 1, "", run, kind, "staging", host, data))

    def switch(self, run: str, action: str, version: str, previous: str | None, hosts: list[str]) -> None:
        for host in hosts:
            self.add("host.switched", run, host, version=version, previous=previous, action=action)

    def smoke(self, run: str, hosts: list[str], failed: list[str] = []) -> None:  # noqa: B006
        self.add("smoke.result", run, hosts=hosts, failed=failed)

    def targets(self, to: str | None = None) -> dict[str, str]:
        switched = [e for e in self.entries if e.kind == "host.switched"]
        smoked = [e for e in self.entries if e.kind == "smoke.result"]
        return ledger_targets(switched, smoked, to)


HOSTS = ["web1", "web2"]


def test_the_release_live_before_the_current_one() -> None:
    ledger = Ledger()
    ledger.switch("r1", "deploy", "1.0.0", None, HOSTS)
    ledger.smoke("r1", HOSTS)
    ledger.switch("r2", "deploy", "2.0.0", "1.0.0", HOSTS)
    ledger.smoke("r2", HOSTS)
    assert ledger.targets() == {"web1": "1.0.0", "web2": "1.0.0"}
    assert ledger.targets(to="2.0.0") == {"web1": "2.0.0", "web2": "2.0.0"}


def test_releases_rolled_back_from_or_failing_their_smoke_test_are_skipped() -> None:
    ledger = Ledger()
    for run, version, previous in (("r1", "1.0.0", None), ("r2", "2.0.0", "1.0.0"), ("r3", "3.0.0", "2.0.0")):
        ledger.switch(run, "deploy", version, previous, HOSTS)
        ledger.smoke(run, HOSTS)
    ledger.switch("r4", "rollback", "2.0.0", "3.0.0", HOSTS)  # rolled back from 3.0.0
    ledger.smoke("r4", HOSTS)
    ledger.switch("r5", "deploy", "4.0.0", "2.0.0", HOSTS)  # smoke fails on web2, kept (ask)
    ledger.smoke("r5", HOSTS, failed=["web2"])
    ledger.switch("r6", "deploy", "5.0.0", "4.0.0", ["web2"])
    ledger.smoke("r6", ["web2"])
    # web1 (4.0.0 live): 3.0.0 was rolled back from; web2 (5.0.0 live): 4.0.0 failed its smoke test
    assert ledger.targets() == {"web1": "2.0.0", "web2": "2.0.0"}


def test_a_host_with_nothing_before_its_release_gets_no_target() -> None:
    ledger = Ledger()
    ledger.switch("r1", "deploy", "1.0.0", None, HOSTS)
    ledger.smoke("r1", HOSTS)
    ledger.switch("r2", "deploy", "2.0.0", "1.0.0", ["web2"])
    ledger.smoke("r2", ["web2"])
    assert ledger.targets() == {"web2": "1.0.0"}
