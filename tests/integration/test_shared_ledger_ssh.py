"""A team on one shared ledger (PostgreSQL), over real SSH hosts: controllers are separate
processes with their own state directories and RELKIT_USERs, and share only the database.

- a second deploy from another controller exits 6 naming the first (principal, host, pid, since);
- a SIGKILLed controller's lock goes STALE once its lease lapses; another controller unlocks
  and deploys;
- staging deployed (and approved, prepared, announced) from controller A is promoted to
  production from controller B, a CI runner with an empty state directory; both tell one story;
- PostgreSQL stopped mid-deploy: the deploy stops before the switch and says so, the host keeps
  a complete release, and after the restart the ledger verifies and status tells the truth.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from relkit.chain import Entry
from relkit.config import Ledger as LedgerConfig
from relkit.store import open_store
from relkit.store.postgres import PostgresStore
from tests.hostcheck import app_version, live_release
from tests.integration.conftest import LEDGER_PASSWORD_ENV, SharedLedger
from tests.integration.killing import kill_controller
from tests.integration.test_sop_gates import open_window
from tests.sshhosts import SshHost
from tests.sshproject import signing_keys, write_project
from tests.support.clirunner import payload

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
LEASE = 5


@dataclass
class Controller:
    """One machine of the team: its own checkout, state directory and RELKIT_USER."""

    name: str
    root: Path
    state: Path
    ledger: SharedLedger

    def env(self) -> dict[str, str]:
        env = self.ledger.env(RELKIT_STATE_DIR=str(self.state), RELKIT_USER=self.name, PYTHONPATH=str(REPO))
        env.pop("RELKIT_PROJECT", None)
        return env

    def argv(self, *args: str | Path) -> list[str]:
        return [sys.executable, "-m", "relkit", "-C", str(self.root), *map(str, args)]

    def run(self, *args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            env=self.env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str | Path) -> str:
        done = self.run(*args)
        assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, *args: str | Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            env=self.env(),
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


@dataclass
class Team:
    stage: SshHost
    prod: SshHost
    a: Controller
    b: Controller
    keys: dict[str, Path]
    control_dir: Path

    def store(self) -> PostgresStore:
        config = LedgerConfig(url=self.a.ledger.url, password_env=LEDGER_PASSWORD_ENV, lease_seconds=LEASE)
        opened = open_store(self.a.state, config)
        assert isinstance(opened, PostgresStore)
        return opened

    def entries(self, kind: str) -> list[Entry]:
        """The shared ledger's entries of ``kind``."""
        store = self.store()
        try:
            return list(store.entries(kind=kind))
        finally:
            store.close()


@pytest.fixture
def team(ssh_pool_factory, shared_ledger: SharedLedger, tmp_path: Path) -> Team:
    pool = ssh_pool_factory(2)
    stage, prod = pool.hosts
    root = write_project(
        tmp_path / "alice",
        {"staging": [stage], "production": [prod]},
        promote={"production": "staging"},
        config={
            "artifacts": {"build_info": "release.json"},
            "policy": {"notice_lead_hours": 0},
            "ledger": {"url": shared_ledger.url, "password_env": LEDGER_PASSWORD_ENV, "lease_seconds": LEASE},
        },
    )
    keys = signing_keys(root, {"sari": ("qa",), "dewi": ("po",), "ops": ("ops",)})
    # controller B: another checkout of the same project (no state, no .relkit), keys where A has them
    other = tmp_path / "bob"
    shutil.copytree(root, other, ignore=shutil.ignore_patterns("state"))
    a = Controller("alice", root, tmp_path / "state-alice", shared_ledger)
    b = Controller("bob", other, tmp_path / "state-bob", shared_ledger)
    a.ok("ledger", "init")
    return Team(stage, prod, a, b, keys, pool.control_dir)


