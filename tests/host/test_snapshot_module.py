"""The host-side data snapshot functions, run directly on temporary deploy paths.

``playbooks/module_utils/relkit_snapshots.py`` (take, find, verify, restore, prune) and the
data steps of ``relkit_release`` activate/rollback: snapshot before migrate, migrate with the
new release's code, restore after a failed migration, at-rollback snapshot then restore.
Real SQLite files, real directories, real service commands run by /bin/sh.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.hostmodules import library, module_utils

release = library("relkit_release")
snaps = module_utils()["relkit_snapshots"]
assert isinstance(snaps, ModuleType)

DB = "shared/data/app.db"
SQLITE_ITEM = {"name": "appdb", "kind": "sqlite", "path": DB}
UPLOADS_ITEM = {"name": "uploads", "kind": "directory", "path": "shared/uploads"}
PY = sys.executable

# Each release's migrate.py: creates notes, brings PRAGMA user_version to the release's major
# version (2.x adds notes.author), and records which release's code ran it.
MIGRATE = """
import os, sqlite3, sys
release = os.environ["RELKIT_RELEASE"]
version = open(os.path.join(release, "VERSION")).read().strip()
db = sqlite3.connect("shared/data/app.db", isolation_level=None)
db.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)")
db.execute("CREATE TABLE IF NOT EXISTS ran (version TEXT)")
db.execute("INSERT INTO ran VALUES (?)", (version,))
major = int(version.split(".")[0])
if major >= 2 and db.execute("PRAGMA user_version").fetchone()[0] < 2:
    db.execute("ALTER TABLE notes ADD COLUMN author TEXT")
if major == 9:
    db.execute("INSERT INTO notes (body) VALUES ('half-migrated')")
    sys.exit("migration 9 broke")
