"""The manual's recipe for recovering rows after a PostgreSQL rollback runs as written.

docs/reliability.md ("Nothing written after the deploy is lost") gives a shell recipe that
restores the at-rollback dump as a schema of the same database and copies the missing rows
back, with nothing but the data item's own connection settings. Here it runs on a real
PostgreSQL server (tests/pgserver.py) whose data item's role owns the database but may not
create databases, after a real deploy / rollback by relkit on two local-connection hosts: the
recipe's block is taken from the manual, only its three settings lines (connection, password,
snapshot) filled in, and the statements the manual gives inline are run as given.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.project import Project
from tests import pgserver
from tests.sshproject import EXAMPLE

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
SUPER_PASSWORD = "super-Kq2-secret"
OWNER_PASSWORD = "owner-Vb7-secret"
PG_ENV = "RELKIT_TEST_SHOP_PASSWORD"
SCHEMA = {
    "1.0.0": "CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, body text NOT NULL);\n",
    "2.0.0": "CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, body text NOT NULL);\n"
    "ALTER TABLE items ADD COLUMN IF NOT EXISTS author text;\n"
    "CREATE TABLE IF NOT EXISTS tags (item_id int NOT NULL REFERENCES items (id), tag text NOT NULL);\n",
}
HOSTS = ("db1", "db2")


def recipe() -> tuple[str, list[str]]:
    """The manual's PostgreSQL recovery block, and the inline ``psql`` commands of its text."""
    section = DOCS.read_text().split("### Nothing written after the deploy is lost", 1)[1]
    section = section.split("\n### ", 1)[0]
    [block] = [b.split("```", 1)[0] for b in section.split("```sh\n")[1:] if "pg_restore" in b]
    inline = re.findall(r"`(psql -X -c '[^`]+')`", section)
    return block, inline


