"""docs/configuration.md's relkit.yml reference is the config model's (relkit.configdoc): a key,
a default, a type or a description changed in relkit/config.py without `make docs` fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from relkit import config, configdoc

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "configuration.md"


def test_the_committed_reference_is_the_models() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert configdoc.render(text) == text, (
        "docs/configuration.md differs from relkit/config.py: run make docs"
    )


def test_every_model_of_relkit_yml_has_a_section_and_every_key_a_meaning() -> None:
    assert configdoc.undocumented_models() == []
    for section in configdoc.SECTIONS:
        assert (section.model.__doc__ or "").strip(), section.name
        for name, info in section.model.model_fields.items():
            assert (info.description or "").strip(), f"{section.path}{name} has no description"


def test_every_key_is_a_row_of_its_section() -> None:
    sections = configdoc.sections()
    for section in configdoc.SECTIONS:
        text = sections[section.name]
        for name, info in section.model.model_fields.items():
            assert f"\n| `{info.alias or name}` | " in text, f"{section.path}{name}"


def test_the_reference_says_where_allowed_signers_is_by_default() -> None:
    approvals = configdoc.sections()["approvals"]
    row = next(line for line in approvals.splitlines() if line.startswith("| `allowed_signers` |"))
    assert "| `allowed_signers` |" in row and "allowed_signers next to it" in row
    assert row.split(" | ")[2] == "`allowed_signers`"  # the default column


def test_a_changed_model_changes_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is real: a new default in the model is a different reference."""
    before = configdoc.sections()["retention"]
    field = config.Retention.model_fields["keep_releases"]
    monkeypatch.setattr(field, "default", 7)
    after = configdoc.sections()["retention"]
    assert before != after and "| `7` |" in after


def test_check_mode_reports_drift_and_rewrite_fixes_it(tmp_path: Path) -> None:
    doc = tmp_path / "configuration.md"
    doc.write_text(
        DOC.read_text(encoding="utf-8").replace("hosts worked on in parallel", "hosts in parallel")
    )
    said: list[str] = []
    assert configdoc.main(["--check", str(doc)], said.append) == 1
    assert said[-1].endswith("differs from relkit/config.py: run make docs")
    assert configdoc.main([str(doc)], said.append) == 0
    assert doc.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")
    assert configdoc.main(["--check", str(doc)], said.append) == 0


def test_missing_or_unknown_markers_are_refused(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    without = text.replace(configdoc.BEGIN.format("ansible"), "<!-- gone -->")
    with pytest.raises(ValueError, match="no markers for section 'ansible'"):
        configdoc.render(without)
    extra = text + "\n" + configdoc.BEGIN.format("nonsense") + "\n" + configdoc.END + "\n"
    with pytest.raises(ValueError, match="unknown section 'nonsense'"):
        configdoc.render(extra)


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": "integer", "minimum": 1, "maximum": 65535}, "integer 1\N{EN DASH}65535"),
        ({"type": "number", "exclusiveMinimum": 0, "maximum": 60, "title": "seconds"}, "seconds > 0, ≤ 60"),
        ({"type": "string", "maxLength": 200}, "text (≤ 200 characters)"),
        (
            {"anyOf": [{"type": "integer"}, {"type": "string", "title": "host variable"}, {"type": "null"}]},
            "integer or host variable",
        ),
        ({"enum": ["all", "first"]}, "`all` \\| `first`"),
        ({"type": "array", "items": {"type": "string"}, "minItems": 1}, "list (at least 1) of text"),
        ({"$ref": "#/$defs/Smoke"}, "[smoke](#smoke)"),
    ],
)
def test_types_in_words(schema: dict[str, object], words: str) -> None:
    links = {"Smoke": "[smoke](#smoke)"}
    assert configdoc.describe_type(schema, links) == words
