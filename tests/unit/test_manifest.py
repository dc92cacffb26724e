"""Release manifest model (relkit.manifest) and safe names (relkit.names)."""

from __future__ import annotations

from pathlib import Path

import pytest

from relkit.loading import load_manifest, validate_data
from relkit.manifest import Manifest
from relkit.names import check_safe_name
from tests.support.factories import SHA_A, manifest_data, problems_of
from tests.support.fixtures import EXAMPLE_PROJECT

EXAMPLE_MANIFESTS = sorted((EXAMPLE_PROJECT / "releases").glob("*.yml"))

BAD_NAMES = [
    pytest.param("a..b", id="dotdot"),
    pytest.param("..", id="only-dotdot"),
    pytest.param("../etc", id="parent-path"),
    pytest.param("a/b", id="slash"),
    pytest.param("web app", id="space"),
    pytest.param("a;rm -rf x", id="semicolon"),
    pytest.param("$(id)", id="command-substitution"),
    pytest.param("a$(id)", id="inner-command-substitution"),
    pytest.param("`id`", id="backtick"),
    pytest.param("a`id`", id="inner-backtick"),
    pytest.param("a|b", id="pipe"),
    pytest.param("a&b", id="ampersand"),
    pytest.param("a>b", id="redirect"),
    pytest.param("a*", id="glob"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a\tb", id="tab"),
    pytest.param("-rf", id="leading-dash"),
    pytest.param(".hidden", id="leading-dot"),
    pytest.param("+x", id="leading-plus"),
    pytest.param("x" * 65, id="65-chars"),
    pytest.param("é1", id="non-ascii"),
    pytest.param("", id="empty"),
]
GOOD_NAMES = ["1.0.0", "2.0.0-rc.1", "1.0.0+build.5", "web_app", "A", "x" * 64]


@pytest.mark.parametrize("path", EXAMPLE_MANIFESTS, ids=lambda p: p.name)
def test_example_manifests_validate(path: Path) -> None:
    manifest = load_manifest(path)
    assert manifest.app == "webapp"
    assert manifest.version == path.stem
    assert manifest.artifact.path is not None
    assert len(manifest.artifact.sha256) == 64


def test_there_are_example_manifests() -> None:
    assert [p.name for p in EXAMPLE_MANIFESTS] == ["1.0.0.yml", "2.0.0.yml", "3.0.0.yml"]


def test_minimal_manifest_gets_defaults() -> None:
    m = validate_data(
        Manifest,
        {"app": "webapp", "version": "1", "artifact": {"url": "https://x.example/a.tgz", "sha256": SHA_A}},
        "m.yml",
    )
    assert m.changes == []
    assert m.schedule is None
    assert m.owners.po is None
    assert m.tests.open_critical_bugs == 0
    assert m.artifact.path is None


def test_unknown_nested_key_names_its_path() -> None:
    data = manifest_data(artifact={"path": "a.tgz", "shaa256": SHA_A})
    problems = problems_of(Manifest, data)
    assert "artifact.shaa256: unknown key" in problems
    assert "artifact.sha256: required field is missing" in problems


def test_unknown_top_level_key_names_it() -> None:
    assert problems_of(Manifest, manifest_data(colour="red")) == ["colour: unknown key"]


def test_unknown_key_inside_list_item_names_index() -> None:
    data = manifest_data(
        changes=[
            {"id": "A-1", "type": "fix", "title": "t"},
            {"id": "A-2", "type": "fix", "title": "t", "prio": 1},
        ]
    )
    assert problems_of(Manifest, data) == ["changes.1.prio: unknown key"]


@pytest.mark.parametrize("field", ["app", "version", "artifact"])
def test_missing_required_field_names_it(field: str) -> None:
    data = manifest_data()
    del data[field]
    assert problems_of(Manifest, data) == [f"{field}: required field is missing"]


def test_missing_nested_required_field_names_path() -> None:
    data = manifest_data(changes=[{"id": "A-1", "type": "fix"}])
    assert problems_of(Manifest, data) == ["changes.0.title: required field is missing"]


def test_every_bad_field_is_reported_at_once() -> None:
    data = manifest_data(app="a/b", version="1..0", artifact={"path": "a", "sha256": "XYZ"})
    paths = {p.split(":")[0] for p in problems_of(Manifest, data)}
    assert paths == {"app", "version", "artifact.sha256"}


@pytest.mark.parametrize("field", ["app", "version"])
@pytest.mark.parametrize("value", BAD_NAMES)
def test_unsafe_names_are_rejected(field: str, value: str) -> None:
    problems = problems_of(Manifest, manifest_data(**{field: value}))
    assert len(problems) == 1
    assert problems[0].startswith(f"{field}: ")


@pytest.mark.parametrize("value", [p.values[0] for p in BAD_NAMES if p.values[0]])
def test_check_safe_name_rejects(value: str) -> None:
    with pytest.raises(ValueError, match="1-64 characters"):
        check_safe_name(value)


@pytest.mark.parametrize("value", GOOD_NAMES)
def test_safe_names_are_accepted(value: str) -> None:
    assert check_safe_name(value) == value
    assert validate_data(Manifest, manifest_data(version=value), "m.yml").version == value


@pytest.mark.parametrize(
    "sha", ["A" * 64, "a" * 63, "a" * 65, "g" * 64, ""], ids=["upper", "short", "long", "non-hex", "empty"]
)
def test_bad_sha256_rejected(sha: str) -> None:
    problems = problems_of(Manifest, manifest_data(artifact={"path": "a.tgz", "sha256": sha}))
    assert [p.split(":")[0] for p in problems] == ["artifact.sha256"]


@pytest.mark.parametrize(
    "artifact",
    [
        {"path": "a.tgz", "url": "https://x.example/a.tgz", "sha256": SHA_A},
        {"sha256": SHA_A},
    ],
    ids=["both", "neither"],
)
def test_artifact_needs_exactly_one_source(artifact: dict[str, str]) -> None:
    assert problems_of(Manifest, manifest_data(artifact=artifact)) == [
        "artifact: give exactly one of 'path' or 'url'"
    ]


@pytest.mark.parametrize("url", ["ftp://x.example/a.tgz", "file:///etc/passwd", "https://a b"])
def test_artifact_url_must_be_http(url: str) -> None:
    problems = problems_of(Manifest, manifest_data(artifact={"url": url, "sha256": SHA_A}))
    assert problems[0].startswith("artifact.url: ")


def _schedule(start: str, end: str, tz: str = "Asia/Jakarta") -> dict[str, str]:
    return {"window_start": start, "window_end": end, "timezone": tz}


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-11-10T22:00:00", "2026-11-10T21:00:00"),
        ("2026-11-10T22:00:00", "2026-11-10T22:00:00"),
        # 14:30 UTC is 21:30 in Jakarta (UTC+7): before a naive 22:00 read in Asia/Jakarta
        ("2026-11-10T22:00:00", "2026-11-10T14:30:00+00:00"),
    ],
    ids=["before", "equal", "aware-end-before-naive-start"],
)
def test_schedule_end_not_after_start_rejected(start: str, end: str) -> None:
    problems = problems_of(Manifest, manifest_data(schedule=_schedule(start, end)))
    assert problems == ["schedule.window_end: must be after window_start"]


