"""relkit's data snapshots on a host: take, find, verify, restore and prune (stdlib only).

A snapshot is ``<deploy_path>/snapshots/<id>/`` holding one file per data item and a
``manifest.json`` (id, kind, from, to, taken_at and per item: kind, file, sha256, size,
duration). It is written into ``snapshots/.partial-<id>`` and renamed into place complete,
so a snapshot directory that exists is always whole. Item kinds:

- ``sqlite``: a consistent copy made with SQLite's online backup API (writers may keep
  going); restored with the same API into the live file.
- ``postgresql``: ``pg_dump -Fc``; restored with ``pg_restore --clean --if-exists`` piped
  into ``psql --single-transaction`` after dropping the tables, views, sequences and schemas
  created since the snapshot, so the database ends up as it was, all in one transaction.
- ``directory``: a tar of the directory; restored beside it and swapped in by rename.

An item that did not exist when the snapshot was taken is recorded ``absent``; restoring it
removes the item. Passwords travel in the environment of pg_dump/psql, never in argv.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.request

from ansible.module_utils.relkit_rules import (
    PG_DEFAULTS,
    PG_HOSTS,
    SNAPSHOTS,
    STATE,
    atomic_write,
    command_env,
    is_safe_name,
    sha256_file,
)

MANIFEST = "manifest.json"
PARTIAL = ".partial-"
SUFFIX = {"sqlite": ".sqlite", "postgresql": ".pgdump", "directory": ".tar"}
# User relations (tables, partitioned tables, views, materialized views, sequences, foreign
# tables) that are not part of an extension and not owned by another relation.
PG_RELATIONS = r"""
SELECT c.relkind::text || ' ' || format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
ORDER BY 1
"""
PG_SCHEMAS = r"""
SELECT format('%I', n.nspname) FROM pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND n.nspname NOT LIKE 'pg\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                  AND d.objid = n.oid AND d.deptype = 'e')
ORDER BY 1
"""
PG_DROP = {
    "r": "TABLE",
    "p": "TABLE",
    "f": "FOREIGN TABLE",
    "v": "VIEW",
    "m": "MATERIALIZED VIEW",
    "S": "SEQUENCE",
}


class SnapshotError(Exception):
    """A snapshot or restore that failed; the message says what and where."""


def now_iso():
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")


def normalize(item):
    """An item with its defaults filled in (relkit.yml read without relkit's models has none)."""
    item = dict(item)
    if item.get("kind") not in SUFFIX:
        raise SnapshotError("data item %r: unknown kind %r" % (item.get("name"), item.get("kind")))
    if not is_safe_name(item.get("name")):
        raise SnapshotError("data item %r: unsafe name (it names the snapshot file)" % (item.get("name"),))
    if item["kind"] == "postgresql":
        for key, value in PG_DEFAULTS.items():
            if not item.get(key):
                item[key] = value
        item.setdefault("hosts", PG_HOSTS)
    item["hosts"] = item.get("hosts") or "all"
    item["timeout"] = float(item.get("timeout") or 600)
    return item


def applicable(items, first_host):
    """The items this host snapshots: ``hosts: all`` ones, and ``hosts: first`` ones on the first host."""
    items = [normalize(i) for i in items or []]
    return [i for i in items if i["hosts"] == "all" or first_host]


def item_path(root, item):
    path = item.get("path") or ""
    return path if os.path.isabs(path) else os.path.join(root, path)


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


# -- sqlite ------------------------------------------------------------------------------


def _sqlite_uri(path, mode):
    return "file:%s?mode=%s" % (urllib.request.pathname2url(os.path.abspath(path)), mode)


def dump_sqlite(item, source, out):
    """Online backup of ``source`` into ``out``; returns extra manifest fields (None when absent)."""
    if not os.path.exists(source):
        return None
    try:
        src = sqlite3.connect(_sqlite_uri(source, "rw"), uri=True, timeout=item["timeout"])
        try:
            dst = sqlite3.connect(out)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # the copy stands alone: no -wal beside it
                version = dst.execute("PRAGMA user_version").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise SnapshotError("sqlite backup of %s failed: %s" % (source, exc))
    return {"user_version": version}


def restore_sqlite(item, target, snapshot_file):
    """Write the snapshot into the live database with the backup API (or remove it when absent)."""
    if snapshot_file is None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            remove(target + suffix)
        return
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    try:
        src = sqlite3.connect(_sqlite_uri(snapshot_file, "ro"), uri=True)
        try:
            dst = sqlite3.connect(target, timeout=item["timeout"])
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.DatabaseError:
        # The live file is not a usable database: replace it whole.
        tmp = "%s.relkit-restore-%d" % (target, os.getpid())
        shutil.copyfile(snapshot_file, tmp)
        fsync_path(tmp)
        for suffix in ("-wal", "-shm", "-journal"):
            remove(target + suffix)
        os.rename(tmp, target)


# -- directory ---------------------------------------------------------------------------


def _recover_swap(target):
    """Finish a directory swap killed between its two renames (target gone, old copy beside it)."""
    if os.path.lexists(target):
        return
    parent, base = os.path.split(target)
    if not os.path.isdir(parent):
        return
    for name in sorted(os.listdir(parent)):
        if name.startswith(base + ".relkit-old-"):
            os.rename(os.path.join(parent, name), target)
            return


def dump_directory(item, source, out):
    _recover_swap(source)
    if not os.path.lexists(source):
        return None
    if not os.path.isdir(source):
        raise SnapshotError("%s is not a directory" % source)
    try:
        with tarfile.open(out, "w") as archive:
            for name in sorted(os.listdir(source)):
                archive.add(os.path.join(source, name), arcname=name)
    except (OSError, tarfile.TarError) as exc:
        raise SnapshotError("tar of %s failed: %s" % (source, exc))
    return {}


def _members(archive):
    """The archive's members, refusing any that would land outside the directory."""
    members, links = [], set()
    for member in archive.getmembers():
        name = os.path.normpath(member.name)
        parts = name.split(os.sep)
        if (
            os.path.isabs(member.name)
            or parts[0] == ".."
            or any(os.sep.join(parts[:i]) in links for i in range(1, len(parts)))
        ):
            raise SnapshotError("snapshot member %r would land outside the directory" % member.name)
        if member.issym():
            links.add(name)
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk() or member.isfifo()):
            continue
        members.append(member)
    return members


