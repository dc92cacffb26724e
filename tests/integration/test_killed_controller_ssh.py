"""Killed controller: SIGKILL `relkit deploy` at 20 seeded points of a deploy to 2 SSH hosts.

Each trial runs the real CLI (`python -m relkit deploy releases/2.0.0.yml --env staging`) in
its own session, watches the deploy's progress (relkit's output lines and each host's deploy
path) and, once the planned phase has begun and a seeded random delay has passed, SIGKILLs
the whole controller: relkit, its ansible-playbook (ansible-runner starts it in a session of
its own, on a pty), the ssh clients and the ssh ControlPersist masters of these hosts.

What runs on a host at that moment is not killed (the host did not die): a module call
already under way finishes there on its own. After the kill every host must hold a complete
release behind ``current`` and consistent data; ``relkit status`` must report the interrupted
run and the stale lock; after ``relkit unlock`` a re-run must complete with both hosts on
2.0.0. Then ``relkit rollback --to 1.0.0`` resets the pool for the next trial (and shows the
data snapshot of the interrupted-then-completed deploy restores 1.0.0's data).

The phase a kill hit is read from the watched host at the kill (what it is doing, or does
next; 2.0.0's artifact is padded to 24 MiB, so that its transfer, written straight to the
host's .relkit/incoming, is a phase too); every phase must be hit. A kill that lands after
the run recorded its end is no kill point: that trial is run again with a shorter delay. The
seed is RELKIT_KILL_SEED (default below); the test prints each trial, the distribution of kill
phases and the number of broken hosts, which must be 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.cli import main
from relkit.errors import BadInput
from relkit.project import Project
from tests.hostcheck import app_version, db_state, deploy_dir, leftovers, live_release
from tests.integration.killing import run_and_kill, seed_notes
from tests.sshhosts import SshHost
from tests.sshproject import EXAMPLE, pad_artifacts, write_project

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("RELKIT_KILL_SEED", "20261123"))
TRIALS = 20
OLD, NEW = "1.0.0", "2.0.0"
PHASES = ("upload", "unpack", "snapshot", "migrate", "switch", "restart")
# Longest random wait after a phase begins, seconds (well inside the phase on this kind of
# machine: upload is the start of the install task and the transfer of 24 MiB, a snapshot of ~1 MB
# of SQLite a few ms).
MAX_DELAY = {
    "upload": 0.15, "unpack": 0.1, "snapshot": 0.01, "migrate": 0.05, "switch": 0.02, "restart": 0.06
}  # fmt: skip
ROWS = 20_000  # seeded notes per host: the snapshot and 2.0.0's migration take measurable time
ARTIFACT_MB = 24  # NEW's artifact padded with incompressible files: its transfer takes measurable time


def host_marks(host: SshHost, artifact_bytes: int = 0) -> dict[str, bool]:
    """Where the deploy of NEW stands on one host, read from its deploy path (``artifact_bytes``:
    the size of NEW's artifact, which the controller writes straight to .relkit/incoming; 0: any
    file there counts as uploaded)."""
    root = deploy_dir(host)
    sizes = [p.stat().st_size for p in (root / ".relkit" / "incoming").glob("*.artifact")]

    def names(sub: str) -> list[str]:
        try:
            return [p.name for p in (root / sub).iterdir()]
        except FileNotFoundError:
            return []

    try:
        switched = str((root / "current").readlink()) == f"releases/{NEW}"
    except OSError:
        switched = False
    running = (root / "shared" / "app.pid").exists()
    return {
        "uploading": any(size < artifact_bytes for size in sizes),
        "uploaded": any(size >= artifact_bytes for size in sizes),
        "unpacking": any(n.startswith(".partial") for n in names("releases")),
        "installed": (root / "releases" / NEW / ".relkit-release.json").exists(),
        "old_running": running and not switched,
        "snapshotting": any(n.startswith(".partial") for n in names("snapshots")),
        "pending": (root / ".relkit" / "pending-data.json").exists(),
        "switched": switched,
        "new_running": running and switched,
    }


def phase_of(marks: dict[str, bool], probed: bool) -> str:
    """The phase a host is in: what it is doing, or the next thing the deploy does to it."""
    if marks["switched"]:
        return "restart" if marks["new_running"] else "switch"
    if marks["pending"]:
        return "migrate"
    if marks["installed"]:
        return "snapshot"  # the switch call: stop the old release, snapshot the data
    if marks["uploaded"] or marks["unpacking"]:
        return "unpack"
    return "upload" if probed or marks["uploading"] else "gates/probe"


def begun(target: str, marks: dict[str, bool], probed: bool) -> bool:
    """Whether the deploy reached ``target`` (or went past it) on the watched host."""
    return {
        "upload": probed,
        "unpack": marks["uploaded"] or marks["unpacking"] or marks["installed"],
        "snapshot": marks["installed"] and (not marks["old_running"] or marks["snapshotting"]),
        "migrate": marks["pending"] or marks["switched"],
        "switch": marks["switched"],
        "restart": marks["new_running"],
    }[target]


def deploy_and_kill(
    root: Path, host: SshHost, target: str, delay: float, control_dir: Path, artifact_bytes: int = 0
) -> tuple[str, float, str]:
    """Run the CLI deploy of NEW, kill it ``delay`` s after ``target`` began on ``host``.

    Returns (phase at the kill, seconds since the start, output seen).
    """
    manifest = str(root / "releases" / f"{NEW}.yml")
    argv = [sys.executable, "-m", "relkit", "-C", str(root), "deploy", manifest, "--env", "staging"]

    def probed(lines: list[str]) -> bool:
        return any(f" {host.name} " in line and "Probe release" in line for line in lines)

    return run_and_kill(
        argv,
        lambda lines: begun(target, host_marks(host, artifact_bytes), probed(lines)),
        lambda lines: phase_of(host_marks(host, artifact_bytes), probed(lines)),
        delay,
        control_dir,
        target,
    )


def forget_release(host: SshHost, version: str) -> None:
    """Remove a release that is not live (and its upload) so the next deploy uploads and unpacks it."""
    root = deploy_dir(host)
    assert str((root / "current").readlink()) != f"releases/{version}"
    subprocess.run(["rm", "-rf", str(root / "releases" / version)], check=True)
    for upload in (root / ".relkit" / "incoming").glob("*.artifact"):
        upload.unlink()


def test_killed_controller_20_points(
    ssh_pool_factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = ssh_pool_factory(2)
    hosts = pool.hosts
    root = write_project(tmp_path / "project", {"staging": hosts})
    artifact_bytes = pad_artifacts(root, ARTIFACT_MB, (NEW,))  # an upload that takes a moment
    proj = Project.load(root)
    rng = random.Random(SEED)
    plan = [*PHASES * (TRIALS // len(PHASES)), *rng.sample(PHASES, TRIALS % len(PHASES))]
    rng.shuffle(plan)

    api.deploy(proj, root / "releases" / f"{OLD}.yml", "staging", by="ops")
    notes = {h.name: seed_notes(h, ROWS) for h in hosts}

    rows: list[str] = []
    broken: list[str] = []  # "trial n host: problem"
    broken_hosts = 0  # (trial, host) pairs with any problem
    trouble: list[str] = []  # controller-side problems (status, unlock, re-run, reset)
    phases: Counter[str] = Counter()
    late = 0  # kills that landed after the run had recorded its end: no kill point, so retried
    for trial, target in enumerate(plan, 1):
        watched = rng.choice(hosts)
        delay = round(rng.uniform(0, MAX_DELAY[target]), 4)
        while True:
            if target in ("upload", "unpack"):
                for host in hosts:
                    forget_release(host, NEW)
            phase, at, _ = deploy_and_kill(root, watched, target, delay, pool.control_dir, artifact_bytes)
            killed_run = api.ledger_entries(proj, kind="run.started")[-1].run_id
            if killed_run not in {e.run_id for e in api.ledger_entries(proj, kind="run.finished")}:
                break
            late += 1
            assert late <= 5, "the kills keep landing after the deploy's end"
            with contextlib.suppress(BadInput):  # killed between its end and the lock's release
                api.unlock(proj, "staging", by="tester")
            api.rollback(proj, "staging", by="tester", reason="the kill came after the end", to=OLD)
            delay = round(delay / 4, 4)
        phases[phase] += 1
        problems: dict[str, list[str]] = {h.name: [] for h in hosts}

        # right after the kill: a complete release behind current, old or new consistent data
        for host in hosts:
            version, found = live_release(host)
            problems[host.name] += found
            if version not in (OLD, NEW):
                problems[host.name].append(f"{host.name}: current resolves to {version!r}")
            schema, count, found = db_state(host)
            problems[host.name] += found
            if count != notes[host.name]:
                problems[host.name].append(f"{host.name}: {count} notes, expected {notes[host.name]}")

        capsys.readouterr()
        code = main(["-C", str(root), "status"])
        status_out = capsys.readouterr().out
        if code != 0 or "STALE" not in status_out or f"interrupted deploy run {killed_run}" not in status_out:
            trouble.append(f"trial {trial}: status (exit {code}) misses run {killed_run} or the stale lock")
        code = main(["-C", str(root), "unlock", "--env", "staging", "--by", "tester"])
        if code != 0:
            trouble.append(f"trial {trial}: unlock exit {code}: {capsys.readouterr()}")
        started = time.monotonic()
        code = main(["-C", str(root), "deploy", str(root / "releases" / f"{NEW}.yml"), "--env", "staging"])
        rerun = time.monotonic() - started
        rerun_out = capsys.readouterr()
        if code != 0:
            trouble.append(f"trial {trial}: re-run exit {code}:\n{rerun_out.out}{rerun_out.err}")

        live = api.status(proj).live.get("staging", {})
        for host in hosts:
            version, found = live_release(host)
            problems[host.name] += found + leftovers(host)
            schema, count, found = db_state(host)
            problems[host.name] += found
            answered = app_version(host)
            if (version, answered, schema, count) != (NEW, NEW, 2, notes[host.name]):
                problems[host.name].append(
                    f"{host.name} after the re-run: current {version}, app answers {answered}, "
                    f"schema {schema}, {count} notes (expected {NEW}, {NEW}, 2, {notes[host.name]})"
                )
            if host.name not in live or live[host.name].version != NEW:
                ledger_says = live[host.name].version if host.name in live else None
                problems[host.name].append(f"{host.name}: the ledger says {ledger_says} is live, not {NEW}")

        try:  # reset for the next trial; also: the data snapshot of this deploy restores 1.0.0's data
            api.rollback(proj, "staging", by="tester", reason=f"reset after kill trial {trial}", to=OLD)
        except Exception as exc:
            trouble.append(f"trial {trial}: reset rollback failed: {exc}")
        for host in hosts:
            version, found = live_release(host)
            schema, count, more = db_state(host)
            if (version, app_version(host), schema, count) != (OLD, OLD, 1, notes[host.name]):
                problems[host.name].append(
                    f"{host.name} after rollback --to {OLD}: current {version}, schema {schema}, {count} rows"
                )
            problems[host.name] += found + more

        for host in hosts:
            broken += [f"trial {trial} {p}" for p in problems[host.name]]
        bad = sorted(h for h, p in problems.items() if p)
        broken_hosts += len(bad)
        rows.append(
            f"{trial:>2}  {target:<8} {phase:<11} {watched.name}  +{delay:.3f}s  killed at {at:5.2f}s  "
            f"re-run {rerun:4.1f}s  {'BROKEN ' + ','.join(bad) if bad else 'ok'}"
        )

    with capsys.disabled():
        print(f"\nkilled controller: seed {SEED}, {TRIALS} trials x {len(hosts)} hosts")
        print(" #  planned  phase       host  delay     kill time        re-run   result")
        print("\n".join(rows))
        print("kill phases: " + ", ".join(f"{p} {phases[p]}" for p in (*PHASES, "gates/probe") if phases[p]))
        print(f"kills after the deploy's end, retried: {late}")
        print(f"broken hosts: {broken_hosts} of {TRIALS * len(hosts)}")
        for line in broken + trouble:
            print("  " + line)
    assert not trouble, "\n".join(trouble)
    assert broken_hosts == 0, "\n".join(broken)
    assert set(PHASES) <= set(phases), f"kill phases {dict(phases)} miss some of {PHASES}"


def test_rerun_waits_for_the_switch_a_killed_run_left_running(
    ssh_pool_factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A slow migration outlives the killed controller: the re-run waits for it, never races it.

    The killed run's switch call goes on on each host (migrate, switch, start); the re-run
    reaches the hosts while it does. The host lock makes the re-run's calls wait: each host
    switches once, migrates once, and the ledger learns who switched it (the killed run).
    """
    pool = ssh_pool_factory(2)
    hosts = pool.hosts
    service = yaml.safe_load((EXAMPLE / "relkit.yml").read_text())["service"]
    service["migrate"] = "sleep 3; " + service["migrate"]
    root = write_project(tmp_path / "project", {"staging": hosts}, config={"service": service})
    proj = Project.load(root)
    api.deploy(proj, root / "releases" / f"{OLD}.yml", "staging", by="ops")

    phase, _, _ = deploy_and_kill(root, hosts[0], "migrate", 0, pool.control_dir)
    assert phase == "migrate"
    killed_run = api.ledger_entries(proj, kind="run.started")[-1].run_id
    assert main(["-C", str(root), "unlock", "--env", "staging", "--by", "tester"]) == 0
    assert all(not host_marks(h)["switched"] for h in hosts), "the re-run starts before the switch"
    assert main(["-C", str(root), "deploy", str(root / "releases" / f"{NEW}.yml"), "--env", "staging"]) == 0
    rerun = api.ledger_entries(proj, kind="run.finished")[-1].run_id

    for host in hosts:
        assert live_release(host) == (NEW, []) and app_version(host) == NEW
        history = (deploy_dir(host) / ".relkit" / "history.jsonl").read_text().splitlines()
        switches = [json.loads(line) for line in history if json.loads(line)["version"] == NEW]
        assert [s["run_id"] for s in switches] == [killed_run], "switched once, by the killed run"
        log = (deploy_dir(host) / ".relkit" / "service.log").read_text()
        assert log.count("schema 1 -> 2") == 1 and "schema 2: up to date" not in log, log
    found = [e for e in api.ledger_entries(proj, kind="host.switched") if e.run_id == rerun]
    assert sorted(e.host for e in found) == ["web1", "web2"]
    assert {(e.data["found_live"], e.data["switched_by_run"], e.data["previous"]) for e in found} == {
        (True, killed_run, OLD)
    }
    live = api.status(proj).live["staging"]
    assert {h: r.version for h, r in live.items()} == {"web1": NEW, "web2": NEW}
    capsys.readouterr()
