"""The relkit.yml reference of docs/configuration.md, generated from the config model.

Each section of the reference (a heading, the model's docstring, a table of its keys with their
type, default and meaning) is written from :mod:`relkit.config`'s pydantic models and their JSON
Schema, between markers in the Markdown file::

    <!-- generated: relkit.yml service -->
    ...
    <!-- end generated -->

Text outside the markers is written by hand. :func:`render` is pure; ``python -m relkit.configdoc
FILE`` (``make docs``) rewrites FILE in place, ``--check`` only tells whether it is up to date
(exit 1 when not). A test keeps the committed reference equal to the model.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from relkit import config

BEGIN = "<!-- generated: relkit.yml {} -->"
END = "<!-- end generated -->"
DASH = "\N{EN DASH}"
_BLOCK = re.compile(r"<!-- generated: relkit\.yml (?P<name>[^ ]+) -->\n.*?<!-- end generated -->", re.DOTALL)


@dataclass(frozen=True)
class Section:
    """One section of the reference: the keys of ``model`` found at ``path`` in relkit.yml."""

    name: str
    """The marker's name, and the heading: ``service``, ``smoke.checks`` …"""
    model: type[BaseModel]
    heading: str
    path: str
    """How a key of this section is written in full, e.g. ``environments.<name>.``."""


SECTIONS = (
    Section("top-level", config.ProjectConfig, "Top-level keys", ""),
    Section("environments", config.Environment, "environments", "environments.<name>."),
    Section("rollout", config.Rollout, "rollout", "environments.<name>.rollout."),
    Section("rollout.analysis", config.Analysis, "rollout.analysis", "environments.<name>.rollout.analysis."),
    Section(
        "rollout.analysis.prometheus",
        config.PrometheusAnalysis,
        "rollout.analysis.prometheus",
        "environments.<name>.rollout.analysis.prometheus.",
    ),
    Section("rollout.hooks", config.RolloutHooks, "rollout.hooks", "environments.<name>.rollout.hooks."),
    Section("engine", config.Engine, "environments engine", "environments.<name>.engine."),
    Section("engine.worker", config.WorkerNode, "engine worker", "environments.<name>.engine.worker."),
    Section("service", config.Service, "service", "service."),
    Section("service.ports", config.ServicePort, "service.ports", "service.ports[]."),
    Section("smoke", config.Smoke, "smoke", "smoke."),
    Section("smoke.checks", config.SmokeCheck, "smoke.checks", "smoke.checks[]."),
    Section("health", config.Health, "health", "health."),
    Section("health.checks", config.HealthCheck, "health.checks", "health.checks[]."),
    Section("data", config.DataItem, "data", "data[]."),
    Section("retention", config.Retention, "retention", "retention."),
    Section("ledger", config.Ledger, "ledger", "ledger."),
    Section("artifacts", config.Artifacts, "artifacts", "artifacts."),
    Section("approvals", config.Approvals, "approvals", "approvals."),
    Section("ansible", config.Ansible, "ansible", "ansible."),
    Section("policy", config.Policy, "policy", "policy."),
    Section("policy.freezes", config.Freeze, "policy.freezes", "policy.freezes[]."),
    Section("notifications", config.Notifications, "notifications", "notifications."),
    Section("webhook", config.WebhookChannel, "webhook channels", "notifications.channels.<name>."),
    Section("email", config.EmailChannel, "email channels", "notifications.channels.<name>."),
)
"""Every model of relkit.yml, in the order of the reference."""


def anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def _links() -> dict[str, str]:
    """JSON Schema ``$defs`` name → link to its section."""
    return {s.model.__name__: f"[{s.heading}](#{anchor(s.heading)})" for s in SECTIONS[1:]}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _bounds(schema: Mapping[str, Any]) -> str:
    """``1-65535`` (with an en dash), ``> 0, ≤ 3600``, ``≥ 0`` from a number's limits."""
    low, high = schema.get("minimum"), schema.get("maximum")
    above, below = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if low is not None and high is not None:
        return f"{_number(low)}{DASH}{_number(high)}"
    parts = [
        f"> {_number(above)}" if above is not None else "",
        f"≥ {_number(low)}" if low is not None else "",
    ]
    parts += [
        f"< {_number(below)}" if below is not None else "",
        f"≤ {_number(high)}" if high is not None else "",
    ]
    return ", ".join(p for p in parts if p)


def _length(schema: Mapping[str, Any], unit: str) -> str:
    low, high = (
        schema.get("minLength", schema.get("minItems")),
        schema.get("maxLength", schema.get("maxItems")),
    )
    if high is not None:
        return f"{_number(low)}{DASH}{_number(high)} {unit}" if low else f"≤ {_number(high)} {unit}"
    return f"at least {_number(low)}" if low else ""


