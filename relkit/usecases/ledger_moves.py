"""Creating a ledger's schema and moving a record between backends: export and import.

An export is JSON lines, one row each, with every field the hash chain covers (and the hash
and link themselves), so an import proves the chain intact before it loads a single row: the
way a team moves from the embedded SQLite ledger to a shared PostgreSQL one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO

from relkit.chain import Entry
from relkit.errors import BadInput
from relkit.project import Project

FIELDS = ("seq", "ts", "run_id", "kind", "env", "host", "data", "prev_hash", "hash")


def ledger_init(project: Project) -> str:
    """Create or migrate the project's ledger schema; say what was done (``relkit ledger init``)."""
    return project.ledger.init()


def export_lines(project: Project) -> Iterator[str]:
    """The whole ledger as JSON lines, oldest row first (hashes and signatures included)."""
    for entry in project.ledger.entries():
        yield json.dumps({f: getattr(entry, f) for f in FIELDS}, sort_keys=True, ensure_ascii=False)


def parse_export(lines: Iterable[str], source: str) -> Iterator[Entry]:
    """Entries of an export; :class:`BadInput` naming the line that is not one."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{source}:{number}: not a JSON object ({exc.msg}); nothing was loaded") from None
        missing = [f for f in FIELDS if not isinstance(row, dict) or f not in row]
        if missing:
            raise BadInput(
                f"{source}:{number}: not a ledger row (missing {', '.join(missing)}); nothing was loaded"
            )
        if not isinstance(row["seq"], int) or not isinstance(row["data"], dict):
            raise BadInput(f"{source}:{number}: seq must be an integer, data an object; nothing was loaded")
        yield Entry(**{f: row[f] for f in FIELDS})


def ledger_import(project: Project, handle: IO[str], source: str) -> int:
    """Load an export into the project's empty ledger, refusing a broken chain (naming the row)."""
    return project.ledger.load(parse_export(handle, source))
