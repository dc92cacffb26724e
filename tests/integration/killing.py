"""Killing a relkit controller for real: shared by the killed-controller tests (deploy and rollback).

``run_and_kill`` runs a relkit command line in its own session, waits until a condition the
test reads on a host holds, waits a delay and SIGKILLs the whole controller: relkit, its
ansible-playbook (ansible-runner starts it in a session of its own, on a pty), the ssh
clients and the ssh ControlPersist masters of the test's hosts. What runs on a host is not
killed (the host did not die): ``wait_host_quiet`` waits until it has ended on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostcheck import db_state, deploy_dir, post_note
from tests.sshhosts import SshHost

KILL_DEADLINE = 120.0


def descendants(pid: int) -> list[int]:
    """pid and every process below it (by parent pid, whatever session it is in)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def ssh_masters(control_dir: Path) -> list[int]:
    """The ssh ControlPersist masters of this test's hosts (their command line names control_dir)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes()
        except OSError:
            continue
        if args.startswith(b"ssh") and str(control_dir).encode() in args:
            found.append(int(cmdline.parent.name))
    return found


def with_signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def kill_controller(proc: subprocess.Popen[str], control_dir: Path) -> list[int]:
    """SIGKILL the controller: its process group, every descendant, and the hosts' ssh masters."""
    victims: list[int] = []
    for _ in range(2):  # stop first so nothing forks between listing and killing
        for pid in descendants(proc.pid):
            if pid not in victims:
                victims.append(pid)
                with_signal(pid, signal.SIGSTOP)
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in [*victims, *ssh_masters(control_dir)]:
        with_signal(pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return victims


def run_and_kill(
    argv: list[str],
    begun: Callable[[list[str]], bool],
    phase: Callable[[list[str]], str],
    delay: float,
    control_dir: Path,
    what: str,
) -> tuple[str, float, str]:
    """Run ``argv`` (a relkit command line); kill it ``delay`` s after ``begun(output lines)`` holds.

    ``phase(output lines)`` names where the run stands, read just before the kill; ``what``
    names the awaited point in failure messages. Returns (phase, seconds since the start,
    output seen).
    """
    lines: list[str] = []
    started = time.monotonic()
    command = argv[argv.index("-C") + 2] if "-C" in argv else "relkit"
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    ) as proc:
        assert proc.stdout is not None
        out = proc.stdout

        def read() -> None:
            for line in out:
                lines.append(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        while not begun(list(lines)):
            if proc.poll() is not None:
                ended = f"{command} ended (exit {proc.returncode})"
                pytest.fail(f"{ended} before {what} began:\n{''.join(lines)}")
            if time.monotonic() - started > KILL_DEADLINE:
                kill_controller(proc, control_dir)
                pytest.fail(f"{what} did not begin within {KILL_DEADLINE}s:\n{''.join(lines)}")
            time.sleep(0.002)
        time.sleep(delay)
        at_kill = phase(list(lines))
        if proc.poll() is not None:
            pytest.fail(f"{command} ended (exit {proc.returncode}) before the kill:\n{''.join(lines)}")
        kill_controller(proc, control_dir)
        at = time.monotonic() - started
        reader.join(timeout=10)
    return at_kill, at, "".join(lines)


def host_lock_held(host: SshHost) -> bool:
    """Whether a relkit module call holds the host lock (``.relkit/lock``, flock(2)), from /proc/locks."""
    try:
        st = (deploy_dir(host) / ".relkit" / "lock").stat()
    except FileNotFoundError:
        return False
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return any(
        fields[1] == "FLOCK" and fields[-3] == device
        for fields in (line.split() for line in Path("/proc/locks").read_text().splitlines())
        if len(fields) >= 8
    )


def host_busy(host: SshHost) -> list[str]:
    """What runs on the host besides its sshd and the app's server (empty: nothing)."""
    assert host.pid is not None
    busy = []
    for pid in descendants(host.pid)[1:]:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in args and any(a.endswith(b"app.py") for a in args):
            continue
        busy.append(b" ".join(args).decode(errors="replace").strip() or f"pid {pid}")
    if host_lock_held(host):
        busy.append("the host lock is held")
    return busy


def wait_host_quiet(hosts: list[SshHost], timeout: float = 60.0) -> float:
    """Wait until nothing a killed controller started still runs on ``hosts``; return the seconds waited.

    A module call under way when the controller died finishes on the host on its own (and
    one whose code had reached the host just before may start after the kill): quiet means
    no process but sshd and the app's server on any host, twice in a row 50 ms apart.
    """
    started = time.monotonic()
    calm = 0
    while calm < 2:
        busy = {h.name: found for h in hosts if (found := host_busy(h))}
        calm = 0 if busy else calm + 1
        if busy and time.monotonic() - started > timeout:
            pytest.fail(f"the hosts are still busy {timeout}s after the kill: {busy}")
        time.sleep(0.05)
    return time.monotonic() - started


def seed_notes(host: SshHost, rows: int) -> int:
    """Write a note through the app, then ``rows`` more straight into its SQLite file."""
    post_note(host, f"written through the API on {host.name}")
    con = sqlite3.connect(deploy_dir(host) / "shared" / "data" / "app.db", timeout=20)
    try:
        with con:
            con.executemany(
                "INSERT INTO notes (body, created) VALUES (?, ?)",
                ((f"note {i} on {host.name}", "2026-11-23T00:00:00+00:00") for i in range(rows)),
            )
    finally:
        con.close()
    return db_state(host)[1]
