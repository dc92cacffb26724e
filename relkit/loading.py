"""Reading manifests and relkit.yml from disk into validated models.

Every failure becomes :class:`BadInput` naming the field path and what was expected.
YAML is read with a safe loader that also refuses anchors/aliases (no alias bombs) and
any tag beyond plain YAML types.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from relkit.config import ProjectConfig
from relkit.errors import BadInput, FieldError
from relkit.manifest import Manifest

MAX_BYTES = 1_000_000
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ImpossibleTime:
    """An unquoted timestamp that names no real moment (``2026-02-30T10:00:00``): YAML reads it as
    a date but cannot build one. Kept in place so the error names its field (see validate_data)."""

    text: str
    problem: str


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects aliases: manifests are small and never need them."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:  # day 30 of February, hour 25, year 0
            return ImpossibleTime(str(node.value), str(exc))

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(
                None, None, "YAML aliases (*name) are not allowed here", event.start_mark
            )
        return super().compose_node(parent, index)


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_yaml_timestamp)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text; raise :class:`BadInput` on syntax errors, aliases or unsafe tags."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise BadInput(f"{source}: not valid YAML", [_one_line(str(exc))]) from None
    except RecursionError:
        raise BadInput(f"{source}: YAML nested too deeply") from None
    except Exception as exc:  # PyYAML's constructors raise many types on bad tagged values:
        # 2026-02-30 as a timestamp (ValueError), `!!bool maybe` (KeyError), `!!int ''` (IndexError)
        problem = f"{type(exc).__name__}: {_one_line(str(exc))}"
        raise BadInput(f"{source}: not valid YAML", [problem]) from None


def describe_errors(exc: ValidationError, data: Any = None) -> list[str]:
    """Turn pydantic errors into ``field.path: what was expected`` lines.

    The path is the field's place in the document ``data``: without pydantic's union member
    tags (``int``, ``webhook``, ``function-after[…]``) or dict key markers (``[key]``), and with
    a :class:`FieldError`'s own field below the model that raised it.
    """
    lines = []
    for err in exc.errors(include_url=False):
        loc = _document_path(tuple(err["loc"]), data, err["type"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            loc, msg = (*loc, *cause.loc), cause.message
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "invalid_key":  # the key itself: YAML read it as a number, a date, null...
            loc = (*_document_path(tuple(err["loc"][:-1]), data, ""), err["input"])
            msg = f"a key must be text, YAML reads this one as {_yaml_type(err['input'])}: quote it"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        path = ".".join(_printable(str(p)) for p in loc) or "(top level)"
        line = f"{path}: {_one_line(msg)}"
        if line not in lines:  # two union members may say the same
            lines.append(line)
    return lines


def _document_path(loc: tuple[Any, ...], data: Any, kind: str) -> tuple[Any, ...]:
    """``loc`` as a path in ``data``, each key as the document has it: parts that name no key or
    index there are pydantic's own (union members, dict key markers) and are dropped; a missing
    field's key stays. Without the document, ``loc`` as it is."""
    if data is None:
        return loc
    kept: list[Any] = []
    node = data
    for index, part in enumerate(loc):
        found = _child(node, part)
        if found is not None:
            kept.append(found[0])
            node = found[1]
        elif kind == "missing" and index == len(loc) - 1:
            kept.append(part)
    return tuple(kept)


def _yaml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), f"a {type(value).__name__}")


def _child(node: Any, part: Any) -> tuple[Any, Any] | None:
    """The key (as the document has it) and the value ``part`` names in ``node``, if any: a key
    of the same type first (``1`` is not ``True``), else the key pydantic names otherwise (``1``
    for ``True``, ``'10.0'`` for ``10.0``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if type(key) is type(part) and key == part:
                return key, value
        for key, value in node.items():
            if not isinstance(key, str) and (key == part or str(key) == part):
                return key, value
    elif isinstance(node, list) and type(part) is int and 0 <= part < len(node):
        return part, node[part]
    return None


def validate_data(model: type[M], data: Any, source: str) -> M:
    """Validate already-parsed data against ``model``.

    An impossible unquoted timestamp is refused at its field (``schedule.window_start:
    impossible date or time 2026-02-30T10:00:00 (day is out of range for month)``), with
    whatever else is wrong in the document.
    """
    if not isinstance(data, dict):
        kind = "a date" if isinstance(data, ImpossibleTime) else type(data).__name__
        raise BadInput(f"{source}: expected a mapping at the top level, got {kind}")
    try:
        impossible: dict[str, ImpossibleTime] = {}
        data = _take_impossible_times(data, (), impossible)
        problems = [
            f"{path}: impossible date or time {_one_line(t.text)} ({_one_line(t.problem)}); "
            "expected a real one, e.g. 2026-11-10T22:00:00"
            for path, t in impossible.items()
        ]
        try:
            model_ = model.model_validate(data)
        except ValidationError as exc:
            problems += [p for p in describe_errors(exc, data) if p.split(": ", 1)[0] not in impossible]
        if problems:
            raise BadInput(f"{source}: invalid {model.__name__}", problems)
        return model_
    except RecursionError:
        raise BadInput(f"{source}: nested too deeply") from None


def _take_impossible_times(node: Any, path: tuple[str, ...], found: dict[str, ImpossibleTime]) -> Any:
    """``node`` with each :class:`ImpossibleTime` replaced by its text, noted in ``found`` by path."""
    if isinstance(node, ImpossibleTime):
        found[".".join(path) or "(top level)"] = node
        return node.text
    if isinstance(node, dict):
        keys = [k.text if isinstance(k, ImpossibleTime) else k for k in node]
        return {
            k: _take_impossible_times(v, (*path, _printable(str(k))), found)
            for k, v in zip(keys, node.values(), strict=True)
        }
    if isinstance(node, list):
        return [_take_impossible_times(v, (*path, str(i)), found) for i, v in enumerate(node)]
    return node


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words (for messages)."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_text(path: Path, what: str, limit: int = MAX_BYTES) -> str:
    """Read a small UTF-8 text file or raise :class:`BadInput` saying why not.

    Only a regular file is read (a symbolic link to one is fine): a FIFO would block, a device
    like /dev/zero never ends; and no more than ``limit`` bytes of it.
    """
    not_regular = f"{path}: cannot read {what}: not a regular file ({{}}); give the path of a file"
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # checked before opening: opening a device may act
            raise BadInput(not_regular.format(file_kind(info.st_mode)))
        # O_NONBLOCK: should a FIFO replace the file meanwhile, open() does not wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise BadInput(not_regular.format(file_kind(info.st_mode)))
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise BadInput(f"{path}: {what} larger than {limit} bytes")
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as text mode reads
    except FileNotFoundError:
        raise BadInput(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read {what}: {exc}") from None


def load_model(model: type[M], path: Path, what: str) -> M:
    """Read, parse and validate one YAML file."""
    return validate_data(model, parse_yaml(read_text(path, what), str(path)), str(path))


def load_manifest(path: Path) -> Manifest:
    """Load ``releases/<version>.yml``."""
    return load_model(Manifest, path, "release manifest")


def load_config(path: Path) -> ProjectConfig:
    """Load ``relkit.yml``."""
    return load_model(ProjectConfig, path, "project config")


def _one_line(text: str) -> str:
    return _printable(" ".join(text.split())[:500])


def _printable(text: str) -> str:
    """Input echoed in errors, with control characters escaped (no terminal escapes, no fake lines)."""
    if text.isprintable():
        return text if text else "''"
    return repr(text)[1:-1] if text.strip() else repr(text)
