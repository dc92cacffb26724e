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


def _forms(value: str) -> Iterator[str]:
    """``value`` as it may appear in text relkit writes: raw, JSON-escaped (once or twice, as in
    job events that quote a module result), repr-escaped, URL-quoted; and each line of a
    multi-line value."""
    yield value
    once = json.dumps(value)[1:-1]
    yield once
    yield json.dumps(value, ensure_ascii=False)[1:-1]
    yield json.dumps(once)[1:-1]
    yield repr(value)[1:-1]
    yield urllib.parse.quote(value, safe="")
    yield urllib.parse.quote_plus(value)
    if "\n" in value:
        for line in value.splitlines():
            if len(line.strip()) >= 2 * MIN_LENGTH:
                yield line.strip()


class Redactor:
    """Replaces every known secret value with ``********`` in text, data, bytes and files."""

    def __init__(self, values: Iterable[Any] = ()) -> None:
        kept = {v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH}
        forms = {f for v in kept for f in _forms(v) if len(f) >= MIN_LENGTH}
        ordered = sorted(forms, key=lambda f: (-len(f), f))  # longest first: no partial leftovers
        self.values: tuple[str, ...] = tuple(sorted(kept))
        self._text = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        encoded = sorted({f.encode() for f in ordered}, key=lambda b: (-len(b), b))
        self._bytes = re.compile(b"|".join(map(re.escape, encoded))) if encoded else None

    def __bool__(self) -> bool:
        return bool(self.values)

    def __repr__(self) -> str:
        return f"Redactor({len(self.values)} values)"

    def union(self, values: Iterable[Any]) -> Redactor:
        """A redactor for these values and ``values``."""
        return Redactor([*self.values, *values])

    def found(self, text: str | bytes) -> bool:
        """True when ``text`` holds a secret value (in any of the forms redacted)."""
        if isinstance(text, bytes):
            return self._bytes is not None and self._bytes.search(text) is not None
        return self._text is not None and self._text.search(text) is not None

    def text(self, text: str) -> str:
        """``text`` with every secret value replaced."""
        return self._text.sub(REDACTED, text) if self._text is not None and text else text

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
        if self._bytes is None:
            return False
        try:
            content = path.read_bytes()
        except OSError:
            return False
        scrubbed = self._bytes.sub(REDACTED.encode(), content)
        if scrubbed == content:
            return False
        with path.open("r+b") as handle:  # in place: keeps owner, mode and hard links
            handle.write(scrubbed)
            handle.truncate()
        return True

    def scrub_tree(self, root: Path) -> tuple[int, int]:
        """Scrub every regular file under ``root`` (symlinks not followed); (scanned, changed)."""
        scanned = changed = 0
        if self._bytes is None or not root.is_dir():
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
    roots = [inventory] if inventory.is_dir() else [inventory, inventory.parent / "group_vars",
                                                     inventory.parent / "host_vars"]
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
