"""Gates (relkit.gates): pure functions of a GateInput built from plain values."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from relkit import gates
from relkit.chain import Entry
from relkit.gates import GateInput, GateReport, GateResult, evaluate, policy_for
from relkit.loading import validate_data
from relkit.manifest import Manifest
from tests.unit.factories import SHA_A, SHA_B, entry, manifest_data

MANIFEST = validate_data(Manifest, manifest_data(), "m.yml")  # artifact.sha256 == SHA_A


def _input(**overrides: Any) -> GateInput:
    base = GateInput(
        manifest=MANIFEST,
        project_app="webapp",
        env="production",
        promote_from="staging",
        artifact_sha256=SHA_A,
        artifact_problem="",
        history=(),
        now=datetime(2026, 11, 10, 15, 0, tzinfo=UTC),
    )
    return replace(base, **overrides)


def _smoke(env: str = "staging", sha: str | None = SHA_A, passed: bool = True, **kw: Any) -> Entry:
    return entry("smoke.result", env=env, sha256=sha, passed=passed, version="1.2.3", **kw)


def test_registry_holds_the_default_gates() -> None:
    assert {"manifest_valid", "artifact_checksum", "promoted_from"} <= set(gates.GATES)


# -- manifest_valid -------------------------------------------------------------------


def test_manifest_valid_passes_for_this_app() -> None:
    result = gates.manifest_valid(_input())
    assert result == GateResult("manifest_valid", True, "webapp 1.2.3 validated", "")


def test_manifest_valid_fails_on_app_mismatch() -> None:
    result = gates.manifest_valid(_input(project_app="billing"))
    assert result.name == "manifest_valid"
    assert not result.passed
    assert "'webapp'" in result.reason
    assert "'billing'" in result.reason
    assert result.remedy


# -- artifact_checksum ----------------------------------------------------------------


def test_artifact_checksum_missing_artifact_reports_problem() -> None:
    result = gates.artifact_checksum(
        _input(artifact_sha256=None, artifact_problem="artifact /x/a.tgz not found")
    )
    assert not result.passed
    assert result.reason == "artifact /x/a.tgz not found"
    assert result.remedy == "build or fetch the artifact"


def test_artifact_checksum_missing_without_problem_text() -> None:
    result = gates.artifact_checksum(_input(artifact_sha256=None, artifact_problem=""))
    assert not result.passed
    assert result.reason == "artifact not available"


def test_artifact_checksum_mismatch() -> None:
    result = gates.artifact_checksum(_input(artifact_sha256=SHA_B))
    assert not result.passed
    assert SHA_B[:12] in result.reason
    assert SHA_A[:12] in result.reason
    assert "artifact.sha256" in result.remedy


def test_artifact_checksum_match() -> None:
    result = gates.artifact_checksum(_input(artifact_sha256=SHA_A))
    assert result.passed
    assert SHA_A[:12] in result.reason
    assert result.remedy == ""


# -- promoted_from --------------------------------------------------------------------


def test_promoted_from_without_upstream_passes() -> None:
    result = gates.promoted_from(_input(promote_from=None, history=()))
    assert result.passed
    assert result.reason == "environment has no upstream"


def test_promoted_from_without_smoke_record_fails_naming_upstream() -> None:
    result = gates.promoted_from(_input(history=()))
    assert not result.passed
    assert "staging" in result.reason
    assert result.remedy == "deploy this manifest to staging first: relkit deploy MANIFEST --env staging"


def test_promoted_from_failed_smoke_does_not_count() -> None:
    result = gates.promoted_from(_input(history=(_smoke(passed=False),)))
    assert not result.passed


def test_promoted_from_passed_smoke_of_other_sha_does_not_count() -> None:
    result = gates.promoted_from(_input(history=(_smoke(sha=SHA_B),)))
    assert not result.passed


def test_promoted_from_passed_smoke_on_other_env_does_not_count() -> None:
    result = gates.promoted_from(_input(history=(_smoke(env="qa"), _smoke(env="production"))))
    assert not result.passed


def test_promoted_from_other_kinds_do_not_count() -> None:
    switched = entry("host.switched", env="staging", sha256=SHA_A, passed=True)
    result = gates.promoted_from(_input(history=(switched,)))
    assert not result.passed


def test_promoted_from_rollback_smoke_without_sha_does_not_count() -> None:
    result = gates.promoted_from(_input(history=(_smoke(sha=None),)))
    assert not result.passed


def test_promoted_from_passed_smoke_of_same_sha_passes() -> None:
    history = (
        _smoke(passed=False, run_id="r1", seq=1),
        _smoke(sha=SHA_B, run_id="r2", seq=2),
        _smoke(run_id="r3", seq=3, ts="2026-11-09T10:11:12.000000+00:00"),
    )
    result = gates.promoted_from(_input(history=history))
    assert result.passed
    assert "r3" in result.reason
    assert "2026-11-09T10:11:12" in result.reason
    assert result.remedy == ""


# -- policy and evaluate --------------------------------------------------------------


def test_policy_for_prepare() -> None:
    assert policy_for("prepare", None) == ["manifest_valid"]
    assert policy_for("prepare", "staging") == ["manifest_valid"]


def test_policy_for_deploy() -> None:
    assert policy_for("deploy", None) == ["manifest_valid", "artifact_checksum"]
    assert policy_for("deploy", "staging") == ["manifest_valid", "artifact_checksum", "promoted_from"]


def test_evaluate_prepare_runs_only_manifest_valid() -> None:
    report = evaluate("prepare", _input(artifact_sha256=None))
    assert [r.name for r in report.results] == ["manifest_valid"]
    assert report.passed


def test_evaluate_deploy_without_upstream() -> None:
    report = evaluate("deploy", _input(env="staging", promote_from=None))
    assert [r.name for r in report.results] == ["manifest_valid", "artifact_checksum"]
    assert report.passed
    assert report.failed == ()


def test_evaluate_deploy_with_upstream_blocks_on_promotion() -> None:
    report = evaluate("deploy", _input())
    assert isinstance(report, GateReport)
    assert [r.name for r in report.results] == ["manifest_valid", "artifact_checksum", "promoted_from"]
    assert not report.passed
    assert [r.name for r in report.failed] == ["promoted_from"]
    assert (report.stage, report.env, report.version) == ("deploy", "production", "1.2.3")


def test_evaluate_deploy_with_upstream_passes_after_smoke() -> None:
    report = evaluate("deploy", _input(history=(_smoke(),)))
    assert report.passed
    assert report.failed == ()


def test_evaluate_collects_every_failure() -> None:
    report = evaluate("deploy", _input(project_app="other", artifact_sha256=SHA_B))
    assert [r.name for r in report.failed] == ["manifest_valid", "artifact_checksum", "promoted_from"]


def test_evaluate_explicit_names() -> None:
    report = evaluate("deploy", _input(), names=["artifact_checksum"])
    assert [r.name for r in report.results] == ["artifact_checksum"]
    assert report.passed


def test_evaluate_is_pure() -> None:
    inp = _input(history=(_smoke(passed=False),))
    assert evaluate("deploy", inp) == evaluate("deploy", inp)


def test_report_to_dict_is_json_ready() -> None:
    report = evaluate("deploy", _input())
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["stage"] == "deploy"
    assert data["env"] == "production"
    assert data["version"] == "1.2.3"
    assert data["passed"] is False
    assert [g["name"] for g in data["gates"]] == ["manifest_valid", "artifact_checksum", "promoted_from"]
    assert [g["passed"] for g in data["gates"]] == [True, True, False]
    assert set(data["gates"][2]) == {"name", "passed", "reason", "remedy"}
    assert data["gates"][2]["remedy"].endswith("--env staging")


def test_passed_gate_has_no_remedy() -> None:
    @gates.gate("_test_always_passes")
    def _always(_: GateInput) -> tuple[bool, str, str]:
        return True, "fine", "you should not see this"

    try:
        result = gates.GATES["_test_always_passes"](_input())
        assert result == GateResult("_test_always_passes", True, "fine", "")
    finally:
        del gates.GATES["_test_always_passes"]
