"""Killed rollback: SIGKILL `relkit rollback` at 8 seeded points of a rollback of 2 SSH hosts.

Both hosts run 2.0.0, whose migration gave the example app's SQLite database schema 2; rows
were written under 1.0.0 and more under 2.0.0. Each trial runs the real CLI (`python -m
relkit rollback --env staging --by ops --reason test`) in its own session, watches one host
and, once the planned phase of the rollback has begun there and a seeded random delay has
passed, SIGKILLs the whole controller (tests/integration/killing.py).

On a host the rollback is one module call: take the host lock, stop the live release, save
the data as it stands (an at-rollback snapshot), restore the snapshot of the data as 1.0.0
left it, switch ``current``, start, smoke-test. The phase a kill hit is read on the watched
host: ``connect`` (no call of this run there yet), ``stop``, ``snapshot``, ``restore``,
``switch`` (switched, the service not up yet) or ``smoke`` (up, being checked). To make each
observable the project's own commands take a moment (stop and start begin with a sleep, a
smoke check waits for the pidfile and settles) and 1.0.0 wrote enough rows that saving and
restoring the database take some milliseconds.

What runs on a host is not killed: the test waits until the call the kill left running has
ended on its own, then every host must be on a complete release (2.0.0: not rolled back, or
1.0.0), its data at that release's schema (integrity ok) with no row lost: on 2.0.0 every row;
on 1.0.0 the rows of 1.0.0's snapshot, and every row written under 2.0.0 in the at-rollback
snapshot taken by this trial (exactly one). ``relkit status`` must show the stale lock and
the interrupted rollback; after ``relkit unlock`` the same rollback command is run again and
must end with both hosts on 1.0.0, answering HTTP, schema 1, every row written under 1.0.0,
one at-rollback snapshot per host, and ``relkit status`` naming 1.0.0 on both (a host the
killed run rolled back is recorded by the re-run as found live, with the killed run's id).
A deploy of 2.0.0 resets the pool for the next trial (and keeps the host cards: the numbered
trials kill rollbacks switching back over the cards, without a play, relkit/live_rollback.py;
trial W, after relkit.yml changed, kills the rollback play). A last trial (W) re-runs at once: its
stop made slow, the killed run's calls still run on the hosts when the re-run's arrive; those
wait for them (host lock) and find both hosts rolled back. The seed is RELKIT_KILL_SEED; the
test prints each trial, the kill phases and the number of broken hosts, which must be 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from relkit import api
from relkit.cli import main
from relkit.errors import BadInput
from relkit.project import Project
from relkit.snapshots import list_snapshots
from tests.hostcheck import app_version, db_state, deploy_dir, leftovers, live_release, post_note
from tests.integration.killing import host_busy, host_lock_held, run_and_kill, seed_notes, wait_host_quiet
from tests.sshhosts import SshHost
from tests.sshproject import EXAMPLE, write_project

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("RELKIT_KILL_SEED", "20261123"))
TRIALS = 8
OLD, NEW = "1.0.0", "2.0.0"
SCHEMA = {OLD: 1, NEW: 2}
PHASES = ("connect", "stop", "snapshot", "restore", "switch", "smoke")
PAUSE = 0.1  # seconds the project's stop and start commands and its settle check take
# Longest random wait after a phase begins on the watched host, seconds (inside the phase:
# stop, switch and smoke last about PAUSE, saving or restoring the database a few ms).
MAX_DELAY = {
    "connect": 0.4, "stop": 0.08, "snapshot": 0.02, "restore": 0.01, "switch": 0.06, "smoke": 0.06
}  # fmt: skip
ROWS = 150_000  # notes written under 1.0.0 per host: saving and restoring take measurable time
AFTER = 3  # notes written through 2.0.0's API before each rollback
SLOW_STOP = 2.0  # the stop of the last trial: the re-run reaches the hosts while it runs
ROLLBACK = ["rollback", "--env", "staging", "--by", "ops", "--reason", "test"]


def slow_project(root: Path, hosts: list[SshHost]) -> Path:
    """The example project, its stop and start taking PAUSE more, its smoke checks a settle."""
    base = yaml.safe_load((EXAMPLE / "relkit.yml").read_text())
    service = dict(base["service"])
    service["stop"] = f"sleep {PAUSE}; {service['stop']}"
    service["start"] = f"sleep {PAUSE}; {service['start']}"
    settle = {"name": "settle", "command": f"test -s shared/app.pid && sleep {PAUSE}"}
    smoke = dict(base["smoke"], checks=[*base["smoke"]["checks"], settle])
    return write_project(root, {"staging": hosts}, config={"service": service, "smoke": smoke})


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def host_marks(host: SshHost, run_id: str | None) -> dict[str, bool]:
    """Where the rollback run ``run_id`` stands on one host, read from its deploy path."""
    root = deploy_dir(host)
    holder = read_json(root / ".relkit" / "lock") or {}  # written once the call has the host lock
    started = bool(run_id) and holder.get("run_id") == run_id and holder.get("state") == "rollback"
    try:
        switched = str((root / "current").readlink()) == f"releases/{OLD}"
    except OSError:
        switched = False
    try:
        saving = any(p.name.startswith(".partial") for p in (root / "snapshots").iterdir())
    except FileNotFoundError:
        saving = False
    return {
        "started": started,
        "running": (root / "shared" / "app.pid").exists(),
        "saving": saving,
        "restoring": (read_json(root / ".relkit" / "pending-data.json") or {}).get("action") == "rollback",
        "switched": switched,
        "ended": started and not host_lock_held(host),
    }


def phase_of(marks: dict[str, bool]) -> str:
    """The phase a host is in: what the rollback is doing there, or the next thing it does."""
    if not marks["started"]:
        return "connect"
    if marks["ended"]:
        return "ended"
    if marks["switched"]:
        return "smoke" if marks["running"] else "switch"
    if marks["restoring"]:
        return "restore"
    if marks["saving"] or not marks["running"]:
        return "snapshot"
    return "stop"


def begun(target: str, marks: dict[str, bool], recorded: bool) -> bool:
    """Whether the rollback reached ``target`` (or went past it) on the watched host
    (``recorded``: the run holds the lock and recorded its start)."""
    return {
        "connect": recorded,  # relkit status then tells the run interrupted
        "stop": marks["started"],
        "snapshot": marks["started"] and (not marks["running"] or marks["saving"] or marks["restoring"]),
        "restore": marks["restoring"] or marks["switched"],
        "switch": marks["switched"],
        "smoke": marks["switched"] and marks["running"],
    }[target]


def rollback_and_kill(
    root: Path, host: SshHost, target: str, delay: float, control_dir: Path
) -> tuple[str, float, str | None]:
    """Run the CLI rollback, kill it ``delay`` s after ``target`` began on ``host``.

    Returns (phase at the kill, seconds since the start, the killed run's id).
    """
    argv = [sys.executable, "-m", "relkit", "-C", str(root), *ROLLBACK]
    env_lock = root / "state" / "locks" / "staging.lock"
    run: dict[str, str | None] = {"id": None}

    def run_id() -> str | None:
        if run["id"] is None:
            run["id"] = (read_json(env_lock) or {}).get("run_id")
        return run["id"]

    def recorded() -> bool:
        """The run holds the lock and its start is in the ledger (the lock is taken first)."""
        if run_id() is None:
            return False
        with Project.load(root) as project:
            return any(e.run_id == run["id"] for e in project.ledger.entries(kind="run.started"))

    phase, at, _ = run_and_kill(
        argv,
        lambda _: begun(target, host_marks(host, run_id()), target != "connect" or recorded()),
        lambda _: phase_of(host_marks(host, run_id())),
        delay,
        control_dir,
        target,
    )
    return phase, at, run_id()


def at_rollback_snapshots(host: SshHost) -> set[str]:
    root = deploy_dir(host) / "snapshots"
    return {p.name for p in root.iterdir() if "-at-rollback-" in p.name and not p.name.startswith(".")}


def bodies(path: Path) -> tuple[int, str, list[str]]:
    """(user_version, integrity_check, note bodies) of a SQLite file."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=20)
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        found = [r[0] for r in con.execute("SELECT body FROM notes ORDER BY id")]
    finally:
        con.close()
    return version, integrity, found


def saved_ok(host: SshHost, new: set[str], expected: list[str]) -> list[str]:
    """The trial's at-rollback snapshots (``new``): exactly one, holding every row of 2.0.0's data."""
    if len(new) != 1:
        return [f"{host.name}: {len(new)} at-rollback snapshots taken by this trial: {sorted(new)}"]
    sid = next(iter(new))
    version, integrity, found = bodies(deploy_dir(host) / "snapshots" / sid / "appdb.sqlite")
    if (version, integrity, found) != (SCHEMA[NEW], "ok", expected):
        return [
            f"{host.name}: at-rollback snapshot {sid}: user_version {version}, integrity {integrity}, "
            f"{len(found)} rows (expected {SCHEMA[NEW]}, ok, {len(expected)} rows, the last {expected[-1]!r})"
        ]
    return []


def rerun_problems(
    proj: Project, hosts: list[SshHost], killed_run: str, after_kill: dict[str, str | None]
) -> list[str]:
    """What the ledger and the hosts' histories say after the re-run: each host rolled back once
    (by the killed run or the re-run), ``relkit status`` names 1.0.0, and a host the killed run
    rolled back is recorded as found live with the killed run's id and its at-rollback snapshot."""
    rerun = api.ledger_entries(proj, kind="run.started")[-1].run_id
    live = api.status(proj).live.get("staging", {})
    switched = {e.host: e.data for e in api.ledger_entries(proj, kind="host.switched") if e.run_id == rerun}
    snapshots = {(r.host, r.id) for r in list_snapshots(proj, "staging")}
    problems = []
    for host in hosts:
        history = (deploy_dir(host) / ".relkit" / "history.jsonl").read_text().splitlines()
        done = [r for r in map(json.loads, history) if r["run_id"] in {killed_run, rerun}]
        if len(done) != 1 or done[0]["action"] != "rollback":
            problems.append(f"{host.name}: the killed run and the re-run switched it {len(done)} times")
        if (says := live[host.name].version if host.name in live else None) != OLD:
            problems.append(f"{host.name}: relkit status says {says} is live, not {OLD}")
        data = switched.get(host.name, {})
        found = (data.get("found_live"), data.get("switched_by_run"))
        if after_kill[host.name] == OLD and found != (True, killed_run):
            problems.append(f"{host.name}: the re-run did not record the killed run's rollback: {data}")
        if done and (host.name, done[0]["snapshot"]) not in snapshots:
            problems.append(f"{host.name}: relkit snapshots does not name at-rollback {done[0]['snapshot']}")
    return problems


class Trials:
    """The pool, the project and what each trial found."""

    def __init__(self, proj: Project, root: Path, hosts: list[SshHost], capsys: pytest.CaptureFixture[str]):
        self.proj, self.root, self.hosts, self.capsys = proj, root, hosts, capsys
        self.kept: dict[str, int] = {}  # per host, the rows 1.0.0 wrote: what its snapshot holds
        self.before: dict[str, list[str]] = {}  # per host, the note bodies the rollback found
        self.saved: dict[str, set[str]] = {}  # per host, the at-rollback snapshots before the trial
        self.trouble: list[str] = []  # controller-side problems (status, unlock, re-run, reset)

    def prepare(self, trial: int | str) -> None:
        """Write notes through 2.0.0's API; note what the rollback will find."""
        for host in self.hosts:
            for i in range(AFTER):
                post_note(host, f"trial {trial} note {i} under {NEW} on {host.name}")
        self.before = {h.name: bodies(deploy_dir(h) / "shared" / "data" / "app.db")[2] for h in self.hosts}
        self.saved = {h.name: at_rollback_snapshots(h) for h in self.hosts}

    def check(
        self, host: SshHost, when: str, only: str | None = None
    ) -> tuple[str | None, str | None, list[str]]:
        """(version live, what the app answers, problems) of one host after a kill or a re-run."""
        before, kept = self.before[host.name], self.kept[host.name]
        version, problems = live_release(host)
        problems += leftovers(host)
        if version not in ((only,) if only else (OLD, NEW)):
            problems.append(f"{host.name}: current resolves to {version!r}")
        schema, _, found = db_state(host)
        problems += found
        rows = bodies(deploy_dir(host) / "shared" / "data" / "app.db")[2] if not found else []
        new = at_rollback_snapshots(host) - self.saved[host.name]
        if version == NEW and (schema, rows, new) != (SCHEMA[NEW], before, set()):
            problems.append(
                f"{host.name} on {NEW}: schema {schema}, {len(rows)} rows, at-rollback {sorted(new)} "
                f"(expected {SCHEMA[NEW]}, all {len(before)} rows, none)"
            )
        if version == OLD:
            if (schema, rows) != (SCHEMA[OLD], before[:kept]):
                problems.append(
                    f"{host.name} on {OLD}: schema {schema}, {len(rows)} rows "
                    f"(expected {SCHEMA[OLD]} and the {kept} rows of {OLD}'s snapshot)"
                )
            problems += saved_ok(host, new, before)
        answered = app_version(host)
        if answered not in (None, version):
            problems.append(f"{host.name}: the app answers {answered} while current is {version}")
        return version, answered, [f"{p} ({when})" for p in problems]

    def cli(self, *args: str) -> tuple[int, str]:
        self.capsys.readouterr()
        code = main(["-C", str(self.root), *args])
        out = self.capsys.readouterr()
        return code, out.out + out.err

    def unlock(self, trial: int | str, killed_run: str) -> None:
        """``relkit status`` shows the stale lock and the interrupted rollback; unlock breaks it."""
        code, out = self.cli("status")
        if code != 0 or "STALE" not in out or f"interrupted rollback run {killed_run}" not in out:
            self.trouble.append(f"trial {trial}: status (exit {code}) misses the stale lock or the run")
        code, out = self.cli("unlock", "--env", "staging", "--by", "ops")
        if code != 0:
            self.trouble.append(f"trial {trial}: unlock exit {code}: {out}")

    def rerun(
        self, trial: int | str, killed_run: str, after_kill: dict[str, str | None]
    ) -> tuple[float, dict[str, list[str]]]:
        """Run the same rollback command again; return its seconds and the problems it left per host."""
        started = time.monotonic()
        code, out = self.cli(*ROLLBACK)
        took = time.monotonic() - started
        if code != 0:
            self.trouble.append(f"trial {trial}: re-run exit {code}:\n{out}")
        problems: dict[str, list[str]] = {h.name: [] for h in self.hosts}
        for host in self.hosts:
            _, answered, found = self.check(host, "after the re-run", only=OLD)
            problems[host.name] += found
            if answered != OLD:
                problems[host.name].append(f"{host.name}: the app answers {answered} after the re-run")
        for problem in rerun_problems(self.proj, self.hosts, killed_run, after_kill):
            problems[problem.split(":")[0]].append(problem)
        return took, problems

    def reset(self, trial: int | str) -> None:
        """Deploy 2.0.0 again: both hosts on it, schema 2, the rows of 1.0.0's snapshot."""
        try:
            api.deploy(self.proj, self.root / "releases" / f"{NEW}.yml", "staging", by="tester")
        except Exception as exc:
            self.trouble.append(f"trial {trial}: reset deploy of {NEW} failed: {exc}")
        for host in self.hosts:
            state = (live_release(host)[0], app_version(host), *db_state(host)[:2])
            if state != (NEW, NEW, SCHEMA[NEW], self.kept[host.name]):
                self.trouble.append(f"trial {trial}: {host.name} after the reset: {state}")


def way(proj: Project, run_id: str) -> str:
    """How run ``run_id`` switched the hosts back: by the rollback play (it has a run directory),
    else directly over the host cards (relkit/live_rollback.py)."""
    return "play" if list((proj.state_dir / "runs").glob(f"{run_id}-*")) else "direct"


def test_killed_rollback_at_seeded_points(
    ssh_pool_factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t0 = time.monotonic()
    pool = ssh_pool_factory(2)
    hosts = pool.hosts
    root = slow_project(tmp_path / "project", hosts)
    proj = Project.load(root)
    run = Trials(proj, root, hosts, capsys)
    rng = random.Random(SEED)
    plan = [*PHASES, *rng.sample(PHASES[1:], TRIALS - len(PHASES))]
    rng.shuffle(plan)

    api.deploy(proj, root / "releases" / f"{OLD}.yml", "staging", by="ops")
    run.kept = {h.name: seed_notes(h, ROWS) for h in hosts}
    api.deploy(proj, root / "releases" / f"{NEW}.yml", "staging", by="ops")

    rows: list[str] = []
    broken: list[str] = []  # "trial n host: problem"
    broken_hosts = 0  # (trial, host) pairs with any problem
    stopped: list[str] = []  # not a problem, but said: an app a kill left stopped
    phases: Counter[str] = Counter()
    late = missed = 0  # kills after the run's end (no kill point) / past the planned phase: retried
    ways: Counter[str] = Counter()  # how the killed rollbacks switched back: direct or play
    for trial, target in enumerate(plan, 1):
        watched = rng.choice(hosts)
        delay = round(rng.uniform(0, MAX_DELAY[target]), 4) if trial <= TRIALS else 0.0
        while True:
            run.prepare(trial)
            phase, at, killed_run = rollback_and_kill(root, watched, target, delay, pool.control_dir)
            assert killed_run, "the killed rollback never took the environment lock"
            if killed_run not in {e.run_id for e in api.ledger_entries(proj, kind="run.finished")}:
                break
            late += 1
            assert late <= 5, "the kills keep landing after the rollback's end"
            with contextlib.suppress(BadInput):  # killed between its end and the lock's release
                api.unlock(proj, "staging", by="tester")
            run.reset(trial)
            delay = round(delay / 4, 4)
        # at the kill, while a host may still be in the middle of it: current names a complete release
        problems = {h.name: [f"{p} (at the kill)" for p in live_release(h)[1]] for h in hosts}
        waited = wait_host_quiet(hosts)
        phases[phase] += 1
        ways[way(proj, killed_run)] += 1
        if phase != target and target not in phases:
            missed += 1
            assert missed <= 3, f"the kills keep missing {target}"
            plan.append(target)

        # once the call the kill left running has ended: a complete release, its data, no row lost
        after_kill: dict[str, str | None] = {}
        for host in hosts:
            version, answered, found = run.check(host, "after the kill")
            problems[host.name] += found
            after_kill[host.name] = version
            if answered is None:
                stopped.append(f"trial {trial}: {host.name} on {version}: the kill left the app stopped")
        run.unlock(trial, killed_run)
        rerun, found = run.rerun(trial, killed_run, after_kill)
        run.reset(trial)

        for host in hosts:
            problems[host.name] += found[host.name]
            broken += [f"trial {trial} {p}" for p in problems[host.name]]
        bad = sorted(h for h, p in problems.items() if p)
        broken_hosts += len(bad)
        where = " ".join(f"{h} {v}" for h, v in sorted(after_kill.items()))
        rows.append(
            f"{trial:>2}  {target:<8} {phase:<8} {watched.name}  +{delay:.3f}s  {at:4.2f}s  +{waited:3.1f}s  "
            f"{where}  {rerun:3.1f}s  {'BROKEN ' + ','.join(bad) if bad else 'ok'}"
        )

    # And once more, re-run at once (no wait): a slow stop keeps the killed run's calls going on the
    # hosts; the re-run's calls wait for them (host lock), then find both hosts rolled back.
    config = yaml.safe_load((root / "relkit.yml").read_text())
    config["service"]["stop"] = config["service"]["stop"].replace(f"sleep {PAUSE};", f"sleep {SLOW_STOP};")
    (root / "relkit.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    run.prepare("W")
    phase, at, killed_run = rollback_and_kill(root, hosts[0], "stop", 0, pool.control_dir)
    assert killed_run and phase == "stop"
    assert way(proj, killed_run) == "play", "relkit.yml changed since the cards were kept: the play"
    run.unlock("W", killed_run)
    busy = {h.name: bool(host_busy(h)) for h in hosts}
    rerun, found = run.rerun("W", killed_run, dict.fromkeys(busy, OLD))
    if not all(busy.values()):
        run.trouble.append(f"re-run at once: the killed run's calls ended before the re-run: {busy}")
    bad = sorted(h for h, p in found.items() if p)
    broken_hosts += len(bad)
    broken += [f"trial W {p}" for ps in found.values() for p in ps]
    rows.append(
        f" W  stop     {phase:<8} {hosts[0].name}  +0.000s  {at:4.2f}s  re-run at once, its calls waited: "
        f"{','.join(h for h, b in busy.items() if b) or 'none'}  {rerun:3.1f}s  "
        f"{'BROKEN ' + ','.join(bad) if bad else 'ok'}"
    )

    trials = len(plan) + 1
    with capsys.disabled():
        print(f"\nkilled rollback: seed {SEED}, {trials} trials x {len(hosts)} hosts")
        print(" #  planned  phase    host  delay    killed  quiet  after the kill         re-run  result")
        print("\n".join(rows))
        print("kill phases: " + ", ".join(f"{p} {phases[p]}" for p in (*PHASES, "ended") if phases[p]))
        print(f"kills after the rollback's end, retried: {late}; past the planned phase, retried: {missed}")
        print("killed rollbacks: " + ", ".join(f"{n} {w}" for w, n in sorted(ways.items())) + ", W play")
        print(f"broken hosts: {broken_hosts} of {trials * len(hosts)}  ({time.monotonic() - t0:.0f}s)")
        for line in stopped + broken + run.trouble:
            print("  " + line)
    assert not run.trouble, "\n".join(run.trouble)
    assert broken_hosts == 0, "\n".join(broken)
    assert set(PHASES) <= set(phases), f"kill phases {dict(phases)} miss some of {PHASES}"
    assert set(ways) == {"direct"}, f"the numbered trials kill rollbacks over the host cards: {dict(ways)}"
