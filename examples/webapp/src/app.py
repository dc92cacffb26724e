#!/usr/bin/env python3
"""webapp: a small notes web app, deployed by relkit.

The release it belongs to (VERSION, release.json, migrations/) is read from the directory this
file really lives in, so running it through the ``current`` symlink uses that release's files.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent
# Import from the resolved release directory, never through the `current` symlink, so a
# later symlink switch cannot mix two releases' modules in one process.
sys.path.insert(0, str(ROOT))

from webapp import pidfile, release, store, web  # noqa: E402


def log(message: str) -> None:
    """Write a line to stderr (the deployer sends stderr to the app's log file)."""
    print(f"webapp[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve HTTP in the foreground until SIGTERM/SIGINT."""
    rel = release.load(ROOT)
    pid_path: Path | None = args.pidfile
    if pid_path and (other := pidfile.running(pid_path)):
        log(f"already running as pid {other} (pidfile {pid_path})")
        return 1
    try:
        server = web.Server((args.bind, args.port), rel, args.db)
    except OSError as exc:
        log(f"cannot listen on {args.bind}:{args.port}: {exc}")
        return 1

    def terminate(signum: int, _frame: FrameType | None) -> None:
        log(f"got {signal.Signals(signum).name}, shutting down")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    if pid_path:
        pidfile.write(pid_path, os.getpid())
    log(f"version {rel.version} serving on http://{args.bind}:{args.port}/ db={args.db}")
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
        if pid_path:
            pidfile.remove(pid_path, os.getpid())
    log("stopped")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop the server recorded in the pidfile and wait until it has exited."""
    ok, message = pidfile.stop(args.pidfile, args.timeout)
    print(message)
    return 0 if ok else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the database to this release's schema (a no-op when it is already there)."""
    rel = release.load(ROOT)
    args.db.parent.mkdir(parents=True, exist_ok=True)
    try:
        with store.connect(args.db, create=True) as con:
            before = store.schema_version(con)
            applied = store.migrate(con, rel.migrations)
            after = store.schema_version(con)
    except sqlite3.Error as exc:
        print(f"migration failed: {exc}", file=sys.stderr)
        return 1
    if applied:
        names = ", ".join(m.name for m in applied)
        print(f"schema {before} -> {after} (applied {names})")
    elif after > rel.schema:
        print(f"schema {after} is newer than this release's {rel.schema}; nothing to do")
    else:
        print(f"schema {after}: up to date")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line."""
    rel_version = (ROOT / "VERSION").read_text(encoding="utf-8").strip()
    p = argparse.ArgumentParser(prog="app.py", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=rel_version)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve HTTP in the foreground until SIGTERM")
    serve.add_argument("--bind", default="127.0.0.1", help="address (default: %(default)s)")
    serve.add_argument("--port", type=int, default=18081, help="port (default: %(default)s)")
    serve.add_argument("--db", type=Path, required=True, help="SQLite database file")
    serve.add_argument("--pidfile", type=Path, help="write the pid here; removed on exit")
    serve.set_defaults(func=cmd_serve)

    stop = sub.add_parser("stop", help="SIGTERM the server in --pidfile and wait for it to exit")
    stop.add_argument("--pidfile", type=Path, required=True, help="pidfile written by serve")
    stop.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="seconds to wait before SIGKILL (default: %(default)s)",
    )
    stop.set_defaults(func=cmd_stop)

    migrate = sub.add_parser("migrate", help="migrate the database to this release's schema")
    migrate.add_argument("--db", type=Path, required=True, help="SQLite database file")
    migrate.set_defaults(func=cmd_migrate)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line."""
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
