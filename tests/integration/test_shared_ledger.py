"""The shared ledger on a real PostgreSQL server: schema, concurrent appends from several
controllers, locks with leases, append-only rows, moving a record from SQLite, and a
controller's memory of the tail (tests/pgserver.py starts the server)."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from relkit.chain import Entry
from relkit.config import Ledger as LedgerConfig
from relkit.errors import BadInput, LedgerUnavailable, Locked
from relkit.store import Draft, open_store
from relkit.store.postgres import PostgresStore
from relkit.store.sqlite import SqliteStore
from tests.integration.conftest import LEDGER_PASSWORD_ENV, SharedLedger
from tests.support import fixtures
from tests.support.clirunner import make_cli

_isolated_env, example_project = fixtures._isolated_env, fixtures.example_project

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


OPENED: list[PostgresStore] = []


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def store(ledger: SharedLedger, state: Path, lease: int = 30) -> PostgresStore:
    """A controller's store of the shared ledger (closed after the test)."""
    config = LedgerConfig(url=ledger.url, password_env=LEDGER_PASSWORD_ENV, lease_seconds=lease)
    opened = open_store(state, config)
    assert isinstance(opened, PostgresStore)
    OPENED.append(opened)
    return opened


def test_the_schema_is_made_by_init_and_checked_on_use(shared_ledger: SharedLedger, tmp_path: Path) -> None:
    book = store(shared_ledger, tmp_path / "a")
    with pytest.raises(BadInput) as before:
        book.head()
    assert "relkit ledger init" in str(before.value) and shared_ledger.password not in str(before.value)
    assert book.init().endswith("created (schema v1)")
    assert book.init().endswith("schema v1, up to date")
    assert book.head() == (0, "")
    # a database written by a newer relkit is refused, not misread
    shared_ledger.server.psql(
        "UPDATE relkit_meta SET value = '99' WHERE key = 'schema_version'", db=shared_ledger.db
    )
    book.close()
    with pytest.raises(BadInput, match="schema v99, newer than this relkit's"):
        book.head()


def test_rows_cannot_be_changed_or_removed_through_the_schema(
    shared_ledger: SharedLedger, tmp_path: Path
) -> None:
    book = store(shared_ledger, tmp_path / "a")
    book.init()
    book.append_many([Draft("x", data={"i": i}) for i in range(3)])
    for sql in (
        "UPDATE relkit_entries SET data = '{}' WHERE seq = 2",
        "DELETE FROM relkit_entries WHERE seq = 3",
        "TRUNCATE relkit_entries",
    ):
        with pytest.raises(RuntimeError, match="append-only"):
            shared_ledger.server.psql(sql, db=shared_ledger.db)
    assert book.verify().ok and book.verify().checked == 3


def test_a_controller_that_wrote_the_tail_sees_it_removed_or_rewritten(
    shared_ledger: SharedLedger, tmp_path: Path
) -> None:
    """An owner of the database can drop the guard; a controller that wrote the tail still tells."""
    book = store(shared_ledger, tmp_path / "a")
    book.init()
    book.append_many([Draft("x", data={"i": i}) for i in range(5)])
    other = store(shared_ledger, tmp_path / "b")  # a CI runner that never wrote: nothing to compare
    psql = shared_ledger.server.psql
    psql(
        "ALTER TABLE relkit_entries DISABLE TRIGGER USER; DELETE FROM relkit_entries WHERE seq > 3",
        db=shared_ledger.db,
    )
    check = book.verify()
    assert not check.ok and check.bad_seq == 4 and "this controller wrote row 5" in check.problem
    assert other.verify().ok
    # re-sealed rows 4 and 5 with other content: the chain verifies, the witness does not
    forged = SqliteStore(tmp_path / "forge")
    forged.append_many([Draft("x", data={"i": i}) for i in range(3)] + [Draft("x", data={"i": 99})] * 2)
    rows = list(forged.entries())[3:]
    values = ", ".join(
        f"({e.seq}, '{e.ts}', '', 'x', '', '', '{json.dumps(e.data)}', '{e.prev_hash}', '{e.hash}')"
        for e in rows
    )
    psql(f"INSERT INTO relkit_entries VALUES {values}", db=shared_ledger.db)
    if list(book.entries())[2].hash == rows[0].prev_hash:  # same first rows: the chain itself is intact
        check = book.verify()
        assert not check.ok and check.bad_seq == 5 and "rewritten" in check.problem


APPENDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from relkit.config import Ledger
    from relkit.store import open_store
    url, state, name = sys.argv[1:4]
    book = open_store(Path(state), Ledger(url=url, password_env="{password_env}"))
    for i in range(250):
        book.append("task.result", run_id=name, host=name, data={{"i": i}})
    """
)


def test_four_controllers_append_at_once_without_gaps_or_forks(
    shared_ledger: SharedLedger, tmp_path: Path
) -> None:
    store(shared_ledger, tmp_path / "init").init()
    script = APPENDER.format(password_env=LEDGER_PASSWORD_ENV)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, shared_ledger.url, str(tmp_path / f"ctl{n}"), f"ctl{n}"],
            env=shared_ledger.env(PYTHONPATH=str(REPO)),
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    book = store(shared_ledger, tmp_path / "reader")
    check = book.verify()
    assert check.ok and check.checked == 1000
    entries = list(book.entries())
    assert [e.seq for e in entries] == list(range(1, 1001))
    for n in range(4):  # each controller's rows, all there and in its own order
        mine = [e.data["i"] for e in entries if e.run_id == f"ctl{n}"]
        assert mine == list(range(250))
    interleaved = sum(1 for a, b in itertools.pairwise(entries) if a.run_id != b.run_id)
    assert interleaved > 3, "the four writers really ran at the same time"
    for n in range(4):  # each controller remembers the last row it wrote, and it is there
        seen = json.loads((tmp_path / f"ctl{n}" / "ledger-seen.json").read_text())
        assert entries[seen["seq"] - 1].hash == seen["hash"]


def test_an_environment_lock_names_its_holder_across_controllers(
    shared_ledger: SharedLedger, tmp_path: Path
) -> None:
    a, b = store(shared_ledger, tmp_path / "a"), store(shared_ledger, tmp_path / "b")
    a.init()
    with a.hold("staging", "run-a", "deploy", "alice") as held:
        assert held.user == "alice" and held.pid == os.getpid() and held.lease_until
        with pytest.raises(Locked) as locked, b.hold("staging", "run-b", "deploy", "bob"):
            pass
        assert locked.value.exit_code == 6
        message = str(locked.value)
        assert (
            "deploy run run-a by alice@" in message and f"pid {os.getpid()}" in message and "since" in message
        )
        with pytest.raises(Locked, match="held by a live run"):
            b.break_lock("staging")
        with b.hold("production", "run-b", "deploy", "bob"):  # another environment: free
            assert b.holder("production").run_id == "run-b"
    assert a.holder("staging") is None and b.holder("production") is None


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from relkit.config import Ledger
    from relkit.store import open_store
    url, state = sys.argv[1:3]
    book = open_store(Path(state), Ledger(url=url, password_env="{password_env}", lease_seconds=5))
    with book.hold("staging", "run-killed", "deploy", "alice"):
        print("held", flush=True)
        time.sleep(600)
    """
)


