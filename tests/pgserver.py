"""A real, throwaway PostgreSQL server for tests: initdb + pg_ctl as a non-root user.

PostgreSQL refuses to run as root, so the server runs as a system user (created with
``useradd`` when missing) from a data directory it owns. The directory lives in its own
``/tmp/relkit-pg-*`` (pytest's tmp_path sits under a root-only 0700 directory the server
user could not enter) and is removed by :meth:`PgServer.stop`. The server listens on
127.0.0.1 and a Unix socket in /tmp; local (socket) connections are trusted, TCP ones need
the ``postgres`` password when one is given (scram-sha-256), so a test can prove that a
password reached whoever connects over TCP::

    with PgServer(password="s3cret") as pg:
        pg.psql("CREATE DATABASE shop")
        pg.psql("SELECT count(*) FROM items", db="shop")  # "0"
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

USER = "relkit-pg"


def pg_bindir() -> Path:
    """The newest installed PostgreSQL server's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[4]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError("PostgreSQL server not installed (apt-get install -y postgresql)")


def available() -> str | None:
    """Why a server cannot be started here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (to create and switch to the server's user)"
    try:
        pg_bindir()
    except RuntimeError as exc:
        return str(exc)
    if not shutil.which("psql") or not shutil.which("pg_dump"):
        return "psql/pg_dump not installed (apt-get install -y postgresql-client)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_user() -> None:
    """Create the server's system user once; concurrent test processes (pytest-xdist workers)
    take turns, as two useradd at once fail on /etc/passwd's lock."""
    with Path("/run/relkit-pg-useradd.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if subprocess.run(["id", "-u", USER], capture_output=True, check=False).returncode != 0:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                check=True,
                capture_output=True,
            )


class PgServer:
    """One PostgreSQL server on 127.0.0.1:<port>; superuser ``postgres``."""

    def __init__(self, password: str | None = None, port: int | None = None) -> None:
        self.password = password
        self.port = port or free_port()
        self._free_port = port is None
        self.bindir = pg_bindir()
        self.workdir: Path | None = None

    @property
    def datadir(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "data"

    def _as_user(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", USER, "--", *argv], check=True, capture_output=True, text=True, cwd="/"
        )

    def start(self) -> Self:
        """initdb and start; raises with the server log when it does not come up."""
        _ensure_user()
        self.workdir = Path(tempfile.mkdtemp(prefix="relkit-pg-"))
        shutil.chown(self.workdir, USER, USER)
        self.workdir.chmod(0o700)
        init = [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres", "-E", "UTF8"]
        if self.password:
            pwfile = self.workdir / "pw"
            pwfile.write_text(self.password + "\n")
            shutil.chown(pwfile, USER, USER)
            init += ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        else:
            init += ["-A", "trust"]
        self._as_user(*init)
        return self.resume()

    def resume(self) -> Self:
        """Start the server on its data directory (after :meth:`start`, or again after :meth:`halt`)."""
        assert self.workdir is not None
        log = self.workdir / "server.log"
        for attempt in range(1, 6):
            options = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
            log.unlink(missing_ok=True)
            try:
                self._as_user(
                    str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-o", options, "-l", str(log),
                    "-w", "start",
                )  # fmt: skip
                break
            except subprocess.CalledProcessError as exc:
                text = log.read_text() if log.exists() else ""
                if self._free_port and attempt < 5 and "Address already in use" in text:
                    self.port = free_port()  # another process took the free port meanwhile
                    continue
                self.stop()
                raise RuntimeError(f"postgres did not start: {exc.stderr}\n{text}") from None
        return self

    def halt(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data (``mode``: pg_ctl's smart, fast or immediate)."""
        if self.workdir is not None and (self.datadir / "postmaster.pid").exists():
            subprocess.run(
                ["runuser", "-u", USER, "--", str(self.bindir / "pg_ctl"), "-D", str(self.datadir),
                 "-m", mode, "-w", "stop"],
                check=False,
                capture_output=True,
                cwd="/",
            )  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        if self.workdir is None:
            return
        self.halt()
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

    def url(self, db: str = "postgres", user: str = "postgres") -> str:
        """A libpq URL for ``user`` on ``db`` over TCP (no password in it)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def env(self, db: str = "postgres") -> dict[str, str]:
        """libpq settings for a TCP connection as ``postgres`` to ``db``."""
        env = dict(
            os.environ,
            PGHOST="127.0.0.1",
            PGPORT=str(self.port),
            PGUSER="postgres",
            PGDATABASE=db,
        )
        env.pop("PGPASSFILE", None)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def psql(self, sql: str, db: str = "postgres") -> str:
        """Run SQL over TCP; return the unaligned, tuples-only output."""
        proc = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env=self.env(db),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