def restore_directory(item, target, snapshot_file):
    """Unpack beside the live directory, then swap it in with renames (old one removed last)."""
    target = os.path.realpath(target)
    _recover_swap(target)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    fresh = "%s.relkit-restore-%d" % (target, os.getpid())
    old = "%s.relkit-old-%d" % (target, os.getpid())
    remove(fresh)
    try:
        if snapshot_file is not None:
            os.mkdir(fresh, 0o755)
            with tarfile.open(snapshot_file) as archive:
                members = _members(archive)
                if "filter" in tarfile.TarFile.extractall.__code__.co_varnames:
                    archive.extractall(fresh, members=members, filter="fully_trusted")
                else:
                    archive.extractall(fresh, members=members)
        if os.path.lexists(target):
            os.rename(target, old)
        if snapshot_file is not None:
            os.rename(fresh, target)
        fsync_path(parent)
        remove(old)
    except (OSError, tarfile.TarError) as exc:
        remove(fresh)
        raise SnapshotError("restoring directory %s failed: %s" % (target, exc))


# -- postgresql ----------------------------------------------------------------------------


def pg_env(item, password):
    """libpq settings in the environment: nothing (least of all the password) on a command line."""
    env = command_env(
        os.environ,
        PGHOST=str(item["host"]),
        PGPORT=str(item["port"]),
        PGUSER=str(item["user"]),
        PGDATABASE=str(item["database"]),
        PGCONNECT_TIMEOUT="10",
        PGAPPNAME="relkit",
    )
    env.pop("PGPASSWORD", None)
    if password:
        env["PGPASSWORD"] = password
    return env


