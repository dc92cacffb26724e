"""Hostile input (issue 5, point 6): generated and hand-picked malicious manifests and relkit.yml files.

Every case is written to a file and run through relkit's real entry point, in-process:

* manifests: ``relkit validate FILE`` outside any project (the file alone is checked)
* relkit.yml: ``relkit -C DIR status`` (which loads the config)

and must end with exit 2 (bad input: stderr names the file, and each problem line names the exact
field path of a mutation — the mutated field, a field inside the mutated value, the object whose
rule names the mutated key, or a field whose message names the mutated one — never an ancestor
or ``(top level)``) or exit 0 when the mutation happens to be valid. An accepted document is then
checked against an oracle other than relkit's loader: PyYAML's safe loader reads it and the
``jsonschema`` package validates it against the JSON Schema ``relkit schema`` prints (allowing only
pydantic's documented lax conversions: numbers written as strings or booleans, bytes for text,
surrounding white space), and independent predicates check its names and shared paths. Never
exit 1 (unexpected error), never an exception escaping ``main``. No YAML tag payload may ever
run (``touch`` of a marker file).

The generated cases mutate the embedded example documents (examples/project/releases/2.0.0.yml and
examples/project/relkit.yml): wrong types at random paths, missing fields, unknown keys at any depth,
100k-character strings, unicode (RTL, zero-width, emoji, NUL), nested lists/dicts, anchors/aliases and
billion-laughs bombs, python/binary/custom tags, impossible dates, floats for ints, negative numbers,
truncation, stray bytes. The generated tests do not stop at the first bad case: they run every case,
collect the failures and report each distinct failure with a sample case, so one run shows all bugs.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import hashlib
import io
import json
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relkit import cli
from relkit.cli import main
from relkit.project import locate_config
from tests.support.fixtures import EXAMPLE_PROJECT

MANIFEST_SRC = EXAMPLE_PROJECT / "releases" / "2.0.0.yml"
CONFIG_SRC = EXAMPLE_PROJECT / "relkit.yml"
BASE_MANIFEST: dict[str, Any] = yaml.safe_load(MANIFEST_SRC.read_text(encoding="utf-8"))
BASE_CONFIG: dict[str, Any] = yaml.safe_load(CONFIG_SRC.read_text(encoding="utf-8"))

#: generated cases per kind; the tests assert that at least MIN_CASES really ran
EXAMPLES = 1050
MIN_CASES = 1000

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

HUGE = 100_000


# -- running relkit --------------------------------------------------------------------


@dataclass
class Outcome:
    code: int | None
    out: str
    err: str
    escaped: str = ""  # repr of an exception that escaped main(), if any


def run_cli(*args: str | Path) -> Outcome:
    """``relkit.cli.main`` in-process with stdout/stderr captured; an escaping exception is recorded."""
    out, err = io.StringIO(), io.StringIO()
    code: int | None = None
    escaped = ""
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except (Exception, SystemExit) as exc:  # anything escaping main() is the finding
            escaped = repr(exc)[:300]
    return Outcome(code, out.getvalue(), err.getvalue(), escaped)


class _NoAliasDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Writes every object in full: any anchor/alias in a generated document is deliberate."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=1_000_000)


# -- what a correct answer looks like ----------------------------------------------------

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_SHARED_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
#: heads of the BadInput messages relkit.loading gives for a file (after "<file>: ")
_KNOWN_HEADS = (
    "invalid Manifest",
    "invalid ProjectConfig",
    "not valid YAML",
    "YAML nested too deeply",
    "nested too deeply",
    "expected a mapping at the top level, got ",
    "release manifest larger than ",
    "project config larger than ",
    "cannot read ",
)


def safe_name(value: object) -> bool:
    """Independent oracle for app names, versions and environment names."""
    return isinstance(value, str) and bool(_SAFE_NAME.fullmatch(value)) and ".." not in value


def safe_shared(value: object) -> bool:
    """Independent oracle for shared paths: relative, no '..', no empty/dot segments, no metacharacters."""
    if not isinstance(value, str) or not value:
        return False
    parts = value.split("/")
    return all(_SHARED_SEGMENT.fullmatch(p) and ".." not in p for p in parts)


def problem_lines(err: str) -> list[str]:
    """The ``field.path: message`` entries of a BadInput (an entry may span lines: keys can hold newlines)."""
    return err.rstrip("\n").split("\n  - ")[1:]


def _path_pattern(path: tuple[Any, ...]) -> str:
    """Regex of how relkit prints ``path``.

    Non-str keys print as str() or repr(), and keys with non-printable characters may be printed
    escaped (or, today, mangled: see test_error_output_does_not_echo_terminal_escapes): any text.
    """
    parts = []
    for p in path:
        if p == "":
            parts.append("''")  # an empty key is shown quoted
        elif (isinstance(p, str) and p.isprintable()) or (isinstance(p, int) and not isinstance(p, bool)):
            parts.append(re.escape(str(p)))
        else:
            parts.append(".+?")
    return r"\.".join(parts)


def at_mutation(line: str, mutated: list[tuple[Any, ...]]) -> bool:
    """True when a ``field.path: message`` line names the exact place of a mutation:

    * the mutated field, or a field inside the mutated value;
    * the object holding the mutated key, or a field beside it, when the message quotes that key
      (``smoke.checks.0: give exactly one of 'http', …``, ``environments.production.promote_from:
      unknown environment 'staging'``);
    * a field whose message names the mutated field or its object (``data.1.name: … 'db' is also
      data.0's name``).

    Never an ancestor of the mutated field otherwise, nor ``(top level)``: a path cut short is a defect.
    """
    where, _, message = line.partition(": ")
    if where == "(top level)":
        return any(not path for path in mutated)
    for path in mutated:
        if not path or re.match(rf"{_path_pattern(path)}[.:]", line, re.DOTALL):
            return True
        last, parent = path[-1], path[:-1]
        beside = not parent or re.match(rf"{_path_pattern(parent)}[.:]", line, re.DOTALL)
        if beside and isinstance(last, str) and f"'{last}'" in message:
            return True
        names = [_show_path(path)] + ([_show_path(parent)] if parent else [])
        if any(re.search(rf"(?<![\w.]){re.escape(n)}(?![\w])", message) for n in names):
            return True
    return False


def judge_bad_input(outcome: Outcome, file: Path, mutated: list[tuple[Any, ...]] | None) -> str | None:
    """None when an exit-2 answer names the file and what was expected (and the mutated field)."""
    head = f"error (exit 2): {file}: "
    if head not in outcome.err:
        return f"exit 2 without naming the file: {outcome.err[:200]!r}"
    rest = outcome.err.split(head, 1)[1]
    if not rest.startswith(_KNOWN_HEADS):
        return f"exit 2 with an unexpected message: {rest[:200]!r}"
    lines = problem_lines(outcome.err)
    if rest.startswith(("invalid ", "not valid YAML")) and not lines:
        return f"exit 2 without 'field.path: what was expected' lines: {rest[:200]!r}"
    if rest.startswith("invalid ") and any(": " not in line for line in lines):
        return f"exit 2 with a problem line that is not 'path: message': {lines[:3]!r}"
    stray = [x for x in lines if not at_mutation(x, mutated)] if mutated is not None else []
    if rest.startswith("invalid ") and stray:
        fields = [_show_path(p) for p in mutated or []]
        return f"exit 2 with a problem not at the mutated fields {fields}: {stray[:4]!r}"
    return None


def _show_path(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)[:80] or "(top level)"


# -- mutating documents ----------------------------------------------------------------


def all_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            found += all_paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += all_paths(v, (*path, i))
    return found


def node_at(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        doc = doc[p]
    return doc


RTL, LRO, ZWSP, ZWJ, BOM = "\u202e", "\u202d", "\u200b", "\u200d", "\ufeff"
SPECIAL_STRINGS = [
    f"{RTL}gpj.exe",
    f"web{ZWSP}app",
    f"{LRO}2.0.0",
    ZWJ,
    BOM + "webapp",
    "😀",
    "👨\u200d👩\u200d👧",
    "a\x00b",
    "\x00",
    "\x1b[31mred",
    "\u2028",
    "\u0085",
    "e\u0301",
    "\U0010fffd",
    "ﷺ",
    "",
    " ",
    "\t",
    "\r\n",
    "null",
    "~",
    "yes",
    "0x1F",
    "1e400",
    "-0",
    "NaN",
    "2026-02-30",
    "2026-02-30T22:00:00",
    "2026-13-45T25:61:00",
    "0000-00-00T00:00:00",
    "9999-12-31T23:59:59+23:59",
    "2026-11-17T22:00:00+25:00",
    "../../etc/passwd",
    "/etc/passwd",
    "$(touch /tmp/x)",
    "`id`",
    "a;b",
    "a|b",
    "a&b",
    "a>b",
    "-rf",
    "--help",
    "%s%n%x",
    "{{ lookup('pipe', 'id') }}",
    "Asia/../../etc",
    "Asia",
    "zone.tab",
    "http://",
    "https://x y",
    "a" * 64,
    "a" * 65,
]
HUGE_STRINGS = [
    "x" * HUGE,
    "😀" * HUGE,
    RTL * HUGE,
    "a/" * (HUGE // 2),
    "." * HUGE,
    "{{" * (HUGE // 2),
    ("a" * 63 + " ") * (HUGE // 64),
]
SPECIAL_NUMBERS = [
    -1,
    0,
    -0.0,
    0.5,
    1.5,
    -1.5,
    2.0,
    2**31,
    2**63,
    -(2**63),
    10**100,
    -(10**100),
    1e308,
    -1e308,
    5e-324,
    float("inf"),
    float("-inf"),
    float("nan"),
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.sampled_from(SPECIAL_NUMBERS),
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(SPECIAL_STRINGS),
    st.dates(),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.binary(max_size=12),
)
keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["relkit_unknown", "__proto__", "APP", " app", "app ", f"{RTL}app", f"app{ZWSP}", "😀"]),
    st.sampled_from(SPECIAL_STRINGS),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.dates(),
)
nested = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)
deeply_nested = st.builds(
    lambda depth, kind, leaf: _nest(depth, kind, leaf),
    st.integers(2, 30),
    st.sampled_from(["list", "dict", "mixed"]),
    scalars,
)
values = st.one_of(scalars, scalars, nested, deeply_nested)


def _nest(depth: int, kind: str, leaf: Any) -> Any:
    for i in range(depth):
        leaf = [leaf] if kind == "list" or (kind == "mixed" and i % 2) else {f"k{i}": leaf}
    return leaf


#: nesting that makes relkit's (pure Python) YAML parser recurse to its limit: ~0.5 s each, so the
#: explicit tests use them once per document kind and the generated suites leave them out
DEEP_NESTING = ["[" * 1_000 + "]" * 1_000, "[" * 10_000 + "]" * 10_000, "[" * 100_000 + "]" * 100_000]


def fuzz_snippets(pwned: Path) -> list[str]:
    return [s for s in raw_snippets(pwned) if s not in DEEP_NESTING]


def raw_snippets(pwned: Path) -> list[str]:
    """YAML written verbatim where a value goes: tags, impossible dates, special scalars, deep nesting."""
    target = json.dumps(str(pwned))
    touch = json.dumps(f"touch {pwned}")
    return [
        f"!!python/object/apply:os.system [{touch}]",
        f"!!python/object/apply:subprocess.check_call [[touch, {target}]]",
        f"!!python/object/new:os.system [{touch}]",
        f"!<tag:yaml.org,2002:python/object/apply:os.system> [{touch}]",
        "!!python/name:os.system ''",
        "!!python/name:os.system",
        "!!python/module:os ''",
        "!!python/object:collections.OrderedDict {}",
        "!!python/tuple [1, 2]",
        "!!python/bytes aGk=",
        "!binary aGVsbG8=",
        "!!binary aGVsbG8=",
        "!!binary MS4yLjM=",
        "!!binary //79",
        "!!binary '%%%'",
        "!custom x",
        "!ruby/object:Gem::Installer {i: x}",
        "!!js/function 'function(){}'",
        "!!set {a, b}",
        "!!omap [{a: 1}, {b: 2}]",
        "!!pairs [{a: 1}]",
        "!!str [1]",
        "!!map [1]",
        "!!seq {a: 1}",
        "!!null x",
        "!!str 1",
        "!!int abc",
        "!!int ''",
        "!!int _",
        "!!int +",
        "!!int 0x",
        "!!float ''",
        "!!float x",
        "!!bool maybe",
        "!!bool ''",
        "!!timestamp foo",
        "!!timestamp 2026-02-30",
        "!!merge x",
        "!!value x",
        "2026-02-30",
        "2026-02-30T22:00:00",
        "2026-13-01T00:00:00",
        "2026-11-17T24:00:00",
        "2026-11-17 22:00:00 +25:00",
        "0000-01-01",
        ".nan",
        ".inf",
        "-.inf",
        "1e999",
        "0o777",
        "0b101",
        "0x_",
        "1_000",
        "190:20:30",
        "yes",
        "off",
        "~",
        "=",
        "<<",
        "&lonely_anchor 1",
        "*undefined_alias",
        "[" * 100 + "]" * 100,
        "[{a: " * 200 + "1" + "}]" * 200,
        *DEEP_NESTING,
        "{a: " * 1_000 + "1" + "}" * 1_000,
        "{a: " * 20_000 + "1" + "}" * 20_000,
        "{a: &x [lol, lol], b: [*x, *x]}",
    ]


def billion_laughs(levels: int = 9, width: int = 10) -> str:
    lines = ['lol0: &lol0 "lol"']
    for i in range(1, levels):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


STRAY = [
    b"\x00",
    b"\x1b",
    b"\x07",
    b"\x7f",
    b"\xff",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\t",
    b"\r",
    b"\xef\xbb\xbf",
]


@dataclass
class Case:
    """One generated document: the bytes written and how they were made."""

    data: bytes
    ops: list[str] = field(default_factory=list)
    mutated: list[tuple[Any, ...]] = field(default_factory=list)
    #: False when a text-level change makes the mutated paths meaningless (truncation, stray bytes)
    paths_known: bool = True

    def describe(self) -> str:
        return " + ".join(self.ops)[:400]


#: structural mutations, weighted by repetition
OPS = ["replace"] * 3 + ["delete"] * 2 + ["unknown_key"] * 2 + ["raw"] * 3
OPS += ["rename", "wrap", "alias", "merge", "tag_directive", "huge"]
#: text-level changes of the written document ("none" most of the time)
FINISHES = ["none"] * 12 + [
    "truncate",
    "stray",
    "bomb_append",
    "bomb_only",
    "multi_doc",
    "utf16",
    "crlf",
    "tabs",
]


@st.composite
def hostile_documents(draw: st.DrawFn, base: dict[str, Any], raws: list[str]) -> Case:
    """A mutated copy of ``base``: 1-3 structural/raw mutations, then maybe a text-level one."""
    doc = copy.deepcopy(base)
    case = Case(b"")
    substitutions: dict[str, str] = {}
    directive = ""

    def sentinel(snippet: str) -> str:
        mark = f"@@RAW{len(substitutions)}@@"
        substitutions[mark] = snippet
        return mark

    for _ in range(draw(st.integers(1, 3))):
        paths = all_paths(doc)
        inner = [p for p in paths if p]
        mappings = [p for p in paths if isinstance(node_at(doc, p), dict)]
        op = draw(st.sampled_from(OPS))
        if op in ("unknown_key", "merge"):
            where = draw(st.sampled_from(mappings))
            target = node_at(doc, where)
            if op == "unknown_key":
                key, value = draw(keys), draw(values)
                target[key] = value
                case.mutated.append((*where, key))
                case.ops.append(f"unknown_key {_show_path(where)}[{key!r:.40}]={value!r:.60}")
            else:
                merged = draw(
                    st.dictionaries(keys | st.sampled_from(list(target) or ["x"]), values, max_size=3)
                )
                target[sentinel("<<")] = merged
                case.mutated.append(where)
                case.ops.append(f"merge {_show_path(where)} <<: {merged!r:.80}")
            continue
        if not inner:
            continue
        path = draw(st.sampled_from(inner))
        parent, last = node_at(doc, path[:-1]), path[-1]
        if op == "replace":
            value = draw(values)
            parent[last] = value
            case.mutated.append(path)
            case.ops.append(f"replace {_show_path(path)}={value!r:.80}")
        elif op == "huge":
            value = draw(st.sampled_from(HUGE_STRINGS))
            # a JSON string is a YAML double-quoted scalar; much faster to write than yaml.safe_dump
            parent[last] = sentinel(json.dumps(value, ensure_ascii=False))
            case.mutated.append(path)
            case.ops.append(f"huge {_show_path(path)}={value[:20]!r}*{len(value)}")
        elif op == "delete":
            del parent[last]
            case.mutated.append(path[:-1] if isinstance(parent, list) else path)
            case.ops.append(f"delete {_show_path(path)}")
        elif op == "rename":
            if not isinstance(parent, dict):
                continue
            key = draw(keys)
            parent[key] = parent.pop(last)
            case.mutated += [path, (*path[:-1], key)]
            case.ops.append(f"rename {_show_path(path)} -> {key!r:.40}")
        elif op == "wrap":
            depth = draw(st.integers(1, 20))
            parent[last] = _nest(depth, draw(st.sampled_from(["list", "dict", "mixed"])), parent[last])
            case.mutated.append(path)
            case.ops.append(f"wrap {_show_path(path)} x{depth}")
        elif op == "raw":
            snippet = draw(st.sampled_from(raws))
            parent[last] = sentinel(snippet)
            case.mutated.append(path)
            case.ops.append(f"raw {_show_path(path)}: {snippet[:80]}")
        elif op == "alias":
            other = draw(st.sampled_from(inner))
            name = draw(st.sampled_from(["a", "anc", "x1"]))
            anchored = draw(
                st.sampled_from([f"&{name} [lol, lol, lol]", f"&{name} webapp", f"&{name} {{a: 1}}"])
            )
            parent[last] = sentinel(anchored)
            other_parent = node_at(doc, other[:-1]) if other[:-1] in all_paths(doc) else None
            if other != path and isinstance(other_parent, dict | list) and _has(other_parent, other[-1]):
                other_parent[other[-1]] = sentinel(f"*{name}")
            else:
                parent[last] = sentinel(f"[{anchored}, *{name}, *{name}]")
            case.mutated += [path, other]
            case.ops.append(f"alias {_show_path(path)}={anchored} / {_show_path(other)}=*{name}")
        elif op == "tag_directive":
            directive = "%TAG !e! tag:yaml.org,2002:python/\n---\n"
            python_tags = [s for s in raws if s.startswith("!!python/")]
            snippet = draw(st.sampled_from(python_tags)).replace("!!", "!e!", 1)
            parent[last] = sentinel(snippet)
            case.mutated.append(path)
            case.ops.append(f"tag_directive {_show_path(path)}: {snippet[:80]}")

    text = dump(doc)
    for mark, snippet in substitutions.items():
        text = text.replace(f"'{mark}'", snippet).replace(f'"{mark}"', snippet)
        assert mark not in text, f"sentinel {mark} not substituted"
    text = directive + text

    data = text.encode("utf-8")
    finish = draw(st.sampled_from(FINISHES))
    if finish == "truncate":
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        data = data[:at]
        case.paths_known = False
    elif finish == "stray":
        at = draw(st.integers(0, len(data)))
        stray = draw(st.sampled_from(STRAY))
        data = data[:at] + stray + data[at:]
        case.paths_known = False
        case.ops.append(f"stray byte {stray!r} at {at}")
    elif finish == "bomb_append":
        data += ("\n" + billion_laughs()).encode()
        case.ops.append("billion laughs appended")
    elif finish == "bomb_only":
        data = billion_laughs(draw(st.integers(2, 12)), draw(st.integers(2, 12))).encode()
        case.ops.append("billion laughs document")
    elif finish == "multi_doc":
        data = data + b"\n---\n" + data
        case.ops.append("two documents")
    elif finish == "utf16":
        data = text.encode("utf-16")
        case.ops.append("UTF-16")
    elif finish == "crlf":
        data = data.replace(b"\n", b"\r\n")
        case.ops.append("CRLF")
    elif finish == "tabs":
        data = re.sub(rb"(?m)^  ", b"\t", data, count=draw(st.integers(1, 3)))
        case.paths_known = False
        case.ops.append("tab indentation")
    if finish == "truncate":
        case.ops.append(f"truncated at {len(data)}")
    case.data = data
    return case


def _has(container: dict[Any, Any] | list[Any], key: Any) -> bool:
    if isinstance(container, dict):
        return key in container
    return isinstance(key, int) and 0 <= key < len(container)


# -- the generated suites ----------------------------------------------------------------


@dataclass
class Tally:
    kind: str
    runs: int = 0
    exits: Counter[str] = field(default_factory=Counter)
    ops: Counter[str] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # reason -> sample case
    failure_counts: Counter[str] = field(default_factory=Counter)

    def fail(self, reason: str, case: Case) -> None:
        key = re.sub(r"/\S+", "<path>", reason)[:160]
        self.failure_counts[key] += 1
        self.failures.setdefault(key, f"{reason[:300]}\n      case: {case.describe()}")

    def summary(self, seconds: float) -> str:
        ops = ", ".join(f"{k} {v}" for k, v in sorted(self.ops.items()))
        return (
            f"{self.kind}: {self.runs} generated cases in {seconds:.1f}s; "
            f"exit codes {dict(sorted(self.exits.items()))}; mutations: {ops}"
        )

    def report(self) -> str:
        lines = [f"{sum(self.failure_counts.values())} of {self.runs} {self.kind} cases misbehaved:"]
        for key, count in self.failure_counts.most_common():
            lines.append(f"  [{count}x] {self.failures[key]}")
        return "\n".join(lines)


def judge(
    tally: Tally,
    case: Case,
    outcome: Outcome,
    file: Path,
    accepted: Callable[[Path], str | None],
    pwned: Path,
) -> None:
    """Record whether one case ended as it must."""
    tally.runs += 1
    tally.exits[str(outcome.code)] += 1
    for op in case.ops:
        tally.ops[op.split(" ", 1)[0]] += 1
    if pwned.exists():
        tally.fail(f"a tag payload ran: {pwned} was created", case)
        pwned.unlink()
    if outcome.escaped:
        tally.fail(f"exception escaped main(): {outcome.escaped}", case)
    elif outcome.code == 0:
        if problem := accepted(file):
            tally.fail(f"exit 0 but {problem}", case)
    elif outcome.code == 2:
        mutated = case.mutated if case.paths_known else None
        if problem := judge_bad_input(outcome, file, mutated):
            tally.fail(problem, case)
    else:
        first = outcome.err.strip().splitlines()[0] if outcome.err.strip() else "(no stderr)"
        first = re.sub(r"\(traceback in .*\)", "", first)
        tally.fail(f"exit {outcome.code}: {first[:240]}", case)


@functools.cache
def published_schema(*args: str) -> Any:
    """The JSON Schema ``relkit schema [--config]`` prints (what editors and other tools are given)."""
    outcome = run_cli("schema", *args)
    assert outcome.code == 0, outcome.err
    return json.loads(outcome.out)


def _jsonable(value: Any) -> Any:
    """A YAML document as JSON Schema sees it: dates and times as ISO strings (their YAML form)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


def _number(text: str) -> bool:
    try:
        float(text.strip())
    except ValueError:
        return False
    return True


def lax_conversion(error: jsonschema.ValidationError) -> bool:
    """A schema error that pydantic's lax mode turns into a valid value (documented conversions):
    a number written as a string or as a boolean; bytes (YAML ``!!binary``) as UTF-8 text. Under
    ``anyOf``/``oneOf``: when one alternative fails only by such conversions."""
    if error.validator in ("anyOf", "oneOf"):
        branches: dict[Any, list[jsonschema.ValidationError]] = {}
        for sub in error.context or []:
            branches.setdefault(sub.schema_path[0], []).append(sub)
        return any(all(lax_conversion(e) for e in errors) for errors in branches.values())
    if error.validator != "type":
        return False
    value, expected = error.instance, error.validator_value
    kinds = set(expected) if isinstance(expected, list) else {expected}
    if kinds & {"integer", "number"}:
        if isinstance(value, bool):
            return True  # True/False as 1/0
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if isinstance(text, str) and _number(text):
            return "integer" not in kinds or float(text) == int(float(text))
    if "string" in kinds and isinstance(value, bytes):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return False


def schema_problem(file: Path, schema: Any) -> str | None:
    """Why the JSON Schema refuses the document (read by PyYAML, not relkit), or None."""
    try:
        document = yaml.safe_load(file.read_bytes())
    except yaml.YAMLError as exc:
        return f"PyYAML's safe loader refuses it: {exc!s:.200}"
    stripped = _strip_strings(_jsonable(document))  # pydantic strips every text field
    validator = jsonschema.Draft202012Validator(schema)
    errors = [e for e in validator.iter_errors(stripped) if not lax_conversion(e)]
    if not errors:
        return None
    first = errors[0]
    where = ".".join(str(p) for p in first.absolute_path) or "(top level)"
    return f"the JSON Schema of relkit schema refuses it: {where}: {first.message[:200]}"


def _strip_strings(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {k: _strip_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_strings(v) for v in value]
    return value


def manifest_accepted(file: Path) -> str | None:
    """For exit 0: the document passes the published JSON Schema, and its names are safe (an
    independent predicate on the values as written)."""
    if problem := schema_problem(file, published_schema()):
        return problem
    document = yaml.safe_load(file.read_bytes())
    for name in ("app", "version"):
        if not safe_name(document.get(name)):
            return f"unsafe {name} accepted: {document.get(name)!r:.100}"
    return None


def config_accepted(file: Path) -> str | None:
    """For exit 0: the document passes the published JSON Schema of relkit.yml, and its names and
    shared paths are safe (independent predicates on the values as written)."""
    if problem := schema_problem(file, published_schema("--config")):
        return problem
    document = yaml.safe_load(file.read_bytes())
    environments = document.get("environments") or {}
    names = [("app", document.get("app"))] + [("environments key", e) for e in environments]
    names += [
        (f"environments.{n}.promote_from", e["promote_from"])
        for n, e in environments.items()
        if isinstance(e, dict) and e.get("promote_from") is not None
    ]
    for what, value in names:
        if not safe_name(value):
            return f"unsafe {what} accepted: {value!r:.100}"
    for p in document.get("shared") or []:
        if not safe_shared(p):
            return f"unsafe shared path accepted: {p!r:.100}"
    return None


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory, outside any project: ``relkit validate FILE`` checks the file alone."""
    monkeypatch.chdir(tmp_path)
    assert locate_config() is None, "a relkit.yml above the test's directory"
    return tmp_path


@pytest.fixture
def project_dir(outside: Path) -> Path:
    """releases/ with the example's manifest, no relkit.yml: validate checks the manifest file alone."""
    dest = outside / "project"
    (dest / "releases").mkdir(parents=True)
    shutil.copy(MANIFEST_SRC, dest / "releases" / "2.0.0.yml")
    return dest


@pytest.fixture
def pwned(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


@pytest.fixture(autouse=True)
def built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build relkit's click command once instead of on every main() call (half of a call's time).

    ``relkit.cli.main`` calls ``typer.main.get_command(app)``, a pure construction from ``app``; the
    tests here reuse the result so that 2 x 1000+ generated cases fit the time budget. Everything else
    main() does (argument parsing, loading, error mapping, exit codes) runs unchanged.
    """
    built = typer.main.get_command(cli.app)
    original = typer.main.get_command
    monkeypatch.setattr(typer.main, "get_command", lambda app: built if app is cli.app else original(app))


def test_unmutated_documents_are_valid(project_dir: Path, tmp_path: Path) -> None:
    """The harness itself: the example documents, dumped like the generated ones, pass (exit 0)."""
    manifest = project_dir / "releases" / "dumped.yml"
    manifest.write_text(dump(BASE_MANIFEST), encoding="utf-8")
    result = run_cli("validate", manifest)
    assert (result.code, result.escaped) == (0, ""), result.err
    assert manifest_accepted(manifest) is None

    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    (config_dir / "relkit.yml").write_text(dump(BASE_CONFIG), encoding="utf-8")
    result = run_cli("-C", config_dir, "status")
    assert (result.code, result.escaped) == (0, ""), result.err
    assert config_accepted(config_dir / "relkit.yml") is None


def test_generated_hostile_manifests(project_dir: Path, pwned: Path) -> None:
    """>= 1000 mutated manifests through `relkit validate`: exit 0 (really valid) or 2 (naming the field)."""
    tally = Tally("manifest")
    file = project_dir / "releases" / "hostile.yml"
    started = time.monotonic()

    @FUZZ_SETTINGS
    @given(case=hostile_documents(BASE_MANIFEST, fuzz_snippets(pwned)))
    def one(case: Case) -> None:
        file.write_bytes(case.data)
        outcome = run_cli("validate", file)
        judge(tally, case, outcome, file, manifest_accepted, pwned)

    one()
    print("\n" + tally.summary(time.monotonic() - started))
    assert not pwned.exists()
    assert tally.runs >= MIN_CASES, tally.summary(time.monotonic() - started)
    assert not tally.failures, tally.report()


def test_generated_hostile_configs(tmp_path: Path, pwned: Path) -> None:
    """>= 1000 mutated relkit.yml files through `relkit status`: exit 0 (really valid) or 2 (naming it)."""
    tally = Tally("relkit.yml")
    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    file = config_dir / "relkit.yml"
    started = time.monotonic()

    @FUZZ_SETTINGS
    @given(case=hostile_documents(BASE_CONFIG, fuzz_snippets(pwned)))
    def one(case: Case) -> None:
        file.write_bytes(case.data)
        outcome = run_cli("-C", config_dir, "status")
        judge(tally, case, outcome, file, config_accepted, pwned)

    one()
    print("\n" + tally.summary(time.monotonic() - started))
    assert not pwned.exists()
    assert tally.runs >= MIN_CASES, tally.summary(time.monotonic() - started)
    assert not tally.failures, tally.report()


# -- explicit tables -------------------------------------------------------------------

#: names that must never become an app name, version or environment name (they become paths on hosts)
BAD_NAMES = {
    "dotdot": "..",
    "dotdot-inside": "2..0",
    "traversal": "../../etc",
    "slash": "2.0/0",
    "absolute": "/etc",
    "semicolon": "2.0;reboot",
    "pipe": "2.0|sh",
    "ampersand": "2.0&id",
    "subshell": "$(id)",
    "subshell-inside": "2.0$(touch x)",
    "backtick": "`id`",
    "redirect": "2.0>x",
    "newline": "2.0\nid",
    "leading-dash": "-rf",
    "leading-double-dash": "--help",
    "space": "2 0",
    "padded": " 2.0 ",
    "too-long": "a" * 65,
    "huge": "a" * HUGE,
    "empty": "",
    "nul": "2.0\x00",
    "rtl": f"{RTL}2.0",
    "zero-width": f"2.0{ZWSP}",
    "emoji": "2.0😀",
    "dollar": "$HOME",
    "glob": "*",
    "tilde": "~root",
    "quote": "2'0",
    "backslash": "2\\0",
    "leading-dot": ".hidden",
}
#: shared paths (nested paths like data/uploads are fine; these are not)
BAD_SHARED = {
    "dotdot": "..",
    "dotdot-segment": "data/..",
    "traversal": "../../etc",
    "inner-traversal": "data/../../etc",
    "absolute": "/etc",
    "trailing-slash": "data/",
    "double-slash": "data//log",
    "dot-segment": "./data",
    "semicolon": "data;reboot",
    "pipe": "data|sh",
    "ampersand": "data&id",
    "subshell": "$(id)",
    "backtick": "`id`",
    "redirect": "data>x",
    "newline": "data\nlog",
    "leading-dash": "-rf",
    "dash-segment": "data/-rf",
    "space": "my data",
    "too-long": "a" * 65,
    "huge": "a" * HUGE,
    "empty": "",
    "nul": "data\x00",
    "rtl": f"{RTL}data",
    "zero-width": f"data{ZWSP}",
    "tilde": "~root",
    "glob": "data/*",
}


def _write_manifest(project_dir: Path, **changes: Any) -> Path:
    data = copy.deepcopy(BASE_MANIFEST)
    data.update(changes)
    path = project_dir / "releases" / "table.yml"
    path.write_text(dump(data), encoding="utf-8")
    return path


def _write_config(tmp_path: Path, data: dict[str, Any]) -> Path:
    config_dir = tmp_path / "cfg"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "relkit.yml").write_text(dump(data), encoding="utf-8")
    return config_dir


def _assert_rejected(result: Outcome, file: Path, path: tuple[Any, ...], expected: str) -> None:
    """Exit 2 naming ``file``, and a problem at exactly ``path`` saying ``expected``."""
    assert result.escaped == "", result.escaped
    assert result.code == 2, f"exit {result.code}, stderr: {result.err[:500]!r}"
    assert f"{file}: " in result.err
    lines = problem_lines(result.err)
    exact = re.compile(rf"{_path_pattern(path)}: ", re.DOTALL)
    assert any(exact.match(line) and expected in line for line in lines), (
        f"no '{_show_path(path)}: {expected}…' line in {result.err[:800]!r}"
    )


@pytest.mark.parametrize("value", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
@pytest.mark.parametrize("field_name", ["version", "app"])
def test_manifest_rejects_unsafe_names(project_dir: Path, field_name: str, value: str) -> None:
    path = _write_manifest(project_dir, **{field_name: value})
    result = run_cli("validate", path)
    _assert_rejected(result, path, (field_name,), "must be 1-64 characters")


@pytest.mark.parametrize("value", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_config_rejects_unsafe_app_names(tmp_path: Path, value: str) -> None:
    config_dir = _write_config(tmp_path, {**copy.deepcopy(BASE_CONFIG), "app": value})
    result = run_cli("-C", config_dir, "status")
    _assert_rejected(result, config_dir / "relkit.yml", ("app",), "must be 1-64 characters")


@pytest.mark.parametrize("value", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_config_rejects_unsafe_environment_names(tmp_path: Path, value: str) -> None:
    data = copy.deepcopy(BASE_CONFIG)
    data["environments"] = {value: copy.deepcopy(data["environments"]["staging"]), **data["environments"]}
    config_dir = _write_config(tmp_path, data)
    result = run_cli("-C", config_dir, "status")
    _assert_rejected(result, config_dir / "relkit.yml", ("environments", value), "must be 1-64 characters")


@pytest.mark.parametrize("value", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_config_rejects_unsafe_promote_from(tmp_path: Path, value: str) -> None:
    data = copy.deepcopy(BASE_CONFIG)
    data["environments"]["production"]["promote_from"] = value
    config_dir = _write_config(tmp_path, data)
    result = run_cli("-C", config_dir, "status")
    where = ("environments", "production", "promote_from")
    _assert_rejected(result, config_dir / "relkit.yml", where, "must be 1-64 characters")


@pytest.mark.parametrize("value", list(BAD_SHARED.values()), ids=list(BAD_SHARED))
def test_config_rejects_unsafe_shared_paths(tmp_path: Path, value: str) -> None:
    data = copy.deepcopy(BASE_CONFIG)
    data["shared"] = ["data", value]
    config_dir = _write_config(tmp_path, data)
    result = run_cli("-C", config_dir, "status")
    _assert_rejected(result, config_dir / "relkit.yml", ("shared", 1), "")


def _manifest_with_raw(project_dir: Path, key: str, snippet: str) -> Path:
    """The example manifest with ``key: <snippet>`` written verbatim (top-level key)."""
    lines = [
        f"{key}: {snippet}" if line.startswith(f"{key}:") else line
        for line in MANIFEST_SRC.read_text(encoding="utf-8").splitlines()
    ]
    path = project_dir / "releases" / "raw.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _config_with_raw(tmp_path: Path, key: str, snippet: str) -> Path:
    lines = [
        f"{key}: {snippet}" if line.startswith(f"{key}:") else line
        for line in CONFIG_SRC.read_text(encoding="utf-8").splitlines()
    ]
    config_dir = tmp_path / "cfg"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "relkit.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config_dir


def _raw_ids(pwned: Path) -> list[str]:
    ids = [re.sub(r"\s+", " ", s) for s in raw_snippets(pwned)]
    return [i if len(i) <= 50 else f"{i[:8]}...{i[-4:]} ({len(i)} chars)" for i in ids]


RAW_PARAMS = list(enumerate(_raw_ids(Path("/PWNED"))))


@pytest.mark.parametrize("index", [i for i, _ in RAW_PARAMS], ids=[s for _, s in RAW_PARAMS])
def test_raw_yaml_in_manifest_never_crashes_or_runs(project_dir: Path, pwned: Path, index: int) -> None:
    """Each tag / impossible date / special scalar / deep nesting as the manifest's version."""
    snippet = raw_snippets(pwned)[index]
    path = _manifest_with_raw(project_dir, "version", snippet)
    result = run_cli("validate", path)
    assert not pwned.exists(), "a YAML tag payload ran"
    assert result.escaped == "", result.escaped
    assert result.code in (0, 2), f"exit {result.code} for version: {snippet[:80]}: {result.err[:300]!r}"
    if result.code == 0:  # e.g. `!!str 1` or `0o777`: a valid version after all
        assert manifest_accepted(path) is None
    else:
        assert judge_bad_input(result, path, [("version",)]) is None, result.err[:500]


@pytest.mark.parametrize("index", [i for i, _ in RAW_PARAMS], ids=[s for _, s in RAW_PARAMS])
def test_raw_yaml_in_config_never_crashes_or_runs(tmp_path: Path, pwned: Path, index: int) -> None:
    """Each tag / impossible date / special scalar / deep nesting as relkit.yml's deploy_path."""
    snippet = raw_snippets(pwned)[index]
    config_dir = _config_with_raw(tmp_path, "deploy_path", snippet)
    result = run_cli("-C", config_dir, "status")
    assert not pwned.exists(), "a YAML tag payload ran"
    assert result.escaped == "", result.escaped
    assert result.code in (0, 2), f"exit {result.code} for deploy_path: {snippet[:80]}: {result.err[:300]!r}"
    if result.code == 0:
        assert config_accepted(config_dir / "relkit.yml") is None
    else:
        problem = judge_bad_input(result, config_dir / "relkit.yml", [("deploy_path",)])
        assert problem is None, result.err[:500]


@pytest.mark.parametrize("levels", [3, 9, 12])
def test_billion_laughs_is_refused_quickly(project_dir: Path, tmp_path: Path, levels: int) -> None:
    bomb = billion_laughs(levels)
    manifest = project_dir / "releases" / "bomb.yml"
    manifest.write_text(MANIFEST_SRC.read_text(encoding="utf-8") + bomb, encoding="utf-8")
    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    (config_dir / "relkit.yml").write_text(bomb, encoding="utf-8")
    started = time.monotonic()
    for result, file in (
        (run_cli("validate", manifest), manifest),
        (run_cli("-C", config_dir, "status"), config_dir / "relkit.yml"),
    ):
        assert result.code == 2, result.err
        assert f"{file}: not valid YAML" in result.err
        assert "aliases" in result.err
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "pattern", ["a{4294967296}", "x{99999999999999999999}", "(", "[", "a{1,2}{3}", "(?P<", "\\"]
)
def test_health_log_pattern_bad_regex_is_bad_input(tmp_path: Path, pattern: str) -> None:
    """health.checks[].pattern must be a regex: any refusal of re.compile is exit 2 naming the check."""
    data = copy.deepcopy(BASE_CONFIG)
    errors = next(i for i, c in enumerate(data["health"]["checks"]) if "log" in c)
    data["health"]["checks"][errors]["pattern"] = pattern
    config_dir = _write_config(tmp_path, data)
    result = run_cli("-C", config_dir, "status")
    where = ("health", "checks", errors, "pattern")
    _assert_rejected(result, config_dir / "relkit.yml", where, "not a valid regular expression")


@pytest.mark.parametrize(
    "zone",
    ["Asia", "America", "zone.tab", "tzdata.zi", "leapseconds", ".", "..", "/etc/passwd", "UTC/", "\x00"],
)
def test_timezones_that_are_not_zones_are_bad_input(project_dir: Path, tmp_path: Path, zone: str) -> None:
    data = copy.deepcopy(BASE_MANIFEST)
    data["schedule"]["timezone"] = zone
    manifest = project_dir / "releases" / "zone.yml"
    manifest.write_text(dump(data), encoding="utf-8")
    _assert_rejected(run_cli("validate", manifest), manifest, ("schedule", "timezone"), "")

    config = copy.deepcopy(BASE_CONFIG)
    config["policy"]["freezes"][0]["timezone"] = zone
    config_dir = _write_config(tmp_path, config)
    where = ("policy", "freezes", 0, "timezone")
    _assert_rejected(
        run_cli("-C", config_dir, "status"), config_dir / "relkit.yml", where, "unknown IANA timezone"
    )


@pytest.mark.parametrize(
    "data",
    [b"", b"~\n", b"- a\n- b\n", b"just a string\n", b"42\n", b"\xff\xfe\x00", b"\x00", b"a: 1\n---\nb: 2\n"],
    ids=["empty", "null", "list", "string", "number", "utf16-bom", "nul", "two-documents"],
)
def test_documents_that_are_not_mappings(project_dir: Path, tmp_path: Path, data: bytes) -> None:
    manifest = project_dir / "releases" / "odd.yml"
    manifest.write_bytes(data)
    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    (config_dir / "relkit.yml").write_bytes(data)
    for result, file in (
        (run_cli("validate", manifest), manifest),
        (run_cli("-C", config_dir, "status"), config_dir / "relkit.yml"),
    ):
        assert result.code == 2, result.err
        assert judge_bad_input(result, file, None) is None, result.err


def test_oversized_documents_are_refused(project_dir: Path, tmp_path: Path) -> None:
    data = copy.deepcopy(BASE_MANIFEST)
    data["rollback_plan"] = "x" * 1_100_000
    manifest = project_dir / "releases" / "big.yml"
    manifest.write_text(dump(data), encoding="utf-8")
    result = run_cli("validate", manifest)
    assert result.code == 2 and f"{manifest}: release manifest larger than" in result.err, result.err

    config_dir = _write_config(tmp_path, {**copy.deepcopy(BASE_CONFIG), "deploy_path": "/" + "x" * 1_100_000})
    result = run_cli("-C", config_dir, "status")
    assert result.code == 2 and "project config larger than" in result.err, result.err


@pytest.mark.parametrize(
    "key",
    ["\x1b[2J\x1b[31mforged", "\x1b]0;owned\x07", "x\n  - version: a forged second problem"],
    ids=["csi", "osc-title", "newline"],
)
def test_error_output_does_not_echo_terminal_escapes(project_dir: Path, key: str) -> None:
    """An unknown key carrying control characters must not reach the operator's terminal raw.

    (ESC sequences clear the screen / retitle the terminal; a newline forges extra problem lines.)
    """
    data = copy.deepcopy(BASE_MANIFEST)
    data["artifact"][key] = "x"
    manifest = project_dir / "releases" / "escape.yml"
    manifest.write_text(dump(data), encoding="utf-8")
    result = run_cli("validate", manifest)
    assert result.code == 2, result.err
    assert "artifact." in result.err and "unknown key" in result.err
    assert len(problem_lines(result.err)) == 1, f"forged problem lines: {result.err!r}"
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.err), (
        f"raw control characters: {result.err!r}"
    )