db.execute("PRAGMA user_version = %d" % major)
"""


def make_tar(path: Path, files: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def params(root: Path, **extra: object) -> dict[str, object]:
    events = root / "events.log"
    base = {
        "deploy_path": str(root),
        "version": None,
        "sha256": None,
        "upload": None,
        "shared": ["data"],
        "start": f'echo "start $RELKIT_VERSION" >> {events}',
        "stop": f'echo "stop $RELKIT_VERSION" >> {events}',
        "service_timeout": 20,
        "keep_releases": 5,
        "run_id": "r1",
        "by": "tester",
        "smoke": None,
        "migrate": f'{PY} "$RELKIT_RELEASE/migrate.py"',
        "migrate_hosts": "all",
        "data": [SQLITE_ITEM],
        "data_secrets": {},
        "first_host": True,
        "restore_data": True,
    }
    base.update(extra)
    return base


def install(root: Path, version: str) -> None:
    upload = root.parent / f"{version}.tar.gz"
    sha = make_tar(upload, {"VERSION": version.encode(), "migrate.py": MIGRATE.encode()})
    release.install(params(root, version=version, sha256=sha, upload=str(upload)))


def deploy(root: Path, version: str, **extra: object) -> dict:
    install(root, version)
    _, info = release.activate(params(root, version=version, **extra), "deploy")
    return info


def rollback(root: Path, **extra: object) -> dict:
    _, info = release.activate(params(root, **extra), "rollback")
    return info


def db(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(root / DB, isolation_level=None)


def notes(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return [r[0] for r in con.execute("SELECT body FROM notes ORDER BY id")]
    finally:
        con.close()


def schema(path: Path) -> tuple[int, list[str]]:
    con = sqlite3.connect(path)
    try:
        columns = [r[1] for r in con.execute("PRAGMA table_info(notes)")]
        return con.execute("PRAGMA user_version").fetchone()[0], columns
    finally:
        con.close()


def add_note(root: Path, body: str) -> None:
    con = db(root)
    con.execute("INSERT INTO notes (body) VALUES (?)", (body,))
    con.close()


def events(root: Path) -> list[str]:
    path = root / "events.log"
    return path.read_text().splitlines() if path.exists() else []


def listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def snapshot_file(root: Path, sid: str, name: str) -> Path:
    return root / "snapshots" / sid / name


# -- snapshot functions -------------------------------------------------------------------


def test_sqlite_snapshot_is_a_consistent_online_copy(tmp_path: Path) -> None:
    root = tmp_path / "app"
    (root / "shared" / "data").mkdir(parents=True)
    live = sqlite3.connect(root / DB, isolation_level=None)
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    live.executemany("INSERT INTO notes (body) VALUES (?)", [(f"n{i}",) for i in range(500)])
    writer = sqlite3.connect(root / DB, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a writer mid-transaction while the snapshot runs
    writer.execute("INSERT INTO notes (body) VALUES ('uncommitted')")

    meta = {"kind": "deploy", "from": "1.0.0", "to": "2.0.0", "run_id": "r1", "by": "t"}
    manifest = snaps.take(str(root), snaps.applicable([SQLITE_ITEM], True), {}, meta)
    writer.execute("COMMIT")

    assert re.fullmatch(r"\d{8}T\d{6}-1\.0\.0-to-2\.0\.0", manifest["id"])
    copy = snapshot_file(root, manifest["id"], "appdb.sqlite")
    assert len(notes(copy)) == 500 and "uncommitted" not in notes(copy)
    assert len(notes(root / DB)) == 501
    [item] = manifest["items"]
    assert item["kind"] == "sqlite" and item["file"] == "appdb.sqlite" and item["size"] == copy.stat().st_size
    assert item["sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    assert item["duration"] >= 0
    assert not list(copy.parent.glob("*-wal")), "the copy stands alone"
    on_disk = json.loads((copy.parent / "manifest.json").read_text())
    assert on_disk["items"] == manifest["items"] and on_disk["from"] == "1.0.0" and on_disk["to"] == "2.0.0"
    assert oct(copy.parent.stat().st_mode & 0o777) == "0o700"
    live.close()
    writer.close()


def test_failed_snapshot_leaves_nothing_visible(tmp_path: Path) -> None:
    root = tmp_path / "app"
    (root / "shared" / "data").mkdir(parents=True)
    add = sqlite3.connect(root / DB)
    add.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    add.close()
    (root / "shared" / "uploads").write_text("a file where a directory should be")
    items = snaps.applicable([SQLITE_ITEM, UPLOADS_ITEM], True)
    meta = {"kind": "deploy", "from": "1.0.0", "to": "2.0.0", "run_id": "r1", "by": "t"}
    with pytest.raises(snaps.SnapshotError, match="not a directory"):
        snaps.take(str(root), items, {}, meta)
    assert listing(root / "snapshots") == [], "no partial and no incomplete snapshot"


def test_directory_snapshot_and_restore_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "app"
    uploads = root / "shared" / "uploads"
    (uploads / "sub").mkdir(parents=True)
    (uploads / "a.txt").write_text("alpha")
    (uploads / "sub" / "b.bin").write_bytes(bytes(range(256)))
    (uploads / "link").symlink_to("a.txt")
    meta = {"kind": "deploy", "from": "1.0.0", "to": "2.0.0", "run_id": "r1", "by": "t"}
    items = snaps.applicable([UPLOADS_ITEM], True)
    manifest = snaps.take(str(root), items, {}, meta)
    assert manifest["items"][0]["file"] == "uploads.tar"

    (uploads / "a.txt").write_text("changed")
    (uploads / "sub" / "b.bin").unlink()
    (uploads / "new.txt").write_text("written after the snapshot")
    snaps.verify(str(root), manifest, ["uploads"])
    done = snaps.restore(str(root), manifest, items, {})

    assert [d["name"] for d in done] == ["uploads"]
    assert sorted(p.relative_to(uploads).as_posix() for p in uploads.rglob("*")) == [
        "a.txt",
        "link",
        "sub",
        "sub/b.bin",
    ]
    assert (uploads / "a.txt").read_text() == "alpha"
    assert (uploads / "sub" / "b.bin").read_bytes() == bytes(range(256))
    assert (uploads / "link").readlink() == Path("a.txt")
    assert not list((root / "shared").glob("uploads.relkit-*")), "no swap leftovers"


def test_absent_items_are_recorded_and_restored_as_absent(tmp_path: Path) -> None:
    root = tmp_path / "app"
    root.mkdir()
    meta = {"kind": "deploy", "from": "1.0.0", "to": "2.0.0", "run_id": "r1", "by": "t"}
    items = snaps.applicable([SQLITE_ITEM, UPLOADS_ITEM], True)
    manifest = snaps.take(str(root), items, {}, meta)
    assert [(i["name"], i["absent"], i["file"], i["size"]) for i in manifest["items"]] == [
        ("appdb", True, None, 0),
        ("uploads", True, None, 0),
    ]
    (root / "shared" / "uploads").mkdir(parents=True)
    (root / "shared" / "uploads" / "x").write_text("x")
    (root / "shared" / "data").mkdir(parents=True)
    sqlite3.connect(root / DB).close()
    snaps.restore(str(root), manifest, items, {})
    assert not (root / "shared" / "uploads").exists()
    assert not (root / DB).exists()


def test_verify_refuses_a_tampered_snapshot(tmp_path: Path) -> None:
    root = tmp_path / "app"
    deploy(root, "1.0.0")
    info = deploy(root, "2.0.0")
    sid = info["snapshot"]["id"]
    manifest = snaps.read_manifest(str(root), sid)
    snaps.verify(str(root), manifest, ["appdb"])
    with snapshot_file(root, sid, "appdb.sqlite").open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(snaps.SnapshotError, match="sha256"):
        snaps.verify(str(root), manifest, ["appdb"])
    # rollback checks before anything stops: nothing ran, nothing moved
    before = events(root)
    with pytest.raises(release.ReleaseError, match="nothing was changed"):
        rollback(root)
    assert events(root) == before
    assert (root / "current").readlink() == Path("releases/2.0.0")


def test_find_for_rollback_takes_the_newest_from_the_target(tmp_path: Path) -> None:
    root = tmp_path / "app"
    base = root / "snapshots"
    for sid, frm, to, at in [
        ("a", "1.0.0", "2.0.0", "2026-01-01T00:00:00"),
        ("b", "2.0.0", "3.0.0", "2026-01-02T00:00:00"),
        ("c", "1.0.0", "2.0.0", "2026-01-03T00:00:00"),
    ]:
        (base / sid).mkdir(parents=True)
        manifest = {"id": sid, "kind": "deploy", "from": frm, "to": to, "taken_at": at}
        manifest["items"] = [{"name": "appdb"}]
        (base / sid / "manifest.json").write_text(json.dumps(manifest))
    (base / ".partial-d").mkdir()  # never a candidate
    assert snaps.find_for_rollback(str(root), "1.0.0", ["appdb"])["id"] == "c"
    assert snaps.find_for_rollback(str(root), "2.0.0", ["appdb"])["id"] == "b"
    with pytest.raises(snaps.SnapshotError, match=r"no snapshot of the data as 0\.9\.0 left it"):
        snaps.find_for_rollback(str(root), "0.9.0", ["appdb"])
    with pytest.raises(snaps.SnapshotError, match="has no uploads"):
        snaps.find_for_rollback(str(root), "1.0.0", ["appdb", "uploads"])


def test_prune_keeps_what_kept_releases_need(tmp_path: Path) -> None:
    root = tmp_path / "app"
    base = root / "snapshots"
    for i, (frm, to) in enumerate([("1", "2"), ("2", "3"), ("3", "4"), ("4", "3")]):
        sid = f"s{i}"
        (base / sid).mkdir(parents=True)
        manifest = {"id": sid, "from": frm, "to": to, "taken_at": f"2026-01-0{i + 1}", "items": []}
        (base / sid / "manifest.json").write_text(json.dumps(manifest))
    (base / "foreign").mkdir()  # not ours: left alone
    assert snaps.prune(str(root), ["3", "4"], set()) == ["s0"]
    assert snaps.prune(str(root), ["4"], {"s1"}) == []
    assert snaps.prune(str(root), ["9"], set()) == ["s1", "s2", "s3"]
    assert listing(base) == ["foreign"]


def test_hosts_first_items_only_on_the_first_host() -> None:
    pg = {"name": "pg", "kind": "postgresql", "database": "app"}
    assert [i["name"] for i in snaps.applicable([SQLITE_ITEM, pg], True)] == ["appdb", "pg"]
    assert [i["name"] for i in snaps.applicable([SQLITE_ITEM, pg], False)] == ["appdb"]
    filled = snaps.applicable([pg], True)[0]
    assert (filled["host"], filled["port"], filled["user"], filled["hosts"]) == (
        "127.0.0.1",
        5432,
        "postgres",
        "first",
    )


def test_pg_env_keeps_the_password_off_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "from-the-host")
    item = snaps.normalize({"name": "pg", "kind": "postgresql", "database": "-app"})
    env = snaps.pg_env(item, "s3cret")
    assert env["PGPASSWORD"] == "s3cret" and env["PGDATABASE"] == "-app"
    assert "PGPASSWORD" not in snaps.pg_env(item, None), "never a password the controller did not send"


# -- deploy and rollback with data (relkit_release activate) ----------------------------


def test_deploy_snapshots_before_migrating_with_the_new_code(tmp_path: Path) -> None:
    root = tmp_path / "app"
    first = deploy(root, "1.0.0")
    assert "snapshot" not in first, "nothing live yet: nothing to snapshot"
    assert schema(root / DB) == (1, ["id", "body"])
    add_note(root, "before 2.0.0")

    info = deploy(root, "2.0.0")

    assert info["switched"] and (root / "current").readlink() == Path("releases/2.0.0")
    snap = info["snapshot"]
    assert (snap["kind"], snap["from"], snap["to"]) == ("deploy", "1.0.0", "2.0.0")
    assert snap["items"][0]["user_version"] == 1
    copy = snapshot_file(root, snap["id"], "appdb.sqlite")
    assert schema(copy) == (1, ["id", "body"]) and notes(copy) == ["before 2.0.0"]
    assert schema(root / DB) == (2, ["id", "body", "author"])
    con = db(root)
    assert [r[0] for r in con.execute("SELECT version FROM ran")] == ["1.0.0", "2.0.0"]
    con.close()
    assert events(root) == ["start 1.0.0", "stop 1.0.0", "start 2.0.0"]
    assert info["migrated"]["seconds"] >= 0
    history = [json.loads(x) for x in (root / ".relkit" / "history.jsonl").read_text().splitlines()]
    assert history[-1]["snapshot"] == snap["id"]


def test_failed_migration_restores_the_snapshot_and_restarts_the_old_release(tmp_path: Path) -> None:
    root = tmp_path / "app"
    deploy(root, "1.0.0")
    add_note(root, "kept")
    with pytest.raises(release.ReleaseError) as failure:
        deploy(root, "9.0.0")
    message = str(failure.value)
    assert "migrate" in message and "data restored from snapshot" in message and "1.0.0 restarted" in message
    assert (root / "current").readlink() == Path("releases/1.0.0")
    assert notes(root / DB) == ["kept"], "the half-applied migration is undone"
    assert failure.value.info["restored"]["id"] == failure.value.info["snapshot"]["id"]
    assert "switched" not in failure.value.info
    assert events(root)[-2:] == ["stop 1.0.0", "start 1.0.0"]


def test_migrate_hosts_first_runs_only_on_the_first_host(tmp_path: Path) -> None:
    root = tmp_path / "app"
    deploy(root, "1.0.0")
    info = deploy(root, "2.0.0", migrate_hosts="first", first_host=False)
    assert "migrated" not in info and schema(root / DB)[0] == 1


def test_rollback_saves_the_data_then_restores_the_snapshot(tmp_path: Path) -> None:
    root = tmp_path / "app"
    deploy(root, "1.0.0")
    add_note(root, "before")
    taken = deploy(root, "2.0.0")["snapshot"]["id"]
    add_note(root, "after deploy")

    info = rollback(root)

    assert info["switched"] and info["version"] == "1.0.0"
    assert (root / "current").readlink() == Path("releases/1.0.0")
    assert schema(root / DB) == (1, ["id", "body"]) and notes(root / DB) == ["before"]
    saved = info["at_rollback"]
    assert (saved["kind"], saved["from"], saved["to"]) == ("at-rollback", "2.0.0", "1.0.0")
    assert re.fullmatch(r"\d{8}T\d{6}-at-rollback-2\.0\.0", saved["id"])
    assert notes(snapshot_file(root, saved["id"], "appdb.sqlite")) == ["before", "after deploy"]
    assert info["restored"]["id"] == taken and info["restored"]["at_rollback"] == saved["id"]
    assert events(root)[-2:] == ["stop 2.0.0", "start 1.0.0"]
    history = json.loads((root / ".relkit" / "history.jsonl").read_text().splitlines()[-1])
    assert history["restored"] == taken

    # forward again with a rollback --to: the data as 2.0.0 left it comes back
    forward = rollback(root, version="2.0.0")
    assert forward["restored"]["id"] == saved["id"]
    assert notes(root / DB) == ["before", "after deploy"] and schema(root / DB)[0] == 2


def test_rollback_without_a_snapshot_changes_nothing_unless_code_only(tmp_path: Path) -> None:
    root = tmp_path / "app"
    deploy(root, "1.0.0", data=[])
    deploy(root, "2.0.0", data=[])  # data configured only later: no snapshot exists
    add_note(root, "live")
    before = events(root)
    with pytest.raises(release.ReleaseError, match="--code-only") as refused:
        rollback(root)
    assert "no snapshot of the data as 1.0.0 left it" in str(refused.value)
    assert events(root) == before, "nothing stopped"
    assert (root / "current").readlink() == Path("releases/2.0.0")

    info = rollback(root, restore_data=False)
    assert info["switched"] and "restored" not in info and "at_rollback" not in info
    assert notes(root / DB) == ["live"] and schema(root / DB)[0] == 2


def test_snapshot_retention_follows_the_kept_releases(tmp_path: Path) -> None:
    root = tmp_path / "app"
    ids = {}
    for version in ("1.0.0", "2.0.0", "3.0.0", "4.0.0"):
        info = deploy(root, version, keep_releases=2)
        if "snapshot" in info:
            ids[version] = info["snapshot"]["id"]
    # releases kept: 3.0.0 and 4.0.0 → snapshots 2-to-3 and 3-to-4 stay, 1-to-2 went with 1.0.0 and 2.0.0
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["3.0.0", "4.0.0"]
    assert listing(root / "snapshots") == sorted([ids["3.0.0"], ids["4.0.0"]])
    info = rollback(root, keep_releases=2)  # 4.0.0 → 3.0.0 restores 3-to-4 and keeps both
    assert info["restored"]["id"] == ids["4.0.0"]
    assert set(listing(root / "snapshots")) >= {ids["4.0.0"], info["at_rollback"]["id"]}


def test_password_env_without_a_value_is_refused_before_anything_stops(tmp_path: Path) -> None:
    root = tmp_path / "app"
    deploy(root, "1.0.0")
    pg = {"name": "pg", "kind": "postgresql", "database": "app", "password_env": "PG_PW"}
    install(root, "2.0.0")
    before = events(root)
    with pytest.raises(release.ReleaseError, match="PG_PW"):
        release.activate(params(root, version="2.0.0", data=[pg], data_secrets={}), "deploy")
    assert events(root) == before
    assert (root / "current").readlink() == Path("releases/1.0.0")


def test_deploy_killed_after_migrating_reuses_its_snapshot_when_rerun(tmp_path: Path) -> None:
    root = tmp_path / "app"
    deploy(root, "1.0.0")
    add_note(root, "before")
    install(root, "2.0.0")
    p = params(root, version="2.0.0")
    killed: dict = {}
    # the killed run got as far as snapshot + migrate, never to the switch
    release.snapshot_and_migrate(p, str(root), "1.0.0", "2.0.0", release.data_items(p), killed)
    assert schema(root / DB)[0] == 2 and (root / "current").readlink() == Path("releases/1.0.0")

    rerun = release.activate(p, "deploy")[1]

    assert rerun["snapshot"]["id"] == killed["snapshot"]["id"] and rerun["snapshot"]["reused"]
    assert listing(root / "snapshots") == [killed["snapshot"]["id"]], "no snapshot of migrated data"
    assert not (root / ".relkit" / "pending-data.json").exists(), "cleared once switched"
    back = rollback(root)
    assert back["restored"]["id"] == killed["snapshot"]["id"]
    assert schema(root / DB) == (1, ["id", "body"]) and notes(root / DB) == ["before"]


def test_rollback_killed_after_restoring_keeps_the_first_at_rollback_snapshot(tmp_path: Path) -> None:
    root = tmp_path / "app"
    deploy(root, "1.0.0")
    add_note(root, "before")
    deploy(root, "2.0.0")
    add_note(root, "after deploy")
    p = params(root)
    killed: dict = {}
    plan = release.rollback_plan(p, str(root), "2.0.0", "1.0.0")
    release.save_and_restore(p, str(root), "2.0.0", "1.0.0", plan, killed)  # killed before the switch
    assert notes(root / DB) == ["before"] and (root / "current").readlink() == Path("releases/2.0.0")

    rerun = rollback(root)

    first = killed["at_rollback"]["id"]
    assert rerun["at_rollback"]["id"] == first and rerun["at_rollback"]["reused"]
    assert notes(snapshot_file(root, first, "appdb.sqlite")) == ["before", "after deploy"]
    assert notes(root / DB) == ["before"] and (root / "current").readlink() == Path("releases/1.0.0")
    forward = rollback(root, version="2.0.0")  # the data as 2.0.0 left it: nothing was lost
    assert forward["restored"]["id"] == first and notes(root / DB) == ["before", "after deploy"]


def test_rollback_killed_after_its_switch_is_found_not_done_twice(tmp_path: Path) -> None:
    root = tmp_path / "app"
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        deploy(root, version)
        add_note(root, f"under {version}")
    killed = rollback(root, run_id="killed", by="alice")  # ran to its end on the host; the controller died
    assert killed["switched"] and killed["version"] == "2.0.0"
    stops = len(events(root))

    # the re-run: the ledger still says 3.0.0 is live here
    rerun = rollback(root, run_id="rerun", expected_live="3.0.0")

    assert "switched" not in rerun and (rerun["version"], rerun["previous"]) == ("2.0.0", "3.0.0")
    assert rerun["found_live"] == {"run_id": "killed", "by": "alice", "at": rerun["found_live"]["at"]}
    assert rerun["at_rollback"]["id"] == killed["at_rollback"]["id"] and rerun["at_rollback"]["reused"]
    assert rerun["restored"]["id"] == killed["restored"]["id"]
    assert (root / "current").readlink() == Path("releases/2.0.0"), "not rolled back a second time"
    assert notes(root / DB) == ["under 1.0.0", "under 2.0.0"] and len(events(root)) == stops
    # with the ledger up to date (or no ledger view at all) a rollback goes back further, as asked
    assert rollback(root, run_id="next", expected_live="2.0.0")["version"] == "1.0.0"
    assert notes(root / DB) == ["under 1.0.0"]


def test_rollback_found_done_restarts_a_service_that_fails_its_smoke_pass(tmp_path: Path) -> None:
    root = tmp_path / "app"
    deploy(root, "1.0.0")
    deploy(root, "2.0.0")
    rollback(root, run_id="killed")
    flag = root / "healthy"
    smoke = {"checks": [{"name": "up", "command": f"test -e {flag}"}], "timeout": 5, "interval": 0.05}
    start = f'echo "start $RELKIT_VERSION" >> {root / "events.log"}; touch {flag}'

    rerun = rollback(root, expected_live="2.0.0", smoke=smoke, start=start)

    assert rerun["restarted"] and [c["ok"] for c in rerun["checks"]] == [True]
    assert events(root)[-2:] == ["stop 1.0.0", "start 1.0.0"]
    assert (root / "current").readlink() == Path("releases/1.0.0")
