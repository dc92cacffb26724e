"""The deploy path's host lock: one relkit module call at a time per deploy path.

A controller killed mid-deploy leaves the module call it started running on the host; the
lock makes a re-run wait for it (tests/integration/test_killed_controller_ssh.py shows it
over SSH). Here: a second holder waits and then fails naming the first, the kernel releases
the lock with its holder, and the service a call starts does not inherit it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.host.test_release_module import params, release


def test_second_call_waits_then_names_the_holder(tmp_path: Path) -> None:
    root = tmp_path / "app"
    first = release.host_lock(params(root, state="activate", version="2.0.0", run_id="killed-run"))
    try:
        started = time.monotonic()
        with pytest.raises(release.ReleaseError) as busy:
            release.host_lock(params(root, state="probe", version="2.0.0"), wait=0.3)
        assert time.monotonic() - started >= 0.3
        assert "killed-run" in str(busy.value) and "activate" in str(busy.value)
        assert "nothing was changed" in str(busy.value)
        holder = json.loads((root / ".relkit" / "lock").read_text())
        assert (holder["pid"], holder["run_id"]) == (os.getpid(), "killed-run")
    finally:
        os.close(first)
    second = release.host_lock(params(root, state="probe", version="2.0.0"), wait=0.3)
    os.close(second)


def test_lock_dies_with_its_holder_and_is_not_inherited(tmp_path: Path) -> None:
    root = tmp_path / "app"
    code = (
        "import sys, time; sys.path[:0] = sys.argv[2:]; "
        "from tests.host.test_release_module import params, release; "
        "p = params(__import__('pathlib').Path(sys.argv[1]), state='activate', version='2.0.0'); "
        "release.host_lock(p); "
        "release.run_service(sys.argv[1], 'sleep 10 & echo $! > svc.pid', '2.0.0', 5); "  # left running
        "print('locked', flush=True); time.sleep(30)"
    )
    repo = str(Path(__file__).resolve().parents[2])
    (root / ".relkit").mkdir(parents=True)
    with subprocess.Popen(
        [sys.executable, "-c", code, str(root), repo], stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(release.ReleaseError):
            release.host_lock(params(root, state="probe", version="2.0.0"), wait=0.1)
        holder.kill()  # SIGKILL: the kernel drops the lock; the background service lives on
        holder.wait()
    service = int((root / "svc.pid").read_text())
    try:
        os.kill(service, 0)  # still running, and the lock is free all the same
        fd = release.host_lock(params(root, state="probe", version="2.0.0"), wait=2)
        os.close(fd)
    finally:
        os.kill(service, signal.SIGKILL)
