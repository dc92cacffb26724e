"""Pidfile handling for ``serve`` and ``stop``."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def read(path: Path) -> int | None:
    """The pid in ``path``, or None when the file is missing or not a pid."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def write(path: Path, pid: int) -> None:
    """Write ``pid`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{pid}.tmp")
    tmp.write_text(f"{pid}\n", encoding="ascii")
    tmp.replace(path)


def remove(path: Path, pid: int) -> None:
    """Remove ``path`` if it still holds ``pid``."""
    if read(path) == pid:
        path.unlink(missing_ok=True)


def is_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def is_server(pid: int) -> bool:
    """Whether ``pid`` looks like ``app.py serve`` (guards against reused pids)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True
    return b"serve" in args and any(a.endswith(b"app.py") for a in args)


def running(path: Path) -> int | None:
    """The pid of the live server recorded in ``path``, if any."""
    pid = read(path)
    return pid if pid is not None and is_alive(pid) and is_server(pid) else None


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def stop(path: Path, timeout: float) -> tuple[bool, str]:
    """SIGTERM the server in ``path`` and wait for it to exit (SIGKILL after ``timeout``)."""
    pid = running(path)
    if pid is None:
        stale = path.exists()
        path.unlink(missing_ok=True)
        return True, "not running" + (" (removed stale pidfile)" if stale else "")
    os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        path.unlink(missing_ok=True)
        return True, f"stopped pid {pid}"
    os.kill(pid, signal.SIGKILL)
    gone = _wait_gone(pid, 2.0)
    if gone:
        path.unlink(missing_ok=True)
    return gone, f"pid {pid} ignored SIGTERM for {timeout:g}s; " + (
        "killed" if gone else "still alive after SIGKILL"
    )
