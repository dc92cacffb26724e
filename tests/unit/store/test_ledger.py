"""The SQLite ledger (relkit.ledger): real database files, raw-SQL tampering, real processes."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relkit.chain import GENESIS, seal, verify
from relkit.store.sqlite import Ledger
from tests.support.fixtures import PYTHON, REPO


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(tmp_path / "state" / "ledger.db")
    yield ledger
    close = getattr(ledger, "close", None)  # the ledger may keep its connection open
    if close is not None:
        close()


def _fill(ledger: Ledger, n: int) -> list:
    return [
        ledger.append(
            "task.result", run_id="r1", env="staging", host=f"web{i % 2}", data={"i": i, "ok": True}
        )
        for i in range(1, n + 1)
    ]


def _sql(ledger: Ledger, statement: str, *args: object) -> None:
    with closing(sqlite3.connect(ledger.path)) as conn:
        conn.execute(statement, args)
        conn.commit()


def test_new_ledger_is_empty_and_valid_without_creating_a_file(ledger: Ledger) -> None:
    assert list(ledger.entries()) == []
    check = ledger.verify()
    assert check.ok
    assert check.checked == 0
    assert not ledger.path.exists()


def test_append_creates_the_file_and_seals(ledger: Ledger) -> None:
    first = ledger.append("run.started", run_id="r1", env="staging", data={"by": "alice"})
    assert ledger.path.is_file()
    assert first.seq == 1
    assert first.prev_hash == GENESIS
    assert len(first.hash) == 64
    assert first.data == {"by": "alice"}


def test_entries_round_trip(ledger: Ledger) -> None:
    written = _fill(ledger, 5)
    written.append(ledger.append("note", data={"text": "ünïcode ✓", "nested": {"a": [1, 2.5, None]}}))
    assert list(ledger.entries()) == written


def test_append_chains_hashes(ledger: Ledger) -> None:
    entries = _fill(ledger, 20)
    assert [e.seq for e in entries] == list(range(1, 21))
    assert entries[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    check = ledger.verify()
    assert check.ok
    assert check.checked == 20


def test_entries_filter_by_kind_prefix_and_env(ledger: Ledger) -> None:
    ledger.append("host.switched", env="staging", host="a")
    ledger.append("host.switched", env="production", host="a")
    ledger.append("smoke.result", env="staging")
    ledger.append("hostile", env="staging")
    assert [e.seq for e in ledger.entries(kind="host.*")] == [1, 2]
    assert [e.seq for e in ledger.entries(kind="host.switched", env="staging")] == [1]
    assert [e.seq for e in ledger.entries(env="staging")] == [1, 3, 4]
    assert [e.seq for e in ledger.entries(kind="smoke.result")] == [3]


def test_changed_data_is_detected(ledger: Ledger) -> None:
    _fill(ledger, 10)
    _sql(ledger, "UPDATE entries SET data = ? WHERE seq = 6", '{"i": 6, "ok": false}')
    check = ledger.verify()
    assert not check.ok
    assert check.bad_seq == 6
    assert check.checked == 5
    assert "changed" in check.problem


@pytest.mark.parametrize("column", ["ts", "run_id", "kind", "env", "host"])
def test_changed_column_is_detected(ledger: Ledger, column: str) -> None:
    _fill(ledger, 4)
    _sql(ledger, f"UPDATE entries SET {column} = 'tampered' WHERE seq = 2")
    check = ledger.verify()
    assert (check.ok, check.bad_seq) == (False, 2)
    assert "changed" in check.problem


def test_unparseable_data_is_detected(ledger: Ledger) -> None:
    _fill(ledger, 3)
    _sql(ledger, "UPDATE entries SET data = 'not json' WHERE seq = 2")
    assert [e.data for e in ledger.entries()][1] == {"_unreadable": "not json"}
    check = ledger.verify()
    assert (check.ok, check.bad_seq) == (False, 2)


def test_deleted_middle_row_is_named(ledger: Ledger) -> None:
    _fill(ledger, 10)
    _sql(ledger, "DELETE FROM entries WHERE seq = 4")
    check = ledger.verify()
    assert not check.ok
    assert check.bad_seq == 4
    assert "removed" in check.problem
    assert "4" in check.problem


def test_changed_prev_hash_breaks_link(ledger: Ledger) -> None:
    _fill(ledger, 10)
    _sql(ledger, "UPDATE entries SET prev_hash = ? WHERE seq = 7", "0" * 64)
    check = ledger.verify()
    assert not check.ok
    assert check.bad_seq == 7
    assert "link" in check.problem


def test_resealed_row_is_detected_at_the_next_link(ledger: Ledger) -> None:
    entries = _fill(ledger, 5)
    forged = seal(replace(entries[2], data={"i": 3, "ok": False}), entries[1].hash)
    _sql(
        ledger,
        "UPDATE entries SET data = ?, hash = ? WHERE seq = 3",
        '{"i": 3, "ok": false}',
        forged.hash,
    )
    check = ledger.verify()
    assert not check.ok
    assert check.bad_seq == 4
    assert "link" in check.problem


def test_append_after_reopen_continues_the_chain(ledger: Ledger) -> None:
    last = _fill(ledger, 3)[-1]
    again = Ledger(ledger.path).append("note")
    assert again.seq == 4
    assert again.prev_hash == last.hash
    assert Ledger(ledger.path).verify().ok


def test_append_returns_exactly_what_is_stored(ledger: Ledger) -> None:
    # the hash is computed over the entry as returned; reading it back must give the same entry
    odd = {"tuple": (1, 2), "when": datetime(2026, 11, 10, tzinfo=UTC), "nested": {"b": 1, "a": [None]}}
    written = ledger.append("note", data=odd)
    (stored,) = ledger.entries()
    assert stored == written
    assert ledger.verify().ok


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from relkit.store.sqlite import Ledger
    ledger = Ledger(Path({db!r}))
    go = Path({go!r})
    Path({ready!r} + sys.argv[1]).touch()
    while not go.exists():
        time.sleep(0.001)
    for i in range(50):
        ledger.append("task.result", run_id=sys.argv[1], data={{"i": i}})
    """
)


