"""Data snapshots over real SSH: SQLite (the example web app), a directory, and PostgreSQL.

A deploy snapshots the data on each host before migrating and switching; a rollback saves
the data as it stands (at-rollback snapshot), restores the pre-deploy snapshot and switches
back. Everything here is real: sshd test hosts, the web app answering HTTP, SQLite files,
tar archives and a PostgreSQL 15 server started for the test.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.cli import main
from relkit.errors import PlayFailed
from relkit.project import Project
from tests import pgserver
from tests.sshhosts import SshHost
from tests.sshproject import APP_PORT, EXAMPLE, write_project
from tests.support.clirunner import payload

pytestmark = pytest.mark.integration

UPLOADS = {"name": "uploads", "kind": "directory", "path": "shared/uploads"}


def post_note(host: SshHost, body: str, author: str | None = None) -> None:
    payload = {"body": body, **({"author": author} if author else {})}
    request = urllib.request.Request(
        f"http://{host.address}:{APP_PORT}/notes",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 201


def get_notes(host: SshHost) -> list[dict]:
    with urllib.request.urlopen(f"http://{host.address}:{APP_PORT}/notes", timeout=5) as resp:
        return json.load(resp)


def sqlite_state(path: Path) -> tuple[int, list[str], list[str]]:
    """(user_version, notes columns, note bodies) of a SQLite file."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        columns = [r[1] for r in con.execute("PRAGMA table_info(notes)")]
        bodies = [r[0] for r in con.execute("SELECT body FROM notes ORDER BY id")]
    finally:
        con.close()
    return version, columns, bodies


def snapshot_dir(host: SshHost, app: str, sid: str) -> Path:
    return host.opt / app / "snapshots" / sid


