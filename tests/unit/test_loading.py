"""Reading YAML files into models (relkit.loading): every failure is BadInput naming its source."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from relkit.config import ProjectConfig
from relkit.errors import BadInput, RelkitError
from relkit.loading import MAX_BYTES, load_config, load_manifest, parse_yaml, validate_data
from relkit.manifest import Manifest
from tests.support.factories import config_data, problems_of
from tests.support.fixtures import EXAMPLE_PROJECT

GOOD_MANIFEST = (EXAMPLE_PROJECT / "releases" / "1.0.0.yml").read_text(encoding="utf-8")

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _bad(text: str, source: str = "src.yml") -> BadInput:
    with pytest.raises(BadInput) as info:
        parse_yaml(text, source)
    assert str(info.value).startswith(f"{source}: ")
    return info.value


def _write(tmp_path: Path, text: str | bytes, name: str = "m.yml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_bad_input_is_exit_2() -> None:
    assert BadInput.exit_code == 2
    err = BadInput("x.yml: invalid", ["a: one", "b: two"])
    assert isinstance(err, RelkitError)
    assert err.exit_code == 2
    assert str(err) == "x.yml: invalid\n  - a: one\n  - b: two"


def test_plain_yaml_parses() -> None:
    assert parse_yaml("a: 1\nb: [x, y]\nc: {d: true}\n", "s") == {"a": 1, "b": ["x", "y"], "c": {"d": True}}


def test_billion_laughs_rejected_quickly() -> None:
    started = time.monotonic()
    err = _bad(BILLION_LAUGHS, "bomb.yml")
    assert time.monotonic() - started < 1.0
    assert str(err).startswith("bomb.yml: not valid YAML")
    assert any("aliases" in p for p in err.problems)


@pytest.mark.parametrize(
    "text",
    ["a: &x 1\nb: *x\n", "base: &b {k: 1}\nother:\n  <<: *b\n"],
    ids=["plain-alias", "merge-key"],
)
def test_any_alias_rejected(text: str) -> None:
    err = _bad(text)
    assert any("aliases" in p for p in err.problems)


def test_anchor_without_alias_is_harmless() -> None:
    assert parse_yaml("a: &x 1\n", "s") == {"a": 1}


@pytest.mark.parametrize(
    "tag",
    ["!!python/object/apply:os.system", "!!python/object/new:os.system", "!!python/name:os.system"],
)
def test_python_tags_rejected_and_not_executed(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "pwned"
    err = _bad(f'x: {tag} ["touch {marker}"]\n')
    assert not marker.exists()
    assert any("python" in p for p in err.problems)


def test_unknown_custom_tag_rejected() -> None:
    _bad("x: !vault |\n  abc\n")


def test_syntax_error_names_source() -> None:
    err = _bad("a: [1, 2\nb: 3\n", "broken.yml")
    assert str(err).startswith("broken.yml: not valid YAML")
    assert err.problems
    assert "\n" not in err.problems[0]


def test_deep_nesting_is_bad_input() -> None:
    err = _bad("[" * 1500, "deep.yml")
    assert "nested too deeply" in str(err)


@pytest.mark.parametrize(
    "value",
    ["2026-02-30", "2026-11-10T25:00:00", "2026-13-01T10:00:00"],
    ids=["feb-30", "hour-25", "month-13"],
)
def test_impossible_timestamp_is_bad_input(value: str) -> None:
    # YAML resolves these as timestamps; building the datetime fails. That is bad input (exit 2)
    # naming the field, not an unexpected error.
    with pytest.raises(BadInput) as info:
        validate_data(Manifest, parse_yaml(f"window_start: {value}\n", "when.yml"), "when.yml")
    assert str(info.value).startswith("when.yml: invalid Manifest")
    assert f"  - window_start: impossible date or time {value} (" in str(info.value)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("window_start: 2026-11-10T22:00:00", "window_start: 2026-02-30T10:00:00", "schedule.window_start"),
        ("window_start: 2026-11-10T22:00:00", "window_start: 2026-02-30 10:00:00", "schedule.window_start"),
        ("window_start: 2026-11-10T22:00:00", "window_start: 2026-02-30", "schedule.window_start"),
        ("window_end: 2026-11-10T23:30:00", "window_end: 2026-11-31T23:30:00", "schedule.window_end"),
        ("  time: 2026-11-8T17:00:00+07:00", "  time: 2026-11-8T24:00:00+07:00", "code_freeze.time"),
        ("title: Notes can be created and listed", "title: 2026-02-30", "changes.0.title"),
    ],
    ids=["datetime", "space", "date", "window-end", "code-freeze-hour-24", "in-a-text-field"],
)
def test_unquoted_impossible_date_names_its_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    assert old in GOOD_MANIFEST
    path = _write(tmp_path, GOOD_MANIFEST.replace(old, new))
    with pytest.raises(BadInput) as info:
        load_manifest(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid Manifest\n"), message
    problems = message.split("\n  - ")[1:]
    assert [p.split(": ", 1)[0] for p in problems] == [field], problems
    assert f"impossible date or time {new.split(': ', 1)[1]} (" in problems[0]


def test_an_impossible_date_is_named_with_the_other_problems(tmp_path: Path) -> None:
    text = GOOD_MANIFEST.replace("window_start: 2026-11-10T22:00:00", "window_start: 2026-02-30T22:00:00")
    path = _write(tmp_path, text.replace("type: feature", "type: wish", 1))
    with pytest.raises(BadInput) as info:
        load_manifest(path)
    fields = [p.split(": ", 1)[0] for p in str(info.value).split("\n  - ")[1:]]
    assert sorted(fields) == ["changes.0.type", "schedule.window_start"]


def test_a_possible_unquoted_date_still_loads(tmp_path: Path) -> None:
    manifest = load_manifest(_write(tmp_path, GOOD_MANIFEST))
    assert manifest.schedule is not None and manifest.schedule.window_start.day == 10


def test_manifest_with_impossible_window_start_is_bad_input(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_MANIFEST.replace("2026-11-10T22:00:00", "2026-02-30T22:00:00"))
    with pytest.raises(BadInput) as info:
        load_manifest(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "type_name"),
    [("- a\n- b\n", "list"), ("just a string\n", "str"), ("", "NoneType"), ("42\n", "int")],
    ids=["list", "scalar", "empty", "int"],
)
def test_top_level_must_be_mapping(tmp_path: Path, text: str, type_name: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(BadInput) as info:
        load_manifest(path)
    assert str(info.value) == f"{path}: expected a mapping at the top level, got {type_name}"


def test_file_over_one_megabyte_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_MANIFEST + "#" * MAX_BYTES + "\n")
    with pytest.raises(BadInput) as info:
        load_manifest(path)
    assert str(info.value) == f"{path}: release manifest larger than {MAX_BYTES} bytes"


def test_file_of_exactly_one_megabyte_accepted(tmp_path: Path) -> None:
    padding = MAX_BYTES - len(GOOD_MANIFEST.encode()) - 1
    path = _write(tmp_path, GOOD_MANIFEST + "#" * padding + "\n")
    assert path.stat().st_size == MAX_BYTES
    assert load_manifest(path).version == "1.0.0"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    with pytest.raises(BadInput) as info:
        load_manifest(path)
    assert str(info.value) == f"{path}: release manifest not found"


def test_missing_config_says_project_config(tmp_path: Path) -> None:
    path = tmp_path / "relkit.yml"
    with pytest.raises(BadInput) as info:
        load_config(path)
    assert str(info.value) == f"{path}: project config not found"


def test_directory_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as info:
        load_manifest(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}: cannot read release manifest")


def test_non_utf8_is_bad_input(tmp_path: Path) -> None:
    path = _write(tmp_path, b"app: \xff\xfe\n")
    with pytest.raises(BadInput) as info:
        load_manifest(path)
    assert str(info.value).startswith(f"{path}: cannot read release manifest")


def test_unreadable_path_name_is_bad_input(tmp_path: Path) -> None:
    # A file name longer than NAME_MAX (ENAMETOOLONG) is a bad argument like a missing file.
    path = tmp_path / ("a" * 300 + ".yml")
    with pytest.raises(BadInput) as info:
        load_manifest(path)
    assert str(path) in str(info.value)


def test_validation_errors_name_source_and_fields(tmp_path: Path) -> None:
    text = GOOD_MANIFEST.replace("  sha256:", "  shaa256:").replace("version: 1.0.0", "version: 1.0/0")
    path = _write(tmp_path, text)
    with pytest.raises(BadInput) as info:
        load_manifest(path)
    err = info.value
    assert str(err).startswith(f"{path}: invalid Manifest")
    fields = {p.split(":")[0] for p in err.problems}
    assert fields == {"version", "artifact.shaa256", "artifact.sha256"}


def test_loaded_example_round_trips_through_yaml() -> None:
    data = yaml.safe_load(GOOD_MANIFEST)
    assert parse_yaml(GOOD_MANIFEST, "x") == data


def test_impossible_date_without_seconds_names_its_field(tmp_path: Path) -> None:
    # YAML 1.1 has no timestamp without seconds: this one is a string, which the model refuses
    text = GOOD_MANIFEST.replace("window_start: 2026-11-10T22:00:00", "window_start: 2026-02-30T10:00")
    with pytest.raises(BadInput) as info:
        load_manifest(_write(tmp_path, text))
    [problem] = str(info.value).split("\n  - ")[1:]
    assert problem.startswith("schedule.window_start: ") and "day value is outside expected range" in problem


@pytest.mark.parametrize(
    ("changes", "lines"),
    [
        (
            {"smoke": {"checks": [{"name": "p", "port": {"a": 1}}]}},
            [
                "smoke.checks.0.port: Input should be a valid integer",
                "smoke.checks.0.port: Input should be a valid string",
            ],
        ),
        (
            {
                "notifications": {
                    "channels": {"c": {"type": "email", "host": "h", "from": "a@b", "to": ["x"]}}
                }
            },
            ["notifications.channels.c.to.0: String should match pattern '^[^@\\s<>,;]+@[^@\\s<>,;]+$'"],
        ),
        (
            {"environments": {"../x": {"inventory": "i"}}},
            [
                "environments.../x: must be 1-64 characters of letters, digits, '.', '_', '+' or '-', "
                "start with a letter or digit and not contain '..'"
            ],
        ),
        (
            {"environments": {True: {"inventory": "i"}}},
            ["environments.True: must be a string, got bool"],
        ),
        ({"secrets": ["A", "B", "A"]}, ["secrets.2: A is listed twice (also secrets.0)"]),
        (
            {"environments": {"prod": {"inventory": "i", "promote_from": "qa"}}},
            ["environments.prod.promote_from: unknown environment 'qa'"],
        ),
    ],
    ids=["union-members", "discriminated-union", "dict-key", "boolean-key", "model-validator", "cross-field"],
)
def test_error_paths_are_places_in_the_document(changes: dict[str, Any], lines: list[str]) -> None:
    """Each problem names the exact field of the document: no pydantic union member ('int', 'email')
    or key marker ('[key]') in the path, and a model validator's problem at the field it is about."""
    assert problems_of(ProjectConfig, config_data(**changes)) == lines