def describe_type(schema: Mapping[str, Any], links: Mapping[str, str], own_title: str = "") -> str:
    """A JSON Schema in words for the reference's *type* column.

    ``own_title`` is the automatic title of the property (pydantic's, from the field name): a
    title other than that is the type's own name (``name``, ``seconds``, ``host variable``).
    """
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]  # a model without a section: its name in words
        return links.get(name, re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower())
    if "anyOf" in schema or "oneOf" in schema:
        kinds = [s for s in schema.get("anyOf", schema.get("oneOf", [])) if s.get("type") != "null"]
        return " or ".join(describe_type(k, links) for k in kinds)
    if "enum" in schema or "const" in schema:
        return " \\| ".join(f"`{v}`" for v in schema.get("enum", [schema.get("const")]))
    title = schema.get("title", "")
    named = title if title and title != own_title else ""
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "date-time":
            return named or "date-time"
        limits = _length(schema, "characters")
        base = named or "text"
        return f"{base} ({limits})" if limits else base
    if kind in ("integer", "number"):
        limits = _bounds(schema)
        base = named or ("integer" if kind == "integer" else "number")
        return f"{base} {limits}".strip()
    if kind == "boolean":
        return named or "bool"
    if kind == "array":
        items = describe_type(schema.get("items", {}), links)
        limits = _length(schema, "items")
        return f"list ({limits}) of {items}" if limits else f"list of {items}"
    if kind == "object":
        patterns: Mapping[str, Any] = schema.get("patternProperties", {})
        values: Mapping[str, Any] = schema.get("additionalProperties") or next(iter(patterns.values()), {})
        limits = f" (at least {schema['minProperties']})" if schema.get("minProperties") else ""
        return f"map of {describe_type(values, links)}{limits}"
    return named or "any"


def _yaml_value(value: Any) -> str:
    """A default written as YAML flow text: ``[]``, ``{}``, ``[artifact_checksum, promoted_from]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def describe_default(model: type[BaseModel], field: str, links: Mapping[str, str]) -> str:
    """The *default* column: ``required``, a value, or the defaults of a nested section."""
    info = model.model_fields[field]
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return f"its defaults ({links.get(type(value).__name__, type(value).__name__)})"
    if value is None:
        return "none"
    dumped = json.loads(json.dumps(value, default=str))
    return f"`{_yaml_value(dumped)}`"


def _key(model: type[BaseModel], field: str) -> str:
    alias = model.model_fields[field].alias
    return alias or field


def _meaning(text: str) -> str:
    """A description as Markdown on one line: reStructuredText ``code`` as Markdown code, pipes
    escaped (a table cell: GitHub wants them escaped in code spans too) and, outside code, ``<``
    escaped (``<path>`` is text, not an HTML tag)."""
    parts = " ".join(text.split()).replace("``", "`").replace("|", "\\|").split("`")
    for i in range(0, len(parts), 2):  # even parts are outside code spans
        parts[i] = parts[i].replace("<", "\\<")
    return "`".join(parts)


def section_text(section: Section) -> str:
    """One section: heading, the model's docstring, the table of its keys."""
    links = _links()
    schema = section.model.model_json_schema(mode="validation")
    props: Mapping[str, Any] = schema.get("properties", {})
    doc = _meaning(section.model.__doc__ or "")
    lines = [f"### {section.heading}", ""]
    if doc:
        lines += [doc, ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for field in section.model.model_fields:
        key = _key(section.model, field)
        prop = props.get(key, {})
        own_title = key.replace("_", " ").title()
        kind = describe_type(prop, links, own_title)
        meaning = _meaning(section.model.model_fields[field].description or "")
        default = describe_default(section.model, field, links)
        lines.append(f"| `{key}` | {kind} | {default} | {meaning} |")
    return "\n".join(lines)


def sections() -> dict[str, str]:
    """Every generated section by marker name, markers included."""
    return {s.name: f"{BEGIN.format(s.name)}\n{section_text(s)}\n{END}" for s in SECTIONS}


def render(document: str) -> str:
    """``document`` with each generated section written afresh from the model.

    Raises :class:`ValueError` when a section's markers are missing, repeated or unknown.
    """
    wanted = sections()
    found = [m.group("name") for m in _BLOCK.finditer(document)]
    problems = [f"no markers for section {n!r} ({BEGIN.format(n)} … {END})" for n in wanted if n not in found]
    problems += [f"unknown section {n!r}" for n in found if n not in wanted]
    problems += [f"section {n!r} appears twice" for n in sorted({n for n in found if found.count(n) > 1})]
    if problems:
        raise ValueError("; ".join(problems))
    return _BLOCK.sub(lambda m: wanted[m.group("name")], document)


def main(argv: list[str] | None = None, out: Callable[[str], Any] = print) -> int:
    """``python -m relkit.configdoc [--check] FILE``: rewrite FILE's generated sections (or check them)."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    files = [a for a in args if a != "--check"]
    if len(files) != 1:
        out("usage: python -m relkit.configdoc [--check] docs/configuration.md")
        return 2
    path = Path(files[0])
    text = path.read_text(encoding="utf-8")
    try:
        fresh = render(text)
    except ValueError as exc:
        out(f"{path}: {exc}")
        return 2
    if fresh == text:
        out(f"{path}: the relkit.yml reference is up to date")
        return 0
    if check:
        out(f"{path}: the relkit.yml reference differs from relkit/config.py: run make docs")
        return 1
    path.write_text(fresh, encoding="utf-8")
    out(f"{path}: relkit.yml reference written from relkit/config.py")
    return 0


def _iter_models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """``model`` and every model its fields hold, depth first (each once)."""
    seen: set[type[BaseModel]] = set()
    stack = [model]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        yield current
        for info in current.model_fields.values():
            stack += [m for m in _models_in(info.annotation) if m not in seen]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found += _models_in(arg)
    return found


def undocumented_models() -> list[str]:
    """Models of relkit.yml that no section documents (a new model needs a section)."""
    covered = {s.model for s in SECTIONS}
    return sorted(m.__name__ for m in _iter_models(config.ProjectConfig) if m not in covered)


if __name__ == "__main__":
    sys.exit(main())
