"""Secret values relkit knows of, and the redactor that keeps them out of everything it writes.

Secrets are (a) Ansible Vault-encrypted values of an environment's inventory, (b) the
controller environment variables ``relkit.yml`` lists under ``secrets:``, (c) the variables
named by any ``*_env`` field of relkit.yml (notification ``token_env``/``url_env``/
``password_env``, data ``password_env``) and the vault password itself.

None of them travels through extravars: ``secrets:`` and data passwords are served to the
play on a private socket (:mod:`relkit.secret_channel`), vault values are decrypted by Ansible
itself. relkit's modules get every such value in a ``no_log`` option (``secrets``), so Ansible
masks it in whatever they return. On top of that, this module's :class:`Redactor` replaces
each value with ``********`` in every ansible-runner event (before it is written), in the run's
private data dir after the play, in each ledger entry before it is sealed, in notification
messages and in all terminal and JSON output. The process-wide registry (:func:`register`,
:func:`redact`) is what the ledger and the terminal use.
"""

from __future__ import annotations

import bisect
import html
import json
import os
import re
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel

if TYPE_CHECKING:
    from relkit.config import ProjectConfig

REDACTED = "********"
MIN_LENGTH = 4
"""Shorter values are not redacted (replacing every "ab" would wreck all output); README says so."""
VAULT_HEADER = b"$ANSIBLE_VAULT;"
MAX_SCAN_BYTES = 4 * 1024 * 1024
"""Inventory files larger than this are not scanned for vault data."""
KEEP_IN_ENV = frozenset({"PATH", "HOME", "PYTHONPATH", "SSH_AUTH_SOCK", "TMPDIR", "LANG", "RELKIT_CLI"})
"""Variables the play needs even if a secret hides in them (they are scrubbed afterwards)."""


MIN_LINE_LENGTH = 2 * MIN_LENGTH
"""A line of a multi-line value is redacted on its own from this length (stripped) on: shorter
lines ("}", "true,") are everyday words, not secrets."""


def _bases(value: str) -> Iterator[str]:
    """``value`` as commands and parsers pass it on: as set, trimmed, with its runs of white
    space squashed to one space (a check's one-line detail, a Markdown cell), and each line of
    a multi-line value (stripped) on its own."""
    yield value
    yield value.strip()
    yield " ".join(value.split())
    if "\n" in value or "\r" in value:
        for line in value.splitlines():
            for form in (line.strip(), " ".join(line.split())):
                if len(form) >= MIN_LINE_LENGTH:
                    yield form


def _shell(value: str) -> Iterator[str]:
    """``value`` and what a shell quoting leaves of it between its quotes: ``shlex.quote`` and
    Ansible's ``| quote`` (``'`` becomes ``'"'"'``), the POSIX ``'\\''`` idiom, a double-quoted
    shell word."""
    yield value
    if "'" in value:
        yield value.replace("'", "'\"'\"'")
        yield value.replace("'", "'\\''")
    yield re.sub(r'([\\"$`])', r"\\\1", value)


_JINJA_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"}


def _escaped(value: str) -> Iterator[str]:
    """``value`` as serialisers write it inside a string: JSON (ASCII-only or not, once or twice:
    job events quote module results), Python's repr (in either quote style) and HTML (reports)."""
    yield value
    for ascii_only in (True, False):
        once = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        yield once
        yield json.dumps(once, ensure_ascii=ascii_only)[1:-1]
        yield json.dumps(once, ensure_ascii=not ascii_only)[1:-1]
    yield repr(value)[1:-1]
    yield repr(value + "'\"")[1:-4]  # a string holding both quotes: repr escapes the single one
    yield html.escape(value)
    yield html.escape(value, quote=False)
    yield "".join(_JINJA_ESCAPES.get(c, c) for c in value)  # markupsafe, as Jinja autoescapes


def _forms(value: str) -> Iterator[str]:
    """Every literal form of ``value`` the redactor looks for: each base (as set, trimmed, each
    line), shell-quoted, then escaped; plus the fully URL-quoted ones. Other URL-quotings (any
    ``safe`` set) and mixtures of encodings are recognised by decoding the text (:func:`_views`)."""
    for base in _bases(value):
        for quoted in _shell(base):
            yield from _escaped(quoted)
        yield urllib.parse.quote(base, safe="")
        yield urllib.parse.quote_plus(base)