def artifact(out: Path, version: str) -> str:
    """A tiny app whose migrate.sh applies its schema as the data item's role; returns the sha256."""
    files = {
        "VERSION": version,
        "schema.sql": SCHEMA[version],
        "migrate.sh": ". ./shared/db.env\n"
        'exec psql -X -q -v ON_ERROR_STOP=1 -1 -f "$RELKIT_RELEASE/schema.sql"\n',
    }
    with tarfile.open(out, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return hashlib.sha256(out.read_bytes()).hexdigest()


@pytest.fixture
def postgres() -> Iterator[pgserver.PgServer]:
    """A server with database ``shop`` owned by ``shop_owner``, a role that may not create databases."""
    if why := pgserver.available():
        pytest.fail(f"PostgreSQL needed for this test: {why}")
    with pgserver.PgServer(password=SUPER_PASSWORD) as server:
        server.psql(f"CREATE ROLE shop_owner LOGIN PASSWORD '{OWNER_PASSWORD}' NOCREATEDB NOCREATEROLE")
        server.psql("CREATE DATABASE shop OWNER shop_owner")
        yield server


def owner_env(pg: pgserver.PgServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return dict(env, PGHOST="127.0.0.1", PGPORT=str(pg.port), PGUSER="shop_owner", PGDATABASE="shop",
                PGPASSWORD=OWNER_PASSWORD)  # fmt: skip


def sql(pg: pgserver.PgServer, statement: str) -> str:
    """Run SQL as the data item's role; unaligned, tuples only."""
    proc = subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", statement],
        env=owner_env(pg),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def write_project(root: Path, hosts: Path, pg: pgserver.PgServer) -> Path:
    """Two local-connection hosts sharing database ``shop`` (a ``hosts: first`` data item)."""
    root.mkdir()
    config = {
        "app": "shop",
        "deploy_path": "/opt/shop",
        "state_dir": "state",
        "environments": {"staging": {"inventory": "staging.yml"}},
        "service": {
            "stop": "rm -f shared/running",
            "start": 'echo "$RELKIT_VERSION" > shared/running',
            "migrate": 'sh "$RELKIT_RELEASE/migrate.sh"',
            "migrate_hosts": "first",
            "timeout": 30,
        },
        "smoke": {"timeout": 5, "checks": [{"name": "running", "command": "test -s shared/running"}]},
        "data": [
            {
                "name": "shop",
                "kind": "postgresql",
                "database": "shop",
                "port": pg.port,
                "user": "shop_owner",
                "password_env": PG_ENV,
            },
        ],
    }
    (root / "relkit.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    inventory = {
        "staging": {
            "hosts": {name: {"relkit_deploy_path": str(hosts / name)} for name in HOSTS},
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            },
        }
    }
    (root / "staging.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    (root / "releases").mkdir()
    for version in SCHEMA:
        path = root / f"shop-{version}.tar.gz"
        manifest = yaml.safe_load((EXAMPLE / "releases" / "1.0.0.yml").read_text())
        manifest.update(app="shop", version=version)
        manifest["artifact"] = {"path": str(path), "sha256": artifact(path, version)}
        (root / "releases" / f"{version}.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    for name in HOSTS:  # the app's own database settings on each host
        shared = hosts / name / "shared"
        shared.mkdir(parents=True)
        pgpass = shared / "pgpass"
        pgpass.write_text(f"127.0.0.1:{pg.port}:shop:shop_owner:{OWNER_PASSWORD}\n")
        pgpass.chmod(0o600)
        (shared / "db.env").write_text(
            f"export PGHOST=127.0.0.1 PGPORT={pg.port} PGUSER=shop_owner PGDATABASE=shop "
            f"PGPASSFILE={pgpass}\n"
        )
    return root


def test_the_manuals_postgresql_recovery_recipe_runs_as_written(
    postgres: pgserver.PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg, hosts = postgres, tmp_path / "hosts"
    assert sql(pg, "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user") == "f"
    root = write_project(tmp_path / "project", hosts, pg)
    monkeypatch.setenv(PG_ENV, OWNER_PASSWORD)
    monkeypatch.delenv("RELKIT_STATE_DIR", raising=False)
    releases = root / "releases"
    with Project.load(root) as project:
        assert api.deploy(project, releases / "1.0.0.yml", "staging", by="ops").ok
        sql(pg, "INSERT INTO items (body) VALUES ('a'), ('b')")
        assert api.deploy(project, releases / "2.0.0.yml", "staging", by="ops").ok
        sql(
            pg,
            "INSERT INTO items (body, author) VALUES ('c', 'me'), ('d', 'you');"
            "INSERT INTO tags VALUES (3, 'x')",
        )
        back = api.rollback(project, "staging", by="dewi", reason="tags broke checkout")
        assert back.rolled_back == {"db1": "1.0.0", "db2": "1.0.0"}
        snapshot = back.details["data"]["db1"]["at_rollback"]
    assert sql(pg, "SELECT string_agg(id || ':' || body, ',' ORDER BY id) FROM items") == "1:a,2:b"
    # hosts: first: the dumps are on the first host only
    assert (hosts / "db1" / "snapshots" / snapshot / "shop.pgdump").is_file()
    assert not list((hosts / "db2").glob("snapshots/*/shop.pgdump"))
    # the old release writes again: the restored sequence hands out id 3, which row c held
    sql(pg, "INSERT INTO items (body) VALUES ('e')")

    block, inline = recipe()
    settings = {
        r"export PGHOST=.*": f"export PGHOST=127.0.0.1 PGPORT={pg.port} PGUSER=shop_owner PGDATABASE=shop",
        r"read -rs PGPASSWORD .*": f"export PGPASSWORD={OWNER_PASSWORD}",
        r"SNAP=.*": f"SNAP=snapshots/{snapshot}",
    }
    for pattern, line in settings.items():
        block, found = re.subn(rf"(?m)^{pattern}$", line, block)
        assert found == 1, f"the recipe's settings line {pattern!r} is not in the manual"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    ran = subprocess.run(
        ["bash", "-c", block],
        cwd=hosts / "db1",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert re.search(r"(?m)^\s*3 \| c\s+\| e\s*$", ran.stdout), "the clash of id 3 is listed\n" + ran.stdout
    assert sql(pg, "SELECT string_agg(id || ':' || body, ',' ORDER BY id) FROM items") == "1:a,2:b,3:e,4:d"
    recovered = "SELECT string_agg(id || ':' || body || ':' || coalesce(author, '-'), ',' ORDER BY id) FROM "
    assert sql(pg, recovered + "recovered.items") == "1:a:-,2:b:-,3:c:me,4:d:you"
    assert sql(pg, "SELECT last_value FROM items_id_seq") == "4", "moved past the recovered ids"

    new_id, update, export, drop = inline
    assert "WHERE id = 3" in new_id and "UPDATE" in update and "\\copy" in export
    assert "DROP SCHEMA recovered" in drop

    def run_inline(command: str) -> None:
        done = subprocess.run(
            command, shell=True, cwd=tmp_path, env=owner_env(pg), capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr

    run_inline(new_id)
    assert (
        sql(pg, "SELECT string_agg(id || ':' || body, ',' ORDER BY id) FROM items") == "1:a,2:b,3:e,4:d,5:c"
    )
    with Project.load(root) as project:  # the release with items.author comes back
        assert api.deploy(project, releases / "2.0.0.yml", "staging", by="ops").ok
    run_inline(update)
    assert sql(pg, recovered + "items") == "1:a:-,2:b:-,3:e:-,4:d:you,5:c:-"
    run_inline(export)
    assert (tmp_path / "items-recovered.csv").read_text().splitlines()[0] == "id,body,author"
    run_inline(drop)
    assert sql(pg, "SELECT count(*) FROM pg_namespace WHERE nspname IN ('recovered', 'relkit_live')") == "0"
