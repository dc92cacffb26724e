"""Ledger benchmark: appends made the way a deploy makes them, and a full verify.

Prints, for the embedded SQLite ledger and for a shared PostgreSQL ledger (a throwaway server
started like the tests do, tests/pgserver.py, or ``--pg-url``):

- 10,000 appends in batches of 50 (one play step on 50 hosts: one transaction each) and a full
  ``verify`` of the 10,000 rows; goal ≤ 1 s (SQLite), ≤ 2 s (PostgreSQL);
- the record of a 50-host deploy written through relkit's own recorder (run start, the gate
  evaluation, ``--steps`` task steps x 50 hosts, 50 switches, 50 snapshots, the smoke result,
  the run's end), and its share of a deploy that takes ``--deploy-seconds`` (default: 4.99 s, the
  3-host deploy of bench/deploy.py — a 50-host deploy takes longer, so the real share is lower);
- for comparison, the same 10,000 appends one by one on SQLite (``--single``).

Medians of ``--rounds`` runs. Run from the repo root: ``.venv/bin/python bench/ledger.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from relkit.config import Ledger as LedgerConfig
from relkit.results import TaskOutcome
from relkit.store import Store, open_store
from relkit.store.sealing import Draft
from relkit.usecases.recording import RunRecorder

ROWS, BATCH, HOSTS = 10_000, 50, 50


def appends(store: Store, single: bool = False) -> float:
    """10,000 task results, in batches of 50 (or one by one); seconds."""
    started = time.perf_counter()
    for step in range(ROWS // BATCH):
        drafts = [
            Draft("task.result", "r1", "production", f"web{h:02d}", {"task": f"step {step}", "status": "ok"})
            for h in range(BATCH)
        ]
        if single:
            for draft in drafts:
                store.append(draft.kind, run_id=draft.run_id, env=draft.env, host=draft.host, data=draft.data)
        else:
            store.append_many(drafts)
    return time.perf_counter() - started


def verify(store: Store) -> float:
    started = time.perf_counter()
    check = store.verify()
    elapsed = time.perf_counter() - started
    if not check.ok or check.checked < ROWS:
        sys.exit(f"verify failed: {check}")
    return elapsed


def deploy_record(store: Store, steps: int) -> float:
    """A 50-host deploy's entries, through the recorder the deploy use case uses; seconds."""
    book = RunRecorder(store, "production", "deploy", "ops", "bench-run")
    hosts = [f"web{h:02d}" for h in range(HOSTS)]
    started = time.perf_counter()
    book.started(version="2.0.0", sha256="0" * 64)
    book.record("gate.evaluated", passed=True, results=[{"name": "approvals", "passed": True}] * 12)
    for step in range(steps):
        for host in hosts:
            book.outcome(TaskOutcome(host, f"step {step}", "relkit_release", "ok", step % 2 == 0, ""))
    book.flush()
    for host in hosts:
        book.queue("host.switched", host, version="2.0.0", sha256="0" * 64, previous="1.0.0", by="ops")
        book.queue("snapshot.taken", host, id=f"snap-{host}", purpose="before_switch", items=["db"])
    book.flush()
    book.record("smoke.result", version="2.0.0", passed=True, hosts=hosts, failed=[], checks={})
    book.finished("successful", rc=0)
    return time.perf_counter() - started


@contextmanager
def sqlite_store() -> Iterator[Callable[[], Store]]:
    with tempfile.TemporaryDirectory(prefix="relkit-bench-") as tmp:
        count = iter(range(1_000_000))
        yield lambda: open_store(Path(tmp) / f"s{next(count)}")


@contextmanager
def pg_store(url: str | None) -> Iterator[Callable[[], Store]]:
    from tests import pgserver

    with tempfile.TemporaryDirectory(prefix="relkit-bench-") as tmp:
        count = iter(range(1_000_000))
        if url:

            def make_external() -> Store:
                store = open_store(Path(tmp) / f"p{next(count)}", LedgerConfig(url=url))
                store.init()
                return store

            yield make_external
            return
        why = pgserver.available()
        if why:
            sys.exit(f"PostgreSQL: {why} (or pass --pg-url)")
        with pgserver.PgServer() as server:

            def make() -> Store:
                db = f"bench{next(count)}"
                server.psql(f"CREATE DATABASE {db}")
                store = open_store(Path(tmp) / db, LedgerConfig(url=server.url(db)))
                store.init()
                return store

            yield make


def measure(make: Callable[[], Store], rounds: int, steps: int, single: bool) -> dict[str, float]:
    runs: dict[str, list[float]] = {"appends": [], "verify": [], "deploy_record": [], "single": []}
    for _ in range(rounds):
        store = make()
        runs["appends"].append(appends(store))
        runs["verify"].append(verify(store))
        store.close()
        store = make()
        runs["deploy_record"].append(deploy_record(store, steps))
        store.close()
        if single:
            store = make()
            runs["single"].append(appends(store, single=True))
            store.close()
    return {k: statistics.median(v) for k, v in runs.items() if v}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12, help="task steps per host in a deploy (default 12)")
    parser.add_argument("--deploy-seconds", type=float, default=4.99, help="the deploy time to compare with")
    parser.add_argument("--pg-url", default=os.environ.get("RELKIT_LEDGER_URL"), help="an existing database")
    parser.add_argument("--single", action="store_true", help="also time 10,000 single appends (SQLite)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {}
    with sqlite_store() as make:
        results["sqlite"] = measure(make, args.rounds, args.steps, args.single)
    with pg_store(args.pg_url) as make:
        results["postgresql"] = measure(make, args.rounds, args.steps, False)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    entries = 5 + args.steps * HOSTS + 2 * HOSTS
    print(f"relkit ledger benchmark: medians of {args.rounds} rounds")
    for name, goal in (("sqlite", 1.0), ("postgresql", 2.0)):
        r = results[name]
        total = r["appends"] + r["verify"]
        share = r["deploy_record"] / args.deploy_seconds * 100
        print(f"  {name}")
        rate = ROWS / r["appends"]
        print(f"    {ROWS:,} appends in batches of {BATCH}   {r['appends']:5.2f} s ({rate:,.0f}/s)")
        print(f"    verify {ROWS:,} rows                 {r['verify']:5.2f} s")
        print(f"    appends + verify                   {total:5.2f} s   goal ≤ {goal:.0f} s")
        record = r["deploy_record"]
        print(
            f"    a {HOSTS}-host deploy's record ({entries} rows) {record:5.3f} s = {share:.1f} % "
            f"of a {args.deploy_seconds:.2f} s deploy   goal < 5 %"
        )
        if "single" in r:
            print(f"    {ROWS:,} appends one transaction each {r['single']:5.2f} s")


if __name__ == "__main__":
    main()