def _pg_run(args, item, password, stdin=None):
    try:
        proc = subprocess.run(
            args,
            env=pg_env(item, password),
            input=stdin,
            capture_output=True,
            timeout=item["timeout"],
            check=False,
        )
    except FileNotFoundError:
        raise SnapshotError("%s is not installed on this host (install postgresql-client)" % args[0])
    except subprocess.TimeoutExpired:
        raise SnapshotError("%s timed out after %ss" % (args[0], item["timeout"]))
    if proc.returncode != 0:
        raise SnapshotError(
            "%s of database %s failed (exit %d): %s"
            % (
                args[0],
                item["database"],
                proc.returncode,
                proc.stderr.decode("utf-8", "replace").strip()[-800:],
            )
        )
    return proc.stdout.decode("utf-8", "replace")


def pg_query(item, password, sql):
    out = _pg_run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql], item, password)
    return [line for line in out.splitlines() if line.strip()]


def dump_postgresql(item, password, out):
    relations = pg_query(item, password, PG_RELATIONS)
    schemas = pg_query(item, password, PG_SCHEMAS)
    _pg_run(["pg_dump", "-Fc", "-w", "-f", out], item, password)
    return {"relations": relations, "schemas": schemas}


def restore_postgresql(item, password, snapshot_file, record):
    """Drop what the snapshot lacks, then its own objects, and recreate them: one transaction."""
    known_relations = set(record.get("relations") or [])
    known_schemas = set(record.get("schemas") or [])
    drops = []
    for line in pg_query(item, password, PG_RELATIONS):
        if line not in known_relations:
            kind, name = line.split(" ", 1)
            drops.append("DROP %s IF EXISTS %s CASCADE;" % (PG_DROP[kind], name))
    for name in pg_query(item, password, PG_SCHEMAS):
        if name not in known_schemas:
            drops.append("DROP SCHEMA IF EXISTS %s CASCADE;" % name)
    env = pg_env(item, password)
    restore_err = _TempText()
    psql_err = _TempText()
    try:
        restore = subprocess.Popen(
            ["pg_restore", "--clean", "--if-exists", "-f", "-", snapshot_file],
            stdout=subprocess.PIPE,
            stderr=restore_err.handle,
            env=env,
        )
        psql = subprocess.Popen(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_err.handle,
            env=env,
        )
    except FileNotFoundError as exc:
        raise SnapshotError("%s is not installed on this host (install postgresql-client)" % exc.filename)
    timer = threading.Timer(item["timeout"], lambda: (restore.kill(), psql.kill()))
    timer.start()
    try:
        try:
            psql.stdin.write(("\n".join(drops) + "\n").encode())
            shutil.copyfileobj(restore.stdout, psql.stdin, 1 << 20)
            psql.stdin.close()
        except BrokenPipeError:
            pass
        restore.stdout.close()
        restore_rc, psql_rc = restore.wait(), psql.wait()
    finally:
        timer.cancel()
    if restore_rc != 0 or psql_rc != 0:
        raise SnapshotError(
            "restoring database %s failed (pg_restore exit %s, psql exit %s): %s"
            % (item["database"], restore_rc, psql_rc, (restore_err.text() + psql_err.text()).strip()[-800:])
        )
    return {"dropped": len(drops)}


class _TempText:
    """A temporary file for a child's stderr (a pipe could fill up and stall it)."""

    def __init__(self):
        self.handle = tempfile.TemporaryFile()

    def text(self):
        self.handle.seek(0)
        data = self.handle.read().decode("utf-8", "replace")
        self.handle.close()
        return data


# -- snapshots -----------------------------------------------------------------------------


def snapshots_dir(root):
    return os.path.join(root, SNAPSHOTS)