def _run_writers(tmp_path: Path, db: Path, count: int) -> None:
    """Start ``count`` writer processes, release them at the same instant, wait for them."""
    go, ready = tmp_path / "go", tmp_path / "ready-"
    script = WRITER.format(repo=str(REPO), db=str(db), go=str(go), ready=str(ready))
    procs = [
        subprocess.Popen([PYTHON, "-c", script, f"w{n}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for n in range(count)
    ]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    go.touch()  # every writer is waiting: they all start appending within milliseconds
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()


def test_concurrent_appends_from_four_processes(tmp_path: Path) -> None:
    # The ledger file exists (as after any earlier relkit run): this checks that BEGIN
    # IMMEDIATE serialises the appends. First use of a new file: see the next test.
    db = tmp_path / "state" / "ledger.db"
    first = Ledger(db)
    first.append("init")
    getattr(first, "close", lambda: None)()
    _run_writers(tmp_path, db, 4)
    entries = list(Ledger(db).entries())
    assert [e.seq for e in entries] == list(range(1, 202))
    for writer in ("w0", "w1", "w2", "w3"):
        assert sorted(e.data["i"] for e in entries if e.run_id == writer) == list(range(50))
    check = verify(entries)
    assert check.ok, check
    assert check.checked == 201


def test_first_append_waits_for_a_concurrent_writer(tmp_path: Path) -> None:
    # Another process is initialising the same new ledger file and holds its write lock
    # (what a concurrent first `relkit deploy` does while switching the file to WAL).
    # append() configures a 30 s busy timeout, so it must wait and succeed, not fail at once.
    db = tmp_path / "state" / "ledger.db"
    db.parent.mkdir(parents=True)
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE IF NOT EXISTS unrelated (x)")
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    ledger = Ledger(db)
    try:
        written = ledger.append("run.started", env="staging")
    finally:
        release.join()
        other.close()
        getattr(ledger, "close", lambda: None)()
    assert written.seq == 1
    assert Ledger(db).verify().ok


def test_removing_the_last_rows_is_detected(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.db")
    for n in range(5):
        ledger.append("note", data={"n": n})
    ledger.close()
    with closing(sqlite3.connect(tmp_path / "ledger.db")) as conn:
        conn.execute("DELETE FROM entries WHERE seq >= 4")
        conn.commit()
    check = Ledger(tmp_path / "ledger.db").verify()
    assert not check.ok
    assert check.bad_seq == 4
    assert "removed" in check.problem