def wait_for(
    condition: Callable[[], object],
    what: str,
    timeout: float = 90,
    seen: list[str] | None = None,
    proc: subprocess.Popen[str] | None = None,
) -> object:
    """``condition()`` once it is true; fails after ``timeout``, or when ``proc`` ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}" + ("\n" + "".join(seen) if seen else ""))


READERS: dict[int, threading.Thread] = {}


def collect(proc: subprocess.Popen[str]) -> list[str]:
    """Read ``proc``'s output into a list as it comes (a thread; :func:`finish` ends it)."""
    lines: list[str] = []
    assert proc.stdout is not None
    out = proc.stdout
    READERS[proc.pid] = threading.Thread(target=lambda: lines.extend(out), daemon=True)
    READERS[proc.pid].start()
    return lines


def finish(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs, wait for it and its output's end, close its pipe."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=60)
    if reader := READERS.pop(proc.pid, None):
        reader.join(timeout=60)
    if proc.stdout is not None:
        proc.stdout.close()


def test_a_second_deploy_from_another_controller_exits_6_naming_the_first(team: Team) -> None:
    manifest = "releases/1.0.0.yml"
    first = team.a.start("deploy", manifest, "--env", "staging")
    output = collect(first)
    store = team.store()
    try:
        holder = wait_for(lambda: store.holder("staging"), "alice's lock", seen=output, proc=first)
        second = team.b.run("deploy", manifest, "--env", "staging")
        assert second.returncode == 6, second.stderr
        assert f"by alice@{holder.host} pid {first.pid} since {holder.started}" in second.stderr
        assert first.wait(timeout=240) == 0, "".join(output)
    finally:
        store.close()
        finish(first)
    assert live_release(team.stage) == ("1.0.0", []) and app_version(team.stage) == "1.0.0"
    # bob's controller has no host cards of its own (they hold command lines: kept per machine), so
    # its deploy of the same release runs the play, which finds the release live: no second switch
    team.b.ok("deploy", manifest, "--env", "staging")
    assert [e.host for e in team.entries("host.switched")] == ["web1"]
    # from then on bob's redeploy is the quick check, its validity read from the shared record
    assert "already live 1.0.0 on staging" in team.b.ok("deploy", manifest, "--env", "staging")


def test_a_killed_controllers_lock_goes_stale_and_another_controller_takes_over(team: Team) -> None:
    manifest = "releases/1.0.0.yml"
    proc = team.a.start("deploy", manifest, "--env", "staging")
    output = collect(proc)
    store = team.store()
    try:
        wait_for(lambda: store.holder("staging"), "alice's lock", seen=output, proc=proc)
        kill_controller(proc, team.control_dir)
        wait_for(lambda: not store.holder("staging").alive, "the lease to lapse", timeout=LEASE * 3)
        status = team.b.ok("status")
        assert "deploy run" in status and "by alice@" in status and "STALE: its lease lapsed at" in status
        stale = team.b.run("deploy", manifest, "--env", "staging")
        assert (
            stale.returncode == 6
            and "STALE" in stale.stderr
            and "relkit unlock --env staging" in stale.stderr
        )
    finally:
        store.close()
        finish(proc)
    team.b.ok("unlock", "--env", "staging", "--by", "bob")
    team.b.ok("deploy", manifest, "--env", "staging")
    assert live_release(team.stage) == ("1.0.0", []) and app_version(team.stage) == "1.0.0"
    assert "chain intact" in team.a.ok("ledger", "verify")


def test_staging_from_one_controller_is_promoted_from_another_with_an_empty_state(team: Team) -> None:
    a, b, keys = team.a, team.b, team.keys
    manifest = "releases/1.0.0.yml"
    opens = open_window(a.root / manifest, opens_in=20)
    shutil.copy(a.root / manifest, b.root / manifest)  # one release, one manifest: the same bytes
    a.ok("notify", manifest, "--kind", "announcement", "--env", "production")  # before the window opens
    a.ok("deploy", manifest, "--env", "staging")
    a.ok("--as", "sari", "approve", manifest, "--role", "qa", "--key", keys["sari"])
    a.ok("--as", "dewi", "approve", manifest, "--role", "po", "--key", keys["dewi"])
    a.ok("prepare", "--env", "production", "--manifest", manifest)
    time.sleep(max(0.0, opens.timestamp() - time.time()) + 1)
    assert not b.state.exists(), "bob's controller starts empty, like a CI runner"
    gates = b.run("gates", manifest, "--env", "production")
    assert gates.returncode == 0, gates.stdout + gates.stderr
    b.ok("deploy", manifest, "--env", "production", "--key", b.root / "keys" / "ops")
    assert live_release(team.prod) == ("1.0.0", []) and app_version(team.prod) == "1.0.0"
    # one story, whichever machine tells it
    assert a.ok("status") == b.ok("status")
    assert "production" in a.ok("status")
    assert "chain intact" in b.ok("ledger", "verify")


def test_postgresql_stopped_mid_deploy_stops_before_the_switch_and_the_record_tells_the_truth(
    team: Team, shared_ledger: SharedLedger
) -> None:
    a = team.a
    a.ok("deploy", "releases/1.0.0.yml", "--env", "staging")
    proc = a.start("deploy", "releases/2.0.0.yml", "--env", "staging")
    lines = collect(proc)
    try:
        wait_for(
            lambda: any("Check the release gates" in line for line in lines),
            "the play to begin",
            seen=lines,
            proc=proc,
        )
        shared_ledger.server.halt("fast")
        assert proc.wait(timeout=240) == 4, "".join(lines)
    finally:
        finish(proc)
        shared_ledger.server.resume()
    said = "".join(lines)
    assert "was lost during this run" in said
    assert "stopped before switching any host" in said
    assert shared_ledger.password not in said
    # the host never switched: a complete 1.0.0, serving
    assert live_release(team.stage) == ("1.0.0", []) and app_version(team.stage) == "1.0.0"
    # the record, back: intact, and it says what happened
    assert "chain intact" in a.ok("ledger", "verify")
    store = team.store()
    try:
        wait_for(
            lambda: not store.holder("staging").alive, "the lost run's lease to lapse", timeout=LEASE * 3
        )
    finally:
        store.close()
    status = a.ok("status")
    assert "1.0.0" in status and "2.0.0" not in status.split("interrupted")[0]
    assert "interrupted" in status and "STALE" in status
    a.ok("unlock", "--env", "staging", "--by", "alice")
    a.ok("deploy", "releases/2.0.0.yml", "--env", "staging")
    assert live_release(team.stage) == ("2.0.0", []) and app_version(team.stage) == "2.0.0"


def test_a_rollback_over_one_controllers_host_cards_is_recorded_in_the_shared_ledger(team: Team) -> None:
    a, b = team.a, team.b
    a.ok("deploy", "releases/1.0.0.yml", "--env", "staging")
    a.ok("deploy", "releases/2.0.0.yml", "--env", "staging")
    rollback = ("--output", "json", "rollback", "--env", "staging", "--reason", "bad")
    # bob's state directory holds no host cards: his rollback runs the play
    played = payload(b.ok(*rollback, "--by", "bob"))
    assert played["details"]["direct"]["used"] is False
    assert played["details"]["direct"]["why_not"].startswith("no host cards")
    assert live_release(team.stage) == ("1.0.0", []) and app_version(team.stage) == "1.0.0"
    # alice deployed with cards: her rollback switches the host back over them, holding the lock
    a.ok("deploy", "releases/2.0.0.yml", "--env", "staging")
    direct = payload(a.ok(*rollback, "--by", "alice"))
    assert direct["details"]["direct"] == {"used": True, "why_not": None, "played": []}
    assert live_release(team.stage) == ("1.0.0", []) and app_version(team.stage) == "1.0.0"
    switched = [e for e in team.entries("host.switched") if e.run_id == direct["run_id"]]
    assert [(e.host, e.data["version"], e.data["action"], e.data["by"]) for e in switched] == [
        (team.stage.name, "1.0.0", "rollback", "alice")
    ]
    assert not any(e.data.get("found_live") for e in switched)
    assert "chain intact" in b.ok("ledger", "verify")