_ESCAPES = {
    "url": re.compile(r"(?:%[0-9A-Fa-f]{2})+"),
    "backslash": re.compile(
        r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\[bfnrt]"
        r"|\\[!-/:-@\[-`{-~]"
    ),
    "html": re.compile(r"&(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});"),
}
"""What each decoding undoes: a run of URL escapes (``%XX``: UTF-8 bytes); one backslash escape
(JSON's, and a backslash before any ASCII punctuation: Markdown, repr, shells); one HTML
character reference."""
_CONTROL = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
MAX_DECODINGS = 3
"""Decodings chained at most (a URL-quoted value in a JSON string in a JSON string)."""
_NEXT = {
    "": ("url", "backslash", "form", "html"),
    "backslash": ("url", "backslash", "form", "html"),
    "html": ("url", "backslash", "form", "html"),
    "url": ("url", "backslash"),
    "form": ("backslash",),
}
"""Which decoding may follow which (``form`` already decodes what ``url`` does)."""


def _unbackslash(escape: str) -> str:
    if len(escape) == 2:
        return _CONTROL.get(escape[1], escape[1])
    if len(escape) == 12:  # a surrogate pair: one character beyond the BMP
        high, low = int(escape[2:6], 16), int(escape[8:12], 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    return chr(int(escape[2:6], 16))


def _unhtml(entity: str) -> str:
    name = entity[1:-1]
    if not name.startswith("#"):
        return _ENTITIES[name]
    code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
    return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"


def _unurl(escapes: str) -> str:
    return bytes.fromhex(escapes.replace("%", "")).decode("utf-8", "surrogateescape")


_DECODE = {"url": _unurl, "form": _unurl, "backslash": _unbackslash, "html": _unhtml}


class _View:
    """``text`` decoded once: its URL escapes (``kind`` "url"; "form": each ``+`` is a space too),
    its backslash escapes ("backslash") or its HTML character references ("html"); and the way
    back, from a span of the view to the span of ``text`` it was decoded from (worked out only
    when a value is found: that is rare)."""

    def __init__(self, text: str, kind: str) -> None:
        self.kind = kind
        self._origins: list[int] = []  # where each decoded escape (run) starts in text
        self._ends: list[int] = []  # ... and ends
        self._decoded: list[str] = []  # what it decoded to
        self._starts: list[int] | None = None  # where it starts in the view
        decode = _DECODE[kind]

        def swap(match: re.Match[str]) -> str:
            decoded = decode(match.group())
            self._origins.append(match.start())
            self._ends.append(match.end())
            self._decoded.append(decoded)
            return decoded

        source = text.replace("+", " ") if kind == "form" else text  # same length: same offsets
        self.text = _ESCAPES["url" if kind == "form" else kind].sub(swap, source)

    def _view_starts(self) -> list[int]:
        if self._starts is None:
            starts, shift = [], 0
            for origin, end, decoded in zip(self._origins, self._ends, self._decoded, strict=True):
                starts.append(origin - shift)
                shift += end - origin - len(decoded)
            self._starts = starts
        return self._starts

    def _width(self, escape: int, char: int) -> int:
        """How many characters of text the ``char``-th character decoded by ``escape`` takes."""
        if self.kind in ("url", "form"):
            return 3 * len(self._decoded[escape][char].encode("utf-8", "surrogateescape"))
        return self._ends[escape] - self._origins[escape]  # one character per escape

    def _at(self, pos: int, after: bool) -> int:
        """Where the view's character ``pos`` starts in text (``after``: where it ends)."""
        starts = self._view_starts()
        k = bisect.bisect_right(starts, pos) - 1
        if k < 0:
            return pos + after
        inside = pos - starts[k]
        if inside >= len(self._decoded[k]):  # plain text after escape k
            return self._ends[k] + inside - len(self._decoded[k]) + after
        begin = self._origins[k] + sum(self._width(k, i) for i in range(inside))
        return begin + (self._width(k, inside) if after else 0)

    def origin(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that the view's ``[start, end)`` was decoded from."""
        return self._at(start, False), self._at(end - 1, True)


_MARK = {"url": "%", "backslash": "\\", "html": "&"}


def _decodes(kind: str, text: str) -> bool:
    if kind == "form":
        return "+" in text
    return _MARK[kind] in text and _ESCAPES[kind].search(text) is not None


class _Chain:
    """Views decoding ``text`` one after the other; :meth:`origin` maps back through them all."""

    def __init__(self, views: tuple[_View, ...]) -> None:
        self.views = views
        self.text = views[-1].text

    def origin(self, start: int, end: int) -> tuple[int, int]:
        for view in reversed(self.views):
            start, end = view.origin(start, end)
        return start, end


def _views(text: str, plus: bool) -> Iterator[_Chain]:
    """``text`` decoded every way it can be, up to :data:`MAX_DECODINGS` decodings deep: URL
    escapes (``urllib.parse.quote`` with any ``safe`` set; with ``plus`` also ``quote_plus``),
    backslash escapes (JSON, Markdown, repr) and HTML character references, in any order (a
    quoted URL in a JSON string, in a Markdown or HTML report, a value quoted twice...)."""
    seen = {text}
    frontier: list[tuple[tuple[_View, ...], str]] = [((), text)]
    for _ in range(MAX_DECODINGS):
        deeper = []
        for chain, current in frontier:
            for kind in _NEXT[chain[-1].kind if chain else ""]:
                if (kind == "form" and not plus) or not _decodes(kind, current):
                    continue
                view = _View(current, kind)
                if view.text in seen:
                    continue
                seen.add(view.text)
                deeper.append(((*chain, view), view.text))
                yield _Chain((*chain, view))
        frontier = deeper


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:  # overlapping; adjacent values stay two
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


class Redactor:
    """Replaces every known secret value with ``********`` in text, data, bytes and files.

    A value is recognised by meaning rather than by a list of guessed encodings: the text is
    searched for every literal form of the value (:func:`_forms`: as set, trimmed, squashed,
    each line; shell-quoted; JSON-, repr- or HTML-escaped) both as it is and decoded
    (:func:`_views`: URL escapes, ``+`` as a space, backslash escapes, HTML character
    references, chained), so a value URL-quoted with any ``safe`` set, form-encoded, or quoted
    then JSON-, Markdown- or HTML-escaped is found, and the exact span it occupies in the text
    is replaced. Values shorter than :data:`MIN_LENGTH` are left alone."""

    def __init__(self, values: Iterable[Any] = ()) -> None:
        kept = {v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH}
        forms = {f for v in kept for f in _forms(v) if len(f) >= MIN_LENGTH}
        ordered = sorted(forms, key=lambda f: (-len(f), f))  # longest first: no partial leftovers
        self.values: tuple[str, ...] = tuple(sorted(kept))
        self._text = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._plus = any(" " in f for f in forms)  # a form-encoded '+' may stand for a space

    def __bool__(self) -> bool:
        return bool(self.values)

    def __repr__(self) -> str:
        return f"Redactor({len(self.values)} values)"

    def _spans(self, text: str) -> list[tuple[int, int]]:
        """Where secret values are in ``text``, in any form (merged, in order)."""
        if self._text is None or not text:
            return []
        spans = [m.span() for m in self._text.finditer(text)]
        for view in _views(text, self._plus):
            spans += [view.origin(*m.span()) for m in self._text.finditer(view.text)]
        return _merged(spans)

    def union(self, values: Iterable[Any]) -> Redactor:
        """A redactor for these values and ``values``."""
        return Redactor([*self.values, *values])

    def found(self, text: str | bytes) -> bool:
        """True when ``text`` holds a secret value (in any of the forms redacted)."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "surrogateescape")
        if self._text is None or not text:
            return False
        if self._text.search(text) is not None:
            return True
        return any(self._text.search(view.text) is not None for view in _views(text, self._plus))

    def text(self, text: str) -> str:
        """``text`` with every secret value replaced."""
        spans = self._spans(text)
        if not spans:
            return text
        parts, pos = [], 0
        for start, end in spans:
            parts += [text[pos:start], REDACTED]
            pos = end
        parts.append(text[pos:])
        return "".join(parts)

    def scrub_bytes(self, content: bytes) -> bytes:
        """``content`` with every secret value replaced (bytes that are not UTF-8 kept as they are)."""
        if self._text is None or not content:
            return content
        return self.text(content.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")

    def data(self, obj: Any) -> Any:
        """A copy of ``obj`` (JSON-like data) with secrets replaced in every string and key."""
        if self._text is None:
            return obj
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, Mapping):
            return {self.data(k) if isinstance(k, str) else k: self.data(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple | set | frozenset):
            return [self.data(v) for v in obj]
        return obj

    def in_place(self, obj: Any) -> None:
        """Replace secrets inside the dicts and lists of ``obj`` themselves (an event others hold)."""
        if self._text is None:
            return
        if isinstance(obj, dict):
            for key in list(obj):
                value = self._fixed(obj[key])
                new_key = self.text(key) if isinstance(key, str) else key
                if new_key != key:
                    del obj[key]
                obj[new_key] = value
        elif isinstance(obj, list):
            obj[:] = [self._fixed(v) for v in obj]

    def _fixed(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict | list):
            self.in_place(value)
            return value
        if isinstance(value, tuple):
            return [self._fixed(v) for v in value]
        return value

    def scrub_file(self, path: Path) -> bool:
        """Rewrite ``path`` with every secret replaced (mode kept); True when it changed."""
        if self._text is None:
            return False
        try:
            content = path.read_bytes()
        except OSError:
            return False
        scrubbed = self.scrub_bytes(content)
        if scrubbed == content:
            return False
        with path.open("r+b") as handle:  # in place: keeps owner, mode and hard links
            handle.write(scrubbed)
            handle.truncate()
        return True

    def scrub_tree(self, root: Path) -> tuple[int, int]:
        """Scrub every regular file under ``root`` (symlinks not followed); (scanned, changed)."""
        scanned = changed = 0
        if self._text is None or not root.is_dir():
            return scanned, changed
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in files:
                path = Path(folder) / name
                if path.is_symlink() or not path.is_file():
                    continue
                scanned += 1
                changed += self.scrub_file(path)
        return scanned, changed


# -- the process-wide registry the ledger and the terminal use ---------------------------

_lock = threading.Lock()
_registered: set[str] = set()
_known = Redactor()


def register(values: Iterable[Any]) -> Redactor:
    """Add ``values`` to the secrets this process redacts everywhere; return the redactor."""
    global _known
    fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH}
    with _lock:
        if not fresh <= _registered:
            _registered.update(fresh)
            _known = Redactor(_registered)
        return _known


def known() -> Redactor:
    """The redactor of every secret registered in this process so far."""
    return _known


def redact(obj: Any) -> Any:
    """``obj`` with every registered secret replaced (strings, dicts, lists)."""
    return _known.data(obj)


def redact_text(text: str) -> str:
    """``text`` with every registered secret replaced."""
    return _known.text(text)


class RedactingStream:
    """A text stream that redacts registered secrets in whatever is written to the stream it
    wraps. The stream is looked up at each write (``sys.stdout`` may be swapped by tests)."""

    def __init__(self, name: str = "stdout", stream: Callable[[], Any] | None = None) -> None:
        self._stream = stream or (lambda: getattr(sys, name))

    def write(self, text: str) -> int:
        self._stream().write(_known.text(text))
        return len(text)

    def __getattr__(self, attr: str) -> Any:  # flush, isatty, fileno, encoding, ...
        return getattr(self._stream(), attr)


# -- where the secret values come from --------------------------------------------------


def secret_env_names(config: ProjectConfig) -> tuple[str, ...]:
    """Controller variables holding secrets: ``secrets:`` plus every ``*_env`` field of relkit.yml."""
    names = set(getattr(config, "secrets", None) or ())
    _env_fields(config, names)
    return tuple(sorted(names))


def _env_fields(obj: Any, names: set[str]) -> None:
    if isinstance(obj, BaseModel):
        for field in type(obj).model_fields:
            value = getattr(obj, field, None)
            if field.endswith("_env") and isinstance(value, str) and value:
                names.add(value)
            else:
                _env_fields(value, names)
    elif isinstance(obj, Mapping):
        for value in obj.values():
            _env_fields(value, names)
    elif isinstance(obj, list | tuple):
        for value in obj:
            _env_fields(value, names)


def env_values(config: ProjectConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of :func:`secret_env_names` that are set."""
    environ = os.environ if environ is None else environ
    return [environ[n] for n in secret_env_names(config) if environ.get(n)]


def missing(config: ProjectConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """Names listed under ``secrets:`` whose variable is unset or empty."""
    environ = os.environ if environ is None else environ
    return [n for n in getattr(config, "secrets", None) or () if not environ.get(n)]


def vault_password_file(config: ProjectConfig, root: Path) -> Path | None:
    """relkit.yml's ``ansible.vault_password_file`` (relative to ``root``, relkit.yml's folder),
    else $ANSIBLE_VAULT_PASSWORD_FILE, else None."""
    configured = getattr(config.ansible, "vault_password_file", None)
    if configured:
        return (root / configured).resolve()
    env = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
    return Path(env).expanduser().resolve() if env else None


class _Vaulted(str):
    """A ``!vault`` scalar's ciphertext, as read from YAML."""


class _VaultYamlLoader(yaml.SafeLoader):
    """YAML as Ansible writes it: ``!vault`` scalars kept as ciphertext, other tags as plain data."""


def _construct_vault(loader: yaml.SafeLoader, node: yaml.Node) -> _Vaulted:
    return _Vaulted(loader.construct_scalar(node))  # type: ignore[arg-type]


def _construct_other(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_VaultYamlLoader.add_constructor("!vault", _construct_vault)
_VaultYamlLoader.add_constructor("!vault-encrypted", _construct_vault)
_VaultYamlLoader.add_multi_constructor("!", _construct_other)


def inventory_files(inventory: Path) -> list[Path]:
    """Files Ansible reads variables from for this inventory source: the file (or every file
    under the directory) and the group_vars/ and host_vars/ beside it."""
    roots = (
        [inventory]
        if inventory.is_dir()
        else [inventory, inventory.parent / "group_vars", inventory.parent / "host_vars"]
    )
    found: list[Path] = []
    for root in roots:
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            for folder, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [Path(folder) / f for f in sorted(files) if not f.startswith(".")]
    return found


def vault_values(inventory: Path, password_file: Path | None) -> list[str]:
    """Decrypted values of the vault data in ``inventory``: each ``!vault`` scalar and every
    string of a wholly encrypted file. Nothing without a password file; undecryptable data is
    skipped (Ansible cannot use it either, so it cannot leak)."""
    files = [(p, p.read_bytes()) for p in inventory_files(inventory) if _readable(p)]
    files = [(p, b) for p, b in files if b.lstrip().startswith(VAULT_HEADER) or b"!vault" in b]
    if not files or password_file is None or not password_file.is_file():
        return []
    vault = _vault_lib(password_file)
    values: list[str] = []
    for _, content in files:
        if content.lstrip().startswith(VAULT_HEADER):
            plain = _decrypt(vault, content)
            if plain is not None:
                values += _strings_of_text(plain)
            continue
        try:
            data = yaml.load(content, Loader=_VaultYamlLoader)  # a SafeLoader subclass
        except yaml.YAMLError:
            continue
        for cipher in _leaves(data, _Vaulted):
            plain = _decrypt(vault, cipher.encode())
            if plain is not None:
                values.append(plain)
    return values


def vault_password(password_file: Path | None) -> str | None:
    """The vault password when the file is a plain (non-executable) file; None otherwise."""
    if password_file is None or not password_file.is_file() or os.access(password_file, os.X_OK):
        return None
    try:
        return password_file.read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _readable(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size <= MAX_SCAN_BYTES
    except OSError:
        return False


def _vault_lib(password_file: Path) -> Any:
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultLib, get_file_vault_secret

    secret = get_file_vault_secret(filename=str(password_file), vault_id="default", loader=DataLoader())
    secret.load()
    return VaultLib([("default", secret)])


def _decrypt(vault: Any, ciphertext: bytes) -> str | None:
    try:
        return vault.decrypt(ciphertext.strip()).decode("utf-8", "replace")
    except Exception:  # wrong password, damaged data: Ansible cannot read it either
        return None


def _strings_of_text(text: str) -> list[str]:
    """Every string value of a decrypted vars file (YAML/JSON), or of INI ``key=value`` pairs."""
    try:
        data = yaml.load(text, Loader=_VaultYamlLoader)  # a SafeLoader subclass
    except yaml.YAMLError:
        data = None
    if isinstance(data, Mapping | list):
        return list(_leaves(data))
    pairs = re.findall(r"""[\w.-]+\s*=\s*("[^"]*"|'[^']*'|\S+)""", text)
    return [p.strip("'\"") for p in pairs] or ([text.strip()] if text.strip() else [])


def _leaves(data: Any, kind: type[str] = str) -> Iterator[str]:
    """Every string of type ``kind`` in nested mappings and lists."""
    if isinstance(data, kind):
        yield str(data)
    elif isinstance(data, Mapping):
        for value in data.values():
            yield from _leaves(value, kind)
    elif isinstance(data, list):
        for value in data:
            yield from _leaves(value, kind)


def for_play(
    config: ProjectConfig, root: Path, inventory: Path, environ: Mapping[str, str] | None = None
) -> Redactor:
    """Every secret a play on ``inventory`` may see, registered process-wide: the secret
    variables' values, the inventory's vault values and the vault password."""
    password_file = vault_password_file(config, root)
    values = env_values(config, environ)
    values += vault_values(inventory, password_file)
    if password := vault_password(password_file):
        values.append(password)
    register(values)
    return Redactor(values)