def _new_id(base, label):
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    sid = "%s-%s" % (stamp, label)
    n = 1
    while os.path.lexists(os.path.join(base, sid)):
        n += 1
        sid = "%s-%s.%d" % (stamp, label, n)
    return sid


def take(root, items, secrets, meta):
    """Snapshot ``items`` into snapshots/<id>/ (complete before visible); return its manifest.

    ``meta``: kind (deploy / at-rollback), from, to, run_id, by.
    """
    base = snapshots_dir(root)
    os.makedirs(base, exist_ok=True)
    for name in os.listdir(base):
        if name.startswith(PARTIAL):
            remove(os.path.join(base, name))
    if meta["kind"] == "at-rollback":
        label = "at-rollback-%s" % meta["from"]
    else:
        label = "%s-to-%s" % (meta["from"], meta["to"])
    sid = _new_id(base, label)
    tmp = os.path.join(base, PARTIAL + sid)
    os.mkdir(tmp, 0o700)
    try:
        records = [_dump(root, item, secrets or {}, tmp) for item in items]
        manifest = dict(meta, id=sid, taken_at=now_iso(), host=socket.gethostname(), items=records)
        with open(os.path.join(tmp, MANIFEST), "w") as handle:
            json.dump(manifest, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        fsync_path(tmp)
        os.rename(tmp, os.path.join(base, sid))
        fsync_path(base)
    except BaseException:
        remove(tmp)
        raise
    return manifest


def _dump(root, item, secrets, dest):
    started = time.monotonic()
    kind, name = item["kind"], item["name"]
    out = os.path.join(dest, name + SUFFIX[kind])
    try:
        if kind == "sqlite":
            extra = dump_sqlite(item, item_path(root, item), out)
        elif kind == "directory":
            extra = dump_directory(item, item_path(root, item), out)
        else:
            extra = dump_postgresql(item, secrets.get(name), out)
    except OSError as exc:
        raise SnapshotError("snapshot of %s failed: %s" % (name, exc))
    record = {"name": name, "kind": kind, "duration": round(time.monotonic() - started, 3)}
    if kind == "postgresql":
        record["database"] = item["database"]
    else:
        record["path"] = item["path"]
    if extra is None:
        record.update(absent=True, file=None, sha256=None, size=0)
    else:
        os.chmod(out, 0o600)
        record.update(extra, absent=False, file=os.path.basename(out), sha256=sha256_file(out))
        record["size"] = os.path.getsize(out)
    return record


def read_manifest(root, sid):
    try:
        with open(os.path.join(snapshots_dir(root), sid, MANIFEST)) as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("id") == sid else None


def list_snapshots(root):
    """Complete snapshots on this host, oldest first."""
    base = snapshots_dir(root)
    if not os.path.isdir(base):
        return []
    found = [read_manifest(root, name) for name in os.listdir(base) if not name.startswith(".")]
    return sorted((m for m in found if m), key=lambda m: (m.get("taken_at", ""), m["id"]))


def find_for_rollback(root, target, names):
    """The snapshot holding the data as ``target`` left it: the newest whose ``from`` is ``target``.

    Normally that is the one taken when the live release switched in from ``target``; after a
    rollback it may be the at-rollback snapshot of ``target``. Raises when none holds every name.
    """
    candidates = [m for m in list_snapshots(root) if m.get("from") == target]
    if not candidates:
        raise SnapshotError(
            "no snapshot of the data as %s left it on this host (snapshots/ has %s)"
            % (target, ", ".join(m["id"] for m in list_snapshots(root)) or "none")
        )
    newest = candidates[-1]
    have = {r["name"] for r in newest.get("items", [])}
    missing = [n for n in names if n not in have]
    if missing:
        raise SnapshotError("snapshot %s has no %s" % (newest["id"], ", ".join(missing)))
    return newest


def verify(root, manifest, names):
    """Check the sha256 of every file of ``names`` in the snapshot before anything is changed."""
    for record in manifest.get("items", []):
        if record["name"] not in names or record.get("absent"):
            continue
        path = os.path.join(snapshots_dir(root), manifest["id"], record["file"])
        try:
            actual = sha256_file(path)
        except OSError as exc:
            raise SnapshotError("snapshot %s: %s unreadable: %s" % (manifest["id"], record["file"], exc))
        if actual != record["sha256"]:
            raise SnapshotError(
                "snapshot %s: %s has sha256 %s, manifest says %s"
                % (manifest["id"], record["file"], actual, record["sha256"])
            )


def restore(root, manifest, items, secrets):
    """Restore ``items`` from the snapshot; return what was restored with durations."""
    by_name = {r["name"]: r for r in manifest.get("items", [])}
    done = []
    for item in items:
        record = by_name[item["name"]]
        started = time.monotonic()
        snapshot_file = None
        if not record.get("absent"):
            snapshot_file = os.path.join(snapshots_dir(root), manifest["id"], record["file"])
        try:
            if item["kind"] == "sqlite":
                restore_sqlite(item, item_path(root, item), snapshot_file)
            elif item["kind"] == "directory":
                restore_directory(item, item_path(root, item), snapshot_file)
            elif snapshot_file is None:
                raise SnapshotError("snapshot %s has no dump of database %s" % (manifest["id"], item["name"]))
            else:
                restore_postgresql(item, (secrets or {}).get(item["name"]), snapshot_file, record)
        except OSError as exc:
            raise SnapshotError("restoring %s failed: %s" % (item["name"], exc))
        done.append(
            {"name": item["name"], "kind": item["kind"], "duration": round(time.monotonic() - started, 3)}
        )
    return done


def prune(root, kept_releases, protect):
    """Remove snapshots no kept release needs: one is kept while its ``from`` or ``to`` is kept.

    A snapshot from A to B is what a rollback of B to A restores, so it lives as long as A
    or B does; ``protect`` ids (those taken by this call) are always kept.
    """
    kept = set(kept_releases)
    removed = []
    for manifest in list_snapshots(root):
        if manifest["id"] in protect or manifest.get("from") in kept or manifest.get("to") in kept:
            continue
        remove(os.path.join(snapshots_dir(root), manifest["id"]))
        removed.append(manifest["id"])
    return removed


def _pending_path(root):
    return os.path.join(root, STATE, "pending-data.json")


def mark_pending(root, record):
    """Note the snapshot a deploy/rollback in progress relies on, until its switch is done.

    A run killed between its snapshot and its switch is re-run: it then reuses that snapshot
    (taken before the migration, or before the restore) instead of taking a new one of data
    the killed run had already changed.
    """
    atomic_write(_pending_path(root), json.dumps(record, sort_keys=True))


def clear_pending(root):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_pending_path(root))


def pending_snapshot(root, action, live, version, key, items):
    """The snapshot a killed run of the same action (same from and to) took, when it covers ``items``."""
    try:
        with open(_pending_path(root)) as handle:
            pending = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(pending, dict) or (pending.get("action"), pending.get("from"), pending.get("to")) != (
        action,
        live,
        version,
    ):
        return None
    manifest = read_manifest(root, str(pending.get(key) or ""))
    if not manifest or manifest.get("from") != live or manifest.get("to") != version:
        return None
    if not {i["name"] for i in items} <= {r["name"] for r in manifest.get("items", [])}:
        return None
    return dict(manifest, reused=True)


def summary(manifest):
    """What the controller records of a snapshot (no relation lists)."""
    keep = (
        "name",
        "kind",
        "file",
        "sha256",
        "size",
        "duration",
        "absent",
        "path",
        "database",
        "user_version",
    )
    return {
        "id": manifest["id"],
        "reused": bool(manifest.get("reused")),
        "kind": manifest["kind"],
        "from": manifest.get("from"),
        "to": manifest.get("to"),
        "taken_at": manifest.get("taken_at"),
        "items": [{k: r[k] for k in keep if k in r} for r in manifest.get("items", [])],
    }
