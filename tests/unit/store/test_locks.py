"""Environment locks (relkit.lock): real lock files, real (dead and live) processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from relkit.errors import BadInput, Locked
from relkit.store.locks import Holder, break_lock, hold, lock_path, read_holder
from tests.support.fixtures import PYTHON, REPO


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([PYTHON, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def _write_lock(state_dir: Path, env: str, pid: int, host: str | None = None, **extra: object) -> Path:
    path = lock_path(state_dir, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = {
        "user": "alice",
        "host": host or socket.gethostname(),
        "pid": pid,
        "started": "2026-11-10T15:00:00+00:00",
        "run_id": "20261110T150000-abcdef",
        "action": "deploy",
        **extra,
    }
    path.write_text(json.dumps(holder))
    return path


def test_lock_path(tmp_path: Path) -> None:
    assert lock_path(tmp_path, "staging") == tmp_path / "locks" / "staging.lock"


def test_hold_writes_holder_and_removes_file(tmp_path: Path) -> None:
    path = lock_path(tmp_path, "staging")
    with hold(tmp_path, "staging", "run-1", "deploy") as me:
        assert path.is_file()
        on_disk = json.loads(path.read_text())
        assert on_disk["pid"] == os.getpid()
        assert on_disk["host"] == socket.gethostname()
        assert on_disk["user"]
        assert on_disk["run_id"] == "run-1"
        assert on_disk["action"] == "deploy"
        assert read_holder(path) == me
        assert me.alive
    assert not path.exists()
    assert read_holder(path) is None


def test_hold_removes_file_on_exception(tmp_path: Path) -> None:
    path = lock_path(tmp_path, "staging")
    with pytest.raises(RuntimeError, match="boom"), hold(tmp_path, "staging", "run-1", "deploy"):
        assert path.exists()
        raise RuntimeError("boom")
    assert not path.exists()
    with hold(tmp_path, "staging", "run-2", "deploy"):  # free again
        assert json.loads(path.read_text())["run_id"] == "run-2"


def test_second_hold_is_locked_and_names_holder(tmp_path: Path) -> None:
    with hold(tmp_path, "staging", "run-1", "deploy") as me:
        with pytest.raises(Locked) as info, hold(tmp_path, "staging", "run-2", "rollback"):
            pytest.fail("second hold must not be granted")
        err = info.value
        assert err.exit_code == 6
        message = str(err)
        assert "'staging'" in message
        assert "run-1" in message
        assert f"{me.user}@{me.host}" in message
        assert f"pid {os.getpid()}" in message
        assert "STALE" not in message
        # the loser did not remove the winner's lock
        assert json.loads(lock_path(tmp_path, "staging").read_text())["run_id"] == "run-1"
    assert not lock_path(tmp_path, "staging").exists()


def test_locks_are_per_environment(tmp_path: Path) -> None:
    with hold(tmp_path, "staging", "run-1", "deploy"), hold(tmp_path, "production", "run-2", "deploy"):
        assert lock_path(tmp_path, "staging").exists()
        assert lock_path(tmp_path, "production").exists()


def test_hold_does_not_remove_a_lock_it_no_longer_owns(tmp_path: Path) -> None:
    path = lock_path(tmp_path, "staging")
    with hold(tmp_path, "staging", "run-1", "deploy"):
        path.unlink()  # broken with --force meanwhile, and taken by another run
        _write_lock(tmp_path, "staging", os.getpid(), run_id="run-2")
    assert json.loads(path.read_text())["run_id"] == "run-2"


def test_dead_holder_is_stale_and_can_be_broken(tmp_path: Path) -> None:
    pid = _dead_pid()
    path = _write_lock(tmp_path, "staging", pid)
    holder = read_holder(path)
    assert holder is not None
    assert not holder.alive
    assert "STALE" in holder.describe()
    with pytest.raises(Locked) as info, hold(tmp_path, "staging", "run-2", "deploy"):
        pytest.fail("a stale lock still blocks until broken")
    assert "STALE" in str(info.value)
    assert "relkit unlock --env staging" in str(info.value)
    broken = break_lock(tmp_path, "staging")
    assert broken.pid == pid
    assert broken.user == "alice"
    assert not path.exists()


def test_break_lock_on_live_holder_needs_force(tmp_path: Path) -> None:
    with hold(tmp_path, "staging", "run-1", "deploy"):
        with pytest.raises(Locked) as info:
            break_lock(tmp_path, "staging")
        assert info.value.exit_code == 6
        assert "run-1" in str(info.value)
        assert "--force" in str(info.value)
        assert lock_path(tmp_path, "staging").exists()
        holder = break_lock(tmp_path, "staging", force=True)
        assert holder.run_id == "run-1"
        assert not lock_path(tmp_path, "staging").exists()


def test_live_holder_on_another_host_is_not_stale(tmp_path: Path) -> None:
    _write_lock(tmp_path, "staging", _dead_pid(), host="some-other-controller.example")
    holder = read_holder(lock_path(tmp_path, "staging"))
    assert holder is not None
    assert holder.alive
    with pytest.raises(Locked):
        break_lock(tmp_path, "staging")


def test_break_lock_without_lock_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as info:
        break_lock(tmp_path, "staging")
    assert info.value.exit_code == 2
    assert "'staging' is not locked" in str(info.value)


@pytest.mark.parametrize("content", ["", '{"user": "x"}'], ids=["empty", "missing-fields"])
def test_unreadable_lock_file_is_stale_and_breakable(tmp_path: Path, content: str) -> None:
    # relkit.lock.read_holder documents: "An unreadable file is a stale holder."
    path = lock_path(tmp_path, "staging")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    holder = read_holder(path)
    assert holder is not None
    assert holder.action == "unreadable lock file"
    assert not holder.alive
    break_lock(tmp_path, "staging")
    assert not path.exists()


def test_holder_describe_names_everything() -> None:
    holder = Holder("bob", "ctl.example", 4242, "2026-11-10T15:00:00+00:00", "r-9", "rollback")
    text = holder.describe()
    for part in ("rollback", "r-9", "bob@ctl.example", "pid 4242", "2026-11-10T15:00:00+00:00"):
        assert part in text


CONTENDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from relkit.errors import Locked
    from relkit.store.locks import hold
    go = Path({go!r})
    Path({ready!r} + sys.argv[1]).touch()
    while not go.exists():
        time.sleep(0.001)
    try:
        with hold(Path({state!r}), "staging", sys.argv[1], "deploy"):
            time.sleep(0.5)
            print("won")
    except Locked:
        print("locked")
    """
)


def test_only_one_of_many_processes_gets_the_lock(tmp_path: Path) -> None:
    go, ready = tmp_path / "go", tmp_path / "ready-"
    script = CONTENDER.format(repo=str(REPO), go=str(go), ready=str(ready), state=str(tmp_path / "state"))
    procs = [
        subprocess.Popen(
            [PYTHON, "-c", script, f"run-{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(6)
    ]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < len(procs) and time.monotonic() < deadline:
        time.sleep(0.005)
    go.touch()  # every contender is waiting: they all try within milliseconds
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outcomes.append(out.strip())
    assert sorted(outcomes) == ["locked"] * 5 + ["won"]
    assert not lock_path(tmp_path / "state", "staging").exists()