# -- a tampered artifact never reaches a host --------------------------------------------


def test_deploy_with_wrong_sha256_is_blocked_before_any_host(
    example_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_root = tmp_path / "demo"
    monkeypatch.setenv("RELKIT_DEMO_ROOT", str(demo_root))
    other = example_project.parent / "webapp" / "dist" / "webapp-1.0.0.tar.gz"
    wrong = hashlib.sha256(other.read_bytes()).hexdigest()
    data = yaml.safe_load(MANIFEST_SRC.read_text(encoding="utf-8"))
    assert data["artifact"]["sha256"] != wrong
    data["artifact"]["sha256"] = wrong
    manifest = example_project / "releases" / "2.0.0-tampered.yml"
    manifest.write_text(dump(data), encoding="utf-8")

    result = run_cli(
        "-C", example_project, "--as", "ops-demo", "--yes", "deploy", manifest, "--env", "staging"
    )

    assert result.escaped == "", result.escaped
    assert result.code == 3, f"exit {result.code}: {result.err[-800:]!r}"
    blocked = [line for line in result.out.splitlines() if "artifact_checksum" in line]
    assert blocked and "BLOCKED" in blocked[0], result.out
    assert "blocked by the gates" in result.err
    releases = [p for p in demo_root.rglob("releases")] if demo_root.exists() else []
    assert releases == [], f"a host was touched: {releases}"
    assert not (demo_root / "staging").exists()


# -- the harness itself ------------------------------------------------------------------


def _outcome(file: Path, *lines: str) -> Outcome:
    problems = "".join(f"  - {line}\n" for line in lines)
    return Outcome(2, "", f"error (exit 2): {file}: invalid Manifest\n{problems}")


def test_the_judge_wants_the_exact_field_path(tmp_path: Path) -> None:
    """A problem reported at an ancestor of the mutated field, or at (top level), is a defect; the
    mutated field, a field inside it, or the object whose rule quotes the mutated key are not."""
    file = tmp_path / "m.yml"
    mutated = [("schedule", "timezone")]
    for cut_short in ("schedule: unknown IANA timezone 'Mars/Base'", "(top level): invalid timezone"):
        problem = judge_bad_input(_outcome(file, cut_short), file, mutated)
        assert problem is not None and "not at the mutated fields ['schedule.timezone']" in problem
    assert (
        judge_bad_input(_outcome(file, "schedule.timezone: unknown IANA timezone 'x'"), file, mutated) is None
    )
    every = _outcome(file, "schedule.timezone: unknown IANA timezone 'x'", "owners: Keys should be strings")
    assert judge_bad_input(every, file, mutated) is not None  # every line, not just one, is at a mutation
    kind = [("smoke", "checks", 0, "http")]
    rule = _outcome(file, "smoke.checks.0: give exactly one of 'http', 'port' or 'command'")
    assert judge_bad_input(rule, file, kind) is None
    assert judge_bad_input(_outcome(file, "smoke: give exactly one of 'http'"), file, kind) is not None


def test_the_oracle_of_accepted_documents_is_not_relkits_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were relkit's loader to accept anything, the published JSON Schema would still refuse a
    manifest with a bad sha256 or an unsafe version: the oracle does not ask relkit.loading."""
    import relkit.loading

    monkeypatch.setattr(relkit.loading, "load_manifest", lambda path: None)
    monkeypatch.setattr(relkit.loading, "validate_data", lambda model, data, source: None)
    file = tmp_path / "m.yml"
    file.write_text(dump({**copy.deepcopy(BASE_MANIFEST), "artifact": {"path": "a.tgz", "sha256": "xyz"}}))
    assert (manifest_accepted(file) or "").startswith(
        "the JSON Schema of relkit schema refuses it: artifact.sha256:"
    )
    file.write_text(dump({**copy.deepcopy(BASE_MANIFEST), "version": "../../etc"}))
    assert (manifest_accepted(file) or "").startswith("the JSON Schema of relkit schema refuses it: version:")
    file.write_text(dump({**copy.deepcopy(BASE_MANIFEST), "tests": {"open_critical_bugs": "2"}}))
    assert manifest_accepted(file) is None  # "2": a number as text, which pydantic reads as 2
