"""What a host must look like whatever was killed or broken: shared by the fault tests.

Each check returns a list of problems (empty: fine) instead of asserting, so a test can count
broken hosts over many trials and still report every problem it saw. The checks read the
host's deploy path from the controller side (``SshHost.opt`` is the host's ``/opt``).
"""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from pathlib import Path

from tests.sshhosts import SshHost
from tests.sshproject import APP_PORT

MARKER = ".relkit-release.json"


def deploy_dir(host: SshHost, app: str = "webapp") -> Path:
    """Controller-side path of the host's /opt/<app>."""
    return host.opt / app


def live_release(host: SshHost) -> tuple[str | None, list[str]]:
    """(version ``current`` resolves to, problems): it must name a complete release, never a partial one."""
    root = deploy_dir(host)
    try:
        target = str((root / "current").readlink())
    except FileNotFoundError:
        return None, []
    except OSError as exc:
        return None, [f"{host.name}: current is not a symlink: {exc}"]
    parts = target.split("/")
    if len(parts) != 2 or parts[0] != "releases" or parts[1].startswith("."):
        return None, [f"{host.name}: current -> {target!r} is not releases/<version>"]
    version = parts[1]
    try:
        marker = json.loads((root / "releases" / version / MARKER).read_text())
    except (OSError, ValueError) as exc:
        return version, [f"{host.name}: current -> {target} has no completion marker ({exc})"]
    if marker.get("version") != version:
        return version, [f"{host.name}: marker of {target} names {marker.get('version')!r}"]
    return version, []


def leftovers(host: SshHost) -> list[str]:
    """Partial releases or snapshots and pending-data notes: none may outlive a finished run."""
    root = deploy_dir(host)
    found = [
        f"{host.name}: {sub}/{p.name} left behind"
        for sub in ("releases", "snapshots")
        if (root / sub).is_dir()
        for p in (root / sub).iterdir()
        if p.name.startswith(".partial")
    ]
    if (root / ".relkit" / "pending-data.json").exists():
        found.append(f"{host.name}: .relkit/pending-data.json left behind")
    return found


def db_state(host: SshHost) -> tuple[int | None, int, list[str]]:
    """(user_version, notes count, problems) of the example app's SQLite database.

    Consistent means: it opens, ``PRAGMA integrity_check`` is ok, user_version is 1 or 2 and
    the schema matches it (the ``author`` column exists iff user_version == 2: 2.0.0's migration).
    """
    path = deploy_dir(host) / "shared" / "data" / "app.db"
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=20)
    except sqlite3.Error as exc:
        return None, 0, [f"{host.name}: database does not open: {exc}"]
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
        columns = [r[1] for r in con.execute("PRAGMA table_info(notes)")]
        count = con.execute("SELECT count(*) FROM notes").fetchone()[0]
    except sqlite3.Error as exc:
        return None, 0, [f"{host.name}: database unreadable: {exc}"]
    finally:
        con.close()
    problems = []
    if integrity != "ok":
        problems.append(f"{host.name}: integrity_check says {integrity!r}")
    if version not in (1, 2):
        problems.append(f"{host.name}: user_version {version} is neither 1 nor 2")
    if ("author" in columns) != (version == 2):
        problems.append(f"{host.name}: user_version {version} but notes columns {columns}")
    return version, count, problems


def app_version(host: SshHost, timeout: float = 5) -> str | None:
    """The version the app on ``host`` answers with over HTTP (None when it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://{host.address}:{APP_PORT}/health", timeout=timeout) as resp:
            return json.load(resp).get("version")
    except (OSError, ValueError):
        return None


def post_note(host: SshHost, body: str) -> None:
    """Write a note through the app's HTTP API."""
    request = urllib.request.Request(
        f"http://{host.address}:{APP_PORT}/notes",
        data=json.dumps({"body": body}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 201