def test_schedule_naive_times_are_read_in_its_timezone() -> None:
    # 15:30 UTC is 22:30 in Jakarta: after the naive 22:00 start
    m = validate_data(
        Manifest, manifest_data(schedule=_schedule("2026-11-10T22:00:00", "2026-11-10T15:30:00+00:00")), "m"
    )
    assert m.schedule is not None
    assert m.schedule.aware(m.schedule.window_start).utcoffset().total_seconds() == 7 * 3600


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "UTC+7"])
def test_unknown_timezone_rejected(tz: str) -> None:
    problems = problems_of(
        Manifest, manifest_data(schedule=_schedule("2026-11-10T22:00:00", "2026-11-10T23:00:00", tz))
    )
    assert problems == [f"schedule.timezone: unknown IANA timezone {tz!r}"]


def test_evidence_result_must_be_known() -> None:
    problems = problems_of(Manifest, manifest_data(tests={"functional": {"result": "ok"}}))
    assert [p.split(":")[0] for p in problems] == ["tests.functional.result"]


def test_change_type_must_be_known() -> None:
    problems = problems_of(Manifest, manifest_data(changes=[{"id": "A-1", "type": "misc", "title": "t"}]))
    assert [p.split(":")[0] for p in problems] == ["changes.0.type"]


def test_negative_downtime_rejected() -> None:
    sched = {**_schedule("2026-11-10T22:00:00", "2026-11-10T23:00:00"), "expected_downtime_minutes": -1}
    problems = problems_of(Manifest, manifest_data(schedule=sched))
    assert [p.split(":")[0] for p in problems] == ["schedule.expected_downtime_minutes"]


def test_schema_documents_artifact() -> None:
    schema = Manifest.model_json_schema()
    assert {"app", "version", "artifact"} <= set(schema["required"])
    assert schema["additionalProperties"] is False