def test_a_killed_holder_goes_stale_when_its_lease_lapses(
    shared_ledger: SharedLedger, tmp_path: Path
) -> None:
    store(shared_ledger, tmp_path / "init").init()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLDER.format(password_env=LEDGER_PASSWORD_ENV),
            shared_ledger.url,
            str(tmp_path / "a"),
        ],
        env=shared_ledger.env(PYTHONPATH=str(REPO)),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        other = store(shared_ledger, tmp_path / "b", lease=5)
        time.sleep(7)  # longer than the lease: the live holder renewed it meanwhile
        alive = other.holder("staging")
        assert alive is not None and alive.alive and alive.pid == proc.pid
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while (
            (holder := other.holder("staging")) is not None and holder.alive and time.monotonic() < deadline
        ):
            time.sleep(0.5)
        assert holder is not None and not holder.alive
        assert "(STALE: its lease lapsed at" in holder.describe()
        with pytest.raises(Locked) as locked, other.hold("staging", "run-b", "deploy", "bob"):
            pass
        assert "STALE" in str(locked.value) and "relkit unlock --env staging" in str(locked.value)
        broken = other.break_lock("staging")
        assert broken.run_id == "run-killed" and other.holder("staging") is None
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_record_moves_from_sqlite_to_postgresql_and_a_broken_one_does_not(
    shared_ledger: SharedLedger,
    example_project: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli = make_cli(capsys)
    local = SqliteStore(tmp_path / "state")
    local.append_many([Draft("run.started", "r1", "staging", data={"by": "alice", "secretless": True})])
    local.append("host.switched", run_id="r1", env="staging", host="web1", data={"version": "1.0.0"})
    local.close()
    out = tmp_path / "ledger.jsonl"
    assert cli("-C", example_project, "ledger", "export", "--out", out).code == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["hash"] == list(local.entries())[1].hash

    monkeypatch.setenv("RELKIT_LEDGER_URL", shared_ledger.url)
    monkeypatch.setenv("RELKIT_STATE_DIR", str(tmp_path / "state-pg"))
    no_schema = cli("-C", example_project, "ledger", "import", out)
    assert no_schema.code == 2 and "relkit ledger init" in no_schema.err
    init = cli("-C", example_project, "ledger", "init")
    assert init.code == 0 and "created (schema v1)" in init.out and shared_ledger.password not in init.out

    broken = tmp_path / "broken.jsonl"
    row = json.loads(lines[1])
    row["data"]["version"] = "9.9.9"  # changed after it was written
    broken.write_text(lines[0] + "\n" + json.dumps(row) + "\n")
    refused = cli("-C", example_project, "ledger", "import", broken)
    assert refused.code == 2 and "row 2: content was changed after it was written" in refused.err
    assert store(shared_ledger, tmp_path / "x").head() == (0, "")  # nothing loaded

    done = cli("-C", example_project, "ledger", "import", out)
    assert done.code == 0 and "imported 2 rows" in done.out
    again = cli("-C", example_project, "ledger", "import", out)
    assert again.code == 2 and "is not empty" in again.err
    verified = cli("-C", example_project, "ledger", "verify")
    assert verified.code == 0 and "2 rows, chain intact" in verified.out
    moved = [(e.seq, e.hash) for e in store(shared_ledger, tmp_path / "y").entries()]
    assert moved == [(e.seq, e.hash) for e in local.entries()]


def test_an_unreachable_ledger_refuses_to_start_with_the_reason(
    shared_ledger: SharedLedger,
    example_project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli = make_cli(capsys)
    port = shared_ledger.server.port
    monkeypatch.setenv(
        "RELKIT_LEDGER_URL", f"postgresql://relkit:{shared_ledger.password}@127.0.0.1:{port + 1}/x"
    )
    status = cli("-C", example_project, "status")
    assert status.code == 2
    assert "cannot be reached" in status.err and "nothing was started" in status.err
    assert shared_ledger.password not in status.err + status.out
    assert f"postgresql://relkit@127.0.0.1:{port + 1}/x" in status.err
    with pytest.raises(LedgerUnavailable):
        PostgresStore(f"postgresql://relkit@127.0.0.1:{port + 1}/x", Path("/nonexistent")).head()


def test_appends_of_one_step_are_one_transaction(shared_ledger: SharedLedger, tmp_path: Path) -> None:
    book = store(shared_ledger, tmp_path / "a")
    book.init()
    written = book.append_many([Draft("task.result", "r", "staging", f"web{i}", {"i": i}) for i in range(50)])
    assert [e.seq for e in written] == list(range(1, 51))
    assert len({e.ts for e in written}) == 1  # sealed together
    assert all(isinstance(e, Entry) for e in written) and book.verify().ok


DOCS = REPO / "docs" / "shared-ledger.md"


def test_the_manuals_role_and_grants_let_controllers_append_and_lock_but_not_rewrite(
    pg_server: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/shared-ledger.md's SQL, as written (only the passwords filled in)."""
    server = pg_server
    blocks = re.findall(r"```sql\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert len(blocks) == 2, "the manual gives the roles, then the grants"
    roles = blocks[0].replace("'…'", "'owner-Pw9-secret'", 1).replace("'…'", "'ctl-Pw9-secret'", 1)
    sql = "\n".join(line.split("--")[0] for line in roles.splitlines())
    for statement in filter(None, (part.strip() for part in sql.split(";"))):
        server.psql(statement)  # one by one: CREATE DATABASE runs outside a transaction
    monkeypatch.setenv("RELKIT_LEDGER_PASSWORD", "owner-Pw9-secret")
    admin = open_store(
        tmp_path / "admin", LedgerConfig(url=f"postgresql://relkit_admin@127.0.0.1:{server.port}/relkit")
    )
    assert admin.init().endswith("created (schema v1)")
    admin.close()
    grants = "\n".join(line for line in blocks[1].splitlines() if not line.strip().startswith("\\c "))
    server.psql(grants, db="relkit")

    monkeypatch.setenv("RELKIT_LEDGER_PASSWORD", "ctl-Pw9-secret")
    url = f"postgresql://relkit@127.0.0.1:{server.port}/relkit"
    controller = open_store(tmp_path / "ctl", LedgerConfig(url=url))
    OPENED.append(controller)  # type: ignore[arg-type]
    controller.append_many([Draft("x", data={"i": i}) for i in range(3)])
    with controller.hold("staging", "r1", "deploy", "alice"):
        assert controller.holder("staging").run_id == "r1"
    assert controller.verify().ok and controller.head()[0] == 3
    for sql in ("DELETE FROM relkit_entries", "DROP TRIGGER relkit_entries_append_only ON relkit_entries"):
        denied = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
            env={**os.environ, "PGPASSWORD": "ctl-Pw9-secret"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert denied.returncode != 0 and (
            "permission denied" in denied.stderr or "must be owner" in denied.stderr
        )
