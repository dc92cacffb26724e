"""The hash chain (relkit.chain): pure functions over Entry values."""

from __future__ import annotations

import itertools
from dataclasses import replace

from relkit.chain import GENESIS, Entry, canonical, entry_hash, seal, verify


def _chain(n: int) -> list[Entry]:
    entries, prev = [], GENESIS
    for seq in range(1, n + 1):
        sealed = seal(
            Entry(
                seq,
                f"2026-11-10T00:00:{seq:02d}",
                "r1",
                "task.result",
                "staging",
                "web1",
                {"n": seq, "msg": "ünïcode"},
            ),
            prev,
        )
        entries.append(sealed)
        prev = sealed.hash
    return entries


def test_seal_sets_prev_and_hash() -> None:
    first = seal(Entry(1, "t", "r", "k", "e", "h", {"a": 1}), GENESIS)
    assert first.prev_hash == GENESIS
    assert len(first.hash) == 64
    assert first.hash == entry_hash(first)


def test_hashes_link() -> None:
    entries = _chain(5)
    assert entries[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    assert len({e.hash for e in entries}) == 5


def test_canonical_ignores_dict_order() -> None:
    a = Entry(1, "t", "r", "k", "e", "h", {"x": 1, "y": 2})
    b = Entry(1, "t", "r", "k", "e", "h", {"y": 2, "x": 1})
    assert canonical(a) == canonical(b)
    assert entry_hash(a) == entry_hash(b)


def test_hash_covers_every_field_and_the_link() -> None:
    base = seal(Entry(1, "t", "r", "k", "e", "h", {"a": 1}), GENESIS)
    variants = [
        replace(base, seq=2),
        replace(base, ts="u"),
        replace(base, run_id="s"),
        replace(base, kind="j"),
        replace(base, env="f"),
        replace(base, host="g"),
        replace(base, data={"a": 2}),
        replace(base, prev_hash="1" * 64),
    ]
    for variant in variants:
        assert entry_hash(variant) != base.hash, variant


def test_verify_empty_chain() -> None:
    check = verify([])
    assert check.ok
    assert check.checked == 0
    assert check.bad_seq is None


def test_verify_intact_chain() -> None:
    check = verify(_chain(10))
    assert check.ok
    assert check.checked == 10


def test_verify_changed_content() -> None:
    entries = _chain(6)
    entries[3] = replace(entries[3], data={"n": 99})
    check = verify(entries)
    assert not check.ok
    assert check.bad_seq == 4
    assert check.checked == 3
    assert "changed" in check.problem


def test_verify_removed_row() -> None:
    entries = _chain(6)
    del entries[2]
    check = verify(entries)
    assert not check.ok
    assert check.bad_seq == 3
    assert "removed" in check.problem


def test_verify_removed_first_row() -> None:
    check = verify(_chain(3)[1:])
    assert not check.ok
    assert check.bad_seq == 1


def test_verify_broken_link() -> None:
    entries = _chain(6)
    entries[4] = replace(entries[4], prev_hash="f" * 64)
    check = verify(entries)
    assert not check.ok
    assert check.bad_seq == 5
    assert "link" in check.problem


def test_verify_resealed_row_breaks_next_link() -> None:
    entries = _chain(6)
    forged = seal(replace(entries[2], data={"n": "forged"}), entries[1].hash)
    entries[2] = forged
    check = verify(entries)
    assert not check.ok
    assert check.bad_seq == 4
    assert "link" in check.problem


def test_verify_swapped_rows() -> None:
    entries = _chain(4)
    entries[1], entries[2] = entries[2], entries[1]
    check = verify(entries)
    assert not check.ok
    assert check.bad_seq == 2