def tar_names(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        return {
            m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }


def ledger(proj: Project, kind: str) -> list:
    return api.ledger_entries(proj, kind=kind)


def test_sqlite_and_directory_follow_deploy_and_rollback(
    ssh_pool_factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hosts = ssh_pool_factory(2).hosts
    base = yaml.safe_load((EXAMPLE / "relkit.yml").read_text())
    root = write_project(
        tmp_path / "project",
        {"staging": hosts},
        config={"data": [*base["data"], UPLOADS]},
    )
    proj = Project.load(root)
    releases = root / "releases"

    api.deploy(proj, releases / "1.0.0.yml", "staging", by="ops")
    assert not ledger(proj, "snapshot.taken"), "the first deploy has no data to save"
    for host in hosts:
        post_note(host, f"before-{host.name}")
        uploads = host.opt / "webapp" / "shared" / "uploads"
        uploads.mkdir(parents=True)
        (uploads / "a.txt").write_text("original")

    api.deploy(proj, releases / "2.0.0.yml", "staging", by="ops")

    taken = {e.host: e for e in ledger(proj, "snapshot.taken")}
    assert sorted(taken) == ["web1", "web2"]
    for host in hosts:
        data = taken[host.name].data
        assert (data["purpose"], data["from"], data["to"]) == ("deploy", "1.0.0", "2.0.0")
        assert re.fullmatch(r"\d{8}T\d{6}-1\.0\.0-to-2\.0\.0", data["id"])
        items = {i["name"]: i for i in data["items"]}
        assert sorted(items) == ["appdb", "uploads"]
        snap = snapshot_dir(host, "webapp", data["id"])
        for item in items.values():
            file = snap / item["file"]
            assert item["size"] == file.stat().st_size > 0 and item["duration"] >= 0
            assert item["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
        assert json.loads((snap / "manifest.json").read_text())["id"] == data["id"]
        assert sqlite_state(snap / "appdb.sqlite") == (1, ["id", "body", "created"], [f"before-{host.name}"])
        live_db = host.opt / "webapp" / "shared" / "data" / "app.db"
        migrated = sqlite_state(live_db)[:2]
        assert migrated == (2, ["id", "body", "created", "author"]), "migrated after the snapshot"
        post_note(host, f"after-{host.name}", author="alice")
        (host.opt / "webapp" / "shared" / "uploads" / "a.txt").write_text("edited after the deploy")
        (host.opt / "webapp" / "shared" / "uploads" / "b.txt").write_text("uploaded after the deploy")

    rollback = ["rollback", "--env", "staging", "--by", "dewi", "--reason", "authors broken"]
    assert main(["-C", str(root), *rollback]) == 0
    out = capsys.readouterr().out
    assert "data restored from snapshot" in out

    restored = {e.host: e.data for e in ledger(proj, "snapshot.restored")}
    saved = {e.host: e.data for e in ledger(proj, "snapshot.taken") if e.data["purpose"] == "at-rollback"}
    for host in hosts:
        assert [n["body"] for n in get_notes(host)] == [f"before-{host.name}"]
        live_db = host.opt / "webapp" / "shared" / "data" / "app.db"
        assert sqlite_state(live_db) == (1, ["id", "body", "created"], [f"before-{host.name}"])
        uploads = host.opt / "webapp" / "shared" / "uploads"
        assert sorted(p.name for p in uploads.iterdir()) == ["a.txt"]
        assert (uploads / "a.txt").read_text() == "original"
        assert restored[host.name]["id"] == taken[host.name].data["id"]
        assert restored[host.name]["at_rollback"] == saved[host.name]["id"]
        assert re.fullmatch(r"\d{8}T\d{6}-at-rollback-2\.0\.0", saved[host.name]["id"])
        # nothing written after the deploy is lost: it is all in the at-rollback snapshot
        snap = snapshot_dir(host, "webapp", saved[host.name]["id"])
        assert sqlite_state(snap / "appdb.sqlite") == (
            2,
            ["id", "body", "created", "author"],
            [f"before-{host.name}", f"after-{host.name}"],
        )
        files = tar_names(snap / "uploads.tar")
        assert files == {"a.txt": b"edited after the deploy", "b.txt": b"uploaded after the deploy"}

    assert main(["-C", str(root), "--output", "json", "snapshots", "--env", "staging"]) == 0
    listed = payload(capsys.readouterr().out)["snapshots"]
    assert sorted((s["host"], s["kind"], s["from_version"], s["to_version"]) for s in listed) == [
        ("web1", "at-rollback", "2.0.0", "1.0.0"),
        ("web1", "deploy", "1.0.0", "2.0.0"),
        ("web2", "at-rollback", "2.0.0", "1.0.0"),
        ("web2", "deploy", "1.0.0", "2.0.0"),
    ]
    assert all(s["size"] > 0 and s["state"] == "present" for s in listed)
    assert [len(s["restored_at"]) for s in listed if s["kind"] == "deploy"] == [1, 1]
    assert main(["-C", str(root), "snapshots", "--env", "staging", "--host", "web1"]) == 0
    table = capsys.readouterr().out
    assert "at-rollback" in table and "web2" not in table
    assert api.ledger_verify(proj).ok


def test_failed_deploy_restores_data_and_code_only_rollback_keeps_it(
    ssh_pool_factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [host] = ssh_pool_factory(1).hosts
    root = write_project(tmp_path / "project", {"staging": [host]})
    proj = Project.load(root)
    releases = root / "releases"
    live_db = host.opt / "webapp" / "shared" / "data" / "app.db"
    api.deploy(proj, releases / "1.0.0.yml", "staging", by="ops")
    post_note(host, "one")
    api.deploy(proj, releases / "2.0.0.yml", "staging", by="ops")
    post_note(host, "two", author="bob")

    with pytest.raises(PlayFailed) as failure:
        api.deploy(proj, releases / "3.0.0.yml", "staging", by="ops")  # fails its smoke test
    assert failure.value.result.rolled_back == {"web1": "2.0.0"}
    run_id = failure.value.result.run_id
    [restored] = [e for e in ledger(proj, "snapshot.restored") if e.run_id == run_id]
    taken = [e for e in ledger(proj, "snapshot.taken") if e.run_id == run_id]
    [before] = [e for e in taken if e.data["purpose"] == "deploy"]
    assert (before.data["from"], before.data["to"]) == ("2.0.0", "3.0.0")
    assert restored.data["id"] == before.data["id"] and restored.data["version"] == "2.0.0"
    assert sqlite_state(live_db) == (2, ["id", "body", "created", "author"], ["one", "two"])
    assert [n["author"] for n in get_notes(host)] == ["unknown", "bob"]

    rollback = ["rollback", "--env", "staging", "--by", "dewi", "--reason", "code only", "--to", "1.0.0"]
    rollback.append("--code-only")
    assert main(["-C", str(root), *rollback]) == 0, capsys.readouterr().err
    assert "data restored" not in capsys.readouterr().out
    assert [n["body"] for n in get_notes(host)] == ["one", "two"]
    assert sqlite_state(live_db)[0] == 2, "the data was left as it is"
    last_run = api.ledger_entries(proj, kind="rollback.requested")[-1]
    assert last_run.data["code_only"] is True
    assert not [e for e in ledger(proj, "snapshot.*") if e.run_id == last_run.run_id]


# -- PostgreSQL -------------------------------------------------------------------------

PG_PASSWORD = "pw-Zq81-never-logged"
PG_ENV = "RELKIT_TEST_PG_PASSWORD"
SCHEMA = {
    "1.0.0": """
SELECT pg_advisory_xact_lock(4242);
CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, body text NOT NULL);
""",
    "2.0.0": """
SELECT pg_advisory_xact_lock(4242);
CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, body text NOT NULL);
ALTER TABLE items ADD COLUMN IF NOT EXISTS author text;
UPDATE items SET author = 'unknown' WHERE author IS NULL;
CREATE TABLE IF NOT EXISTS tags (item_id int NOT NULL REFERENCES items (id), tag text NOT NULL);
""",
}
COLUMNS = {"1.0.0": "id, body", "2.0.0": "id, body, author"}


@pytest.fixture(scope="module")
def postgres() -> Iterator[pgserver.PgServer]:
    """A real PostgreSQL 15 server on 127.0.0.1 whose TCP logins need a password."""
    if why := pgserver.available():
        pytest.fail(f"PostgreSQL needed for this test: {why}")
    with pgserver.PgServer(password=PG_PASSWORD) as server:
        yield server


def pg_artifact(out: Path, version: str) -> str:
    """A tiny app whose migrate.sh applies its schema with psql; returns the sha256."""
    files = {
        "VERSION": version,
        "schema.sql": SCHEMA[version],
        "migrate.sh": ". ./shared/db.env\nexec psql -X -q -v ON_ERROR_STOP=1 --single-transaction "
        '-f "$RELKIT_RELEASE/schema.sql"\n',
        "check.sh": ". ./shared/db.env\nexec psql -X -q -At -v ON_ERROR_STOP=1 "
        f'-c "SELECT {COLUMNS[version]} FROM items LIMIT 0"\n',
    }
    with tarfile.open(out, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return hashlib.sha256(out.read_bytes()).hexdigest()


def write_pg_project(root: Path, hosts: list[SshHost], pg: pgserver.PgServer) -> Path:
    root.mkdir(parents=True)
    config = {
        "app": "pgapp",
        "deploy_path": "/opt/pgapp",
        "state_dir": "state",
        "environments": {"staging": {"inventory": "staging.yml"}},
        "service": {
            "stop": "rm -f shared/running",
            "start": 'echo "$RELKIT_VERSION" > shared/running',
            "migrate": 'sh "$RELKIT_RELEASE/migrate.sh"',
            "migrate_hosts": "first",
            "timeout": 30,
        },
        "smoke": {"timeout": 15, "checks": [{"name": "schema", "command": "sh current/check.sh"}]},
        "data": [
            {
                "name": "shop",
                "kind": "postgresql",
                "database": "shop",
                "port": pg.port,
                "password_env": PG_ENV,
            },
        ],
    }
    (root / "relkit.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    inventory = {"staging": {"hosts": {h.name: h.ansible_vars() for h in hosts}}}
    (root / "staging.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    (root / "releases").mkdir()
    for version in SCHEMA:
        artifact = root / f"pgapp-{version}.tar.gz"
        manifest = yaml.safe_load((EXAMPLE / "releases" / "1.0.0.yml").read_text())
        manifest.update(app="pgapp", version=version)
        manifest["artifact"] = {"path": str(artifact), "sha256": pg_artifact(artifact, version)}
        (root / "releases" / f"{version}.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    for host in hosts:  # the app's own database settings, as any app has them on its hosts
        shared = host.opt / "pgapp" / "shared"
        shared.mkdir(parents=True)
        pgpass = shared / "pgpass"
        pgpass.write_text(f"127.0.0.1:{pg.port}:*:postgres:{PG_PASSWORD}\n")
        pgpass.chmod(0o600)
        (shared / "db.env").write_text(
            f"export PGHOST=127.0.0.1 PGPORT={pg.port} PGUSER=postgres PGDATABASE=shop "
            "PGPASSFILE=/opt/pgapp/shared/pgpass\n"
        )
    return root


def table_columns(pg: pgserver.PgServer, db: str = "shop") -> dict[str, list[str]]:
    rows = pg.psql(
        "SELECT table_name, string_agg(column_name, ',' ORDER BY ordinal_position) FROM "
        "information_schema.columns WHERE table_schema = 'public' GROUP BY table_name ORDER BY 1",
        db=db,
    )
    return {line.split("|")[0]: line.split("|")[1].split(",") for line in rows.splitlines()}


def test_postgresql_snapshot_migrate_and_rollback(
    ssh_pool_factory, tmp_path: Path, postgres: pgserver.PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg = postgres
    pg.psql("CREATE DATABASE shop")
    hosts = ssh_pool_factory(2).hosts
    root = write_pg_project(tmp_path / "pgproject", hosts, pg)
    proj = Project.load(root)
    monkeypatch.setenv(PG_ENV, PG_PASSWORD)

    api.deploy(proj, root / "releases" / "1.0.0.yml", "staging", by="ops")
    assert table_columns(pg) == {"items": ["id", "body"]}
    pg.psql("INSERT INTO items (body) VALUES ('a'), ('b')", db="shop")

    api.deploy(proj, root / "releases" / "2.0.0.yml", "staging", by="ops")
    assert table_columns(pg) == {"items": ["id", "body", "author"], "tags": ["item_id", "tag"]}
    [taken] = ledger(proj, "snapshot.taken")
    assert taken.host == "web1", "a database shared by all hosts is dumped once, on the first host"
    [item] = taken.data["items"]
    assert (item["name"], item["kind"], item["file"]) == ("shop", "postgresql", "shop.pgdump")
    dump = snapshot_dir(hosts[0], "pgapp", taken.data["id"]) / "shop.pgdump"
    assert dump.stat().st_size == item["size"] > 0
    assert not (hosts[1].opt / "pgapp" / "snapshots").exists() or not any(
        (hosts[1].opt / "pgapp" / "snapshots").iterdir()
    )
    pg.psql("INSERT INTO items (body, author) VALUES ('c', 'me')", db="shop")
    pg.psql("INSERT INTO tags VALUES (3, 'new')", db="shop")

    report = api.rollback(proj, "staging", by="dewi", reason="tags broke checkout")

    assert report.rolled_back == {"web1": "1.0.0", "web2": "1.0.0"}
    assert table_columns(pg) == {"items": ["id", "body"]}, "pre-deploy schema: no author, no tags"
    assert pg.psql("SELECT string_agg(body, ',' ORDER BY id) FROM items", db="shop") == "a,b"
    [restored] = ledger(proj, "snapshot.restored")
    assert restored.host == "web1" and restored.data["id"] == taken.data["id"]
    saved = restored.data["at_rollback"]
    assert re.fullmatch(r"\d{8}T\d{6}-at-rollback-2\.0\.0", saved)

    # the rows written after the deploy are in the at-rollback snapshot: restore it aside and count
    pg.psql("CREATE DATABASE scratch")
    subprocess.run(
        ["pg_restore", "-d", "scratch", str(snapshot_dir(hosts[0], "pgapp", saved) / "shop.pgdump")],
        env=pg.env("postgres"),
        check=True,
        capture_output=True,
    )
    assert pg.psql("SELECT string_agg(body || ':' || author, ',' ORDER BY id) FROM items", db="scratch") == (
        "a:unknown,b:unknown,c:me"
    )
    assert pg.psql("SELECT count(*) FROM tags", db="scratch") == "1"

    # the password reached the hosts (TCP logins need it) but was never written down here
    state_files = [p for p in (root / "state").rglob("*") if p.is_file()]
    assert state_files and any("runs" in p.parts for p in state_files)
    leaked = [p for p in state_files if PG_PASSWORD.encode() in p.read_bytes()]
    assert leaked == []
    assert api.ledger_verify(proj).ok
