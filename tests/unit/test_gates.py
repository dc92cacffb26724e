"""Gates (relkit.gates): pure functions of a GateInput built from plain values.

Times are written out by hand in UTC (``_utc``) so that timezone and DST behaviour is checked
against arithmetic done here, not against the zoneinfo calls the gates themselves make.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from relkit import gates
from relkit.chain import Entry
from relkit.config import Policy
from relkit.gates import (
    DEFAULT,
    EVIDENCE,
    ROLES,
    SOP_PRODUCTION,
    GateInput,
    GateReport,
    GateResult,
    Override,
    evaluate,
    gates_for,
    unknown_gates,
)
from relkit.loading import validate_data
from relkit.manifest import Manifest
from tests.support.factories import (
    FREEZE_COMMIT,
    SHA_A,
    SHA_B,
    entry,
    full_manifest_data,
    manifest_data,
    signature,
)

REQS = "req-digest-1"


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _manifest(**overrides: Any) -> Manifest:
    return validate_data(Manifest, full_manifest_data(**overrides), "m.yml")


# The full plan: window 2026-11-10 22:00-23:30 Asia/Jakarta (UTC+7, no DST) = 15:00-16:30 UTC.
MANIFEST = _manifest()  # artifact.sha256 == SHA_A, code freeze FREEZE_COMMIT
WINDOW_START = _utc(2026, 11, 10, 15, 0)
WINDOW_END = _utc(2026, 11, 10, 16, 30)
QA_AT = _utc(2026, 11, 9, 10, 0)
PO_AT = _utc(2026, 11, 9, 11, 0)


def _smoke(env: str = "staging", sha: str | None = SHA_A, passed: bool = True, **kw: Any) -> Entry:
    return entry("smoke.result", env=env, sha256=sha, passed=passed, version="1.2.3", **kw)


def _prepare(env: str = "production", passed: bool = True, digest: str = REQS, **kw: Any) -> Entry:
    return entry("prepare.result", env=env, passed=passed, requirements_digest=digest, **kw)


def _notice(
    at: datetime,
    *,
    ok: bool = True,
    version: str = "1.2.3",
    event: str = "announcement",
    sha256: str | None = SHA_A,
    **kw: Any,
) -> Entry:
    """An announcement as ``relkit notify`` records it: the release's version and artifact sha256."""
    return entry(
        "notify.sent", env="production", ts=_iso(at), event=event, ok=ok, version=version, sha256=sha256, **kw
    )


def _switched(at: datetime, env: str = "production", version: str = "1.2.3") -> Entry:
    return entry("host.switched", env=env, host="web1", ts=_iso(at), version=version, sha256=SHA_A)


def _health(at: datetime, status: str, env: str = "production") -> Entry:
    return entry("health.result", env=env, ts=_iso(at), status=status)


QA_SIGNED = signature("qa", "sari", QA_AT)
APPROVED = (QA_SIGNED, signature("po", "dewi", PO_AT, follows=(QA_SIGNED.digest,)))
"""QA's approval, then the PO's naming it (its record digest) in ``follows``."""


def _po(at: datetime, *qa: Any, by: str = "dewi", **kw: Any) -> Any:
    """A PO approval following the QA approvals ``qa``."""
    return signature("po", by, at, follows=tuple(q.digest for q in qa), **kw)


GREEN_HISTORY = (_prepare(), _notice(_utc(2026, 11, 8, 10, 0)), _smoke())


def _input(**overrides: Any) -> GateInput:
    """A production deploy (promoted from staging) that every SOP gate lets through."""
    base = GateInput(
        manifest=MANIFEST,
        project_app="webapp",
        env="production",
        promote_from="staging",
        artifact_sha256=SHA_A,
        artifact_problem="",
        history=GREEN_HISTORY,
        now=_utc(2026, 11, 10, 15, 30),
        actor="ops-demo",
        artifact_commit=FREEZE_COMMIT,
        signatures=APPROVED,
        requirements_digest=REQS,
    )
    return replace(base, **overrides)


def _staging(**overrides: Any) -> GateInput:
    return _input(env="staging", promote_from=None, **overrides)


def test_registry_holds_every_sop_gate() -> None:
    assert set(SOP_PRODUCTION) | {"verified", "monitoring_elapsed", "retrospective"} <= set(gates.GATES)


def test_green_production_input_passes_every_sop_gate() -> None:
    report = evaluate("deploy", _input())
    assert [r.name for r in report.results] == SOP_PRODUCTION
    assert report.passed, [(r.name, r.reason) for r in report.failed]
    assert all(r.remedy == "" and not r.overridden for r in report.results)


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


# -- plan_complete --------------------------------------------------------------------


def test_plan_complete_passes_with_full_plan() -> None:
    result = gates.plan_complete(_input())
    assert result.passed
    assert result.reason.startswith("1 change(s) traced")
    assert result.remedy == ""


def test_plan_complete_bare_manifest_names_everything_missing() -> None:
    bare = validate_data(Manifest, manifest_data(changes=[], schedule=None), "m.yml")
    result = gates.plan_complete(_input(manifest=bare))
    assert not result.passed
    for missing in ("changes", "schedule", "rollback_plan", *(f"owners.{r}" for r in ROLES)):
        assert missing in result.reason
    assert result.remedy == "complete the manifest's release plan"


def test_plan_complete_fails_without_changes() -> None:
    result = gates.plan_complete(_input(manifest=_manifest(changes=[])))
    assert not result.passed
    assert result.reason == "plan incomplete: missing changes (each with its issue/ticket id)"


def test_plan_complete_fails_without_schedule() -> None:
    result = gates.plan_complete(_input(manifest=_manifest(schedule=None)))
    assert not result.passed
    assert result.reason.startswith("plan incomplete: missing schedule (")
    assert "changes" not in result.reason


@pytest.mark.parametrize("role", ROLES)
def test_plan_complete_fails_without_each_owner_role(role: str) -> None:
    owners = {r: f"person-{r}" for r in ROLES if r != role}
    result = gates.plan_complete(_input(manifest=_manifest(owners=owners)))
    assert not result.passed
    assert result.reason == f"plan incomplete: missing owners.{role}"


def test_plan_complete_fails_without_rollback_plan() -> None:
    result = gates.plan_complete(_input(manifest=_manifest(rollback_plan=None)))
    assert not result.passed
    assert result.reason == "plan incomplete: missing rollback_plan"


# -- artifact_checksum ----------------------------------------------------------------


def test_artifact_checksum_missing_artifact_reports_problem() -> None:
    result = gates.artifact_checksum(
        _staging(artifact_sha256=None, artifact_problem="artifact /x/a.tgz not found")
    )
    assert not result.passed
    assert result.reason == "artifact /x/a.tgz not found"
    assert result.remedy == "build or fetch the artifact"


def test_artifact_checksum_missing_without_problem_text() -> None:
    result = gates.artifact_checksum(_staging(artifact_sha256=None, artifact_problem=""))
    assert not result.passed
    assert result.reason == "artifact not available"


@pytest.mark.parametrize("make", [_staging, _input], ids=["staging", "production"])
def test_artifact_checksum_mismatch(make: Any) -> None:
    result = gates.artifact_checksum(make(artifact_sha256=SHA_B))
    assert not result.passed
    assert SHA_B[:12] in result.reason
    assert SHA_A[:12] in result.reason
    assert "artifact.sha256" in result.remedy


def test_artifact_checksum_match_on_staging_needs_no_freeze_or_build_commit() -> None:
    result = gates.artifact_checksum(_staging(manifest=_manifest(code_freeze=None), artifact_commit=None))
    assert result.passed
    assert result.reason == f"sha256 {SHA_A[:12]}… matches"
    assert result.remedy == ""


def test_artifact_checksum_production_match_built_from_frozen_commit() -> None:
    result = gates.artifact_checksum(_input())
    assert result.passed
    assert FREEZE_COMMIT[:12] in result.reason


def test_artifact_checksum_production_without_code_freeze() -> None:
    result = gates.artifact_checksum(_input(manifest=_manifest(code_freeze=None)))
    assert not result.passed
    assert result.reason == "no code_freeze recorded in the manifest"
    assert "code_freeze" in result.remedy


@pytest.mark.parametrize("built", [None, ""])
def test_artifact_checksum_production_artifact_without_build_commit(built: str | None) -> None:
    result = gates.artifact_checksum(_input(artifact_commit=built))
    assert not result.passed
    assert "does not say which commit" in result.reason


def test_artifact_checksum_production_commit_mismatch() -> None:
    other = "c3e9f02b6d8a1c4e7f9b2d5a8c0e3f6b9d1a4c03"
    result = gates.artifact_checksum(_input(artifact_commit=other))
    assert not result.passed
    assert other[:12] in result.reason
    assert FREEZE_COMMIT[:12] in result.reason
    assert result.remedy == "build the artifact from the frozen commit"


def test_artifact_checksum_production_short_build_hash_matches_full_freeze() -> None:
    assert gates.artifact_checksum(_input(artifact_commit=FREEZE_COMMIT[:7])).passed


def test_artifact_checksum_production_short_freeze_matches_full_build_hash() -> None:
    short = _manifest(code_freeze={"commit": FREEZE_COMMIT[:7], "time": "2026-11-08T17:00:00+07:00"})
    assert gates.artifact_checksum(_input(manifest=short, artifact_commit=FREEZE_COMMIT)).passed


# -- artifact_checksum: provenance (build info, or the signed approvals) -------------------

UPSTREAM = "https://downloads.example.org/webapp-1.2.3.tar.gz"
THIRD_PARTY = _manifest(
    artifact={
        "path": "dist/webapp-1.2.3.tar.gz",
        "sha256": SHA_A,
        "provenance": "third_party",
        "source": UPSTREAM,
    }
)


def test_artifact_without_build_info_names_the_file_and_the_way_for_an_artifact_you_did_not_build() -> None:
    result = gates.artifact_checksum(_input(artifact_commit=None, build_info="release.json"))
    assert not result.passed
    assert result.reason == (
        "the artifact does not say which commit it was built from "
        '(no release.json with a "commit" at its root)'
    )
    assert 'release.json at the artifact\'s root, {"commit": "<sha>"}' in result.remedy
    assert (
        "artifact.provenance: third_party" in result.remedy and "policy.provenance: either" in result.remedy
    )


@pytest.mark.parametrize("proof", ["build_info", "either", "signed"])
def test_an_artifact_built_from_another_commit_is_refused_whatever_the_proof(proof: str) -> None:
    other = "c3e9f02b6d8a1c4e7f9b2d5a8c0e3f6b9d1a4c03"
    for manifest in (MANIFEST, THIRD_PARTY):
        result = gates.artifact_checksum(_input(manifest=manifest, artifact_commit=other, provenance=proof))
        assert not result.passed and f"artifact built from {other[:12]}" in result.reason


def test_a_third_party_artifact_is_refused_where_build_info_is_required() -> None:
    result = gates.artifact_checksum(_input(manifest=THIRD_PARTY, artifact_commit=None))
    assert not result.passed
    assert result.reason == (
        "artifact.provenance is third_party (no build info), but production requires build info "
        "(policy.provenance: build_info)"
    )
    assert "environments.production.provenance (or policy.provenance) to signed or either" in result.remedy


@pytest.mark.parametrize("proof", ["signed", "either"])
def test_a_third_party_artifact_is_proven_by_the_qa_and_po_approvals(proof: str) -> None:
    result = gates.artifact_checksum(_input(manifest=THIRD_PARTY, artifact_commit=None, provenance=proof))
    assert result.passed
    assert result.reason == (
        f"sha256 {SHA_A[:12]}… matches; third-party artifact from {UPSTREAM} attested by the signed "
        f"approvals of QA (sari) and PO (dewi) for code freeze {FREEZE_COMMIT[:12]}"
    )


@pytest.mark.parametrize(
    ("signatures", "missing"),
    [
        ((), "QA and PO"),
        ((QA_SIGNED,), "PO"),
        ((signature("qa", "mallory", QA_AT), signature("po", "dewi", PO_AT)), "QA"),  # not the QA owner
        ((signature("qa", "sari", QA_AT, valid=False), APPROVED[1]), "QA"),
    ],
    ids=["none", "qa-only", "qa-not-the-owner", "qa-invalid"],
)
def test_signed_provenance_waits_for_valid_approvals_of_the_owners(signatures: Any, missing: str) -> None:
    result = gates.artifact_checksum(
        _input(manifest=THIRD_PARTY, artifact_commit=None, provenance="signed", signatures=signatures)
    )
    assert not result.passed
    assert result.reason.endswith(f"no valid {missing} approval yet")
    assert "relkit approve MANIFEST --role qa|po" in result.remedy


def test_signed_provenance_also_proves_an_artifact_of_your_own_build() -> None:
    assert gates.artifact_checksum(_input(artifact_commit=None, provenance="signed")).passed
    assert not gates.artifact_checksum(
        _input(artifact_commit=None, provenance="signed", signatures=())
    ).passed


def test_either_takes_build_info_for_a_built_artifact() -> None:
    result = gates.artifact_checksum(_input(provenance="either", signatures=()))
    assert result.passed and "built from frozen commit" in result.reason
    assert not gates.artifact_checksum(_input(provenance="either", artifact_commit=None)).passed


def test_staging_checks_no_provenance() -> None:
    result = gates.artifact_checksum(_staging(manifest=THIRD_PARTY, artifact_commit=None, signatures=()))
    assert result.passed and result.reason == f"sha256 {SHA_A[:12]}… matches"


def test_artifact_checksum_production_short_hash_of_other_commit_fails() -> None:
    assert not gates.artifact_checksum(_input(artifact_commit="c3e9f02")).passed


@pytest.mark.parametrize("built", ["b", "b2", "b27d4e"])
def test_artifact_checksum_production_build_commit_too_short_to_identify(built: str) -> None:
    # A code freeze commit needs at least 7 hex digits; a build that names "b" identifies nothing,
    # yet it is a prefix of the frozen commit.
    assert not gates.artifact_checksum(_input(artifact_commit=built)).passed


# -- test_evidence --------------------------------------------------------------------


def test_test_evidence_all_passed() -> None:
    result = gates.test_evidence(_input())
    assert result.passed
    assert result.remedy == ""


@pytest.mark.parametrize("kind", EVIDENCE)
@pytest.mark.parametrize("state", ["missing", "failed", "pending"])
def test_test_evidence_each_kind_missing_failed_or_pending(kind: str, state: str) -> None:
    tests = dict(full_manifest_data()["tests"])
    if state == "missing":
        del tests[kind]
    else:
        tests[kind] = {"result": state, "link": "https://ci.example.org/x"}
    result = gates.test_evidence(_input(manifest=_manifest(tests=tests)))
    assert not result.passed
    assert result.reason == f"{kind}: {'not recorded' if state == 'missing' else state}"
    assert "tests.*" in result.remedy


def test_test_evidence_open_critical_bugs() -> None:
    tests = {**full_manifest_data()["tests"], "open_critical_bugs": 2}
    result = gates.test_evidence(_input(manifest=_manifest(tests=tests)))
    assert not result.passed
    assert result.reason == "2 open critical bug(s)"


def test_test_evidence_lists_every_problem() -> None:
    result = gates.test_evidence(_input(manifest=_manifest(tests={"open_critical_bugs": 1})))
    assert not result.passed
    assert all(f"{kind}: not recorded" in result.reason for kind in EVIDENCE)
    assert "1 open critical bug(s)" in result.reason


# -- approvals ------------------------------------------------------------------------


def test_approvals_qa_then_po_passes() -> None:
    result = gates.approvals(_input())
    assert result.passed
    assert result.reason == "QA: sari, then PO: dewi"


def test_approvals_without_any() -> None:
    result = gates.approvals(_input(signatures=()))
    assert not result.passed
    assert result.reason == "no valid QA approval"
    assert "--role qa" in result.remedy


def test_approvals_without_qa() -> None:
    result = gates.approvals(_input(signatures=(signature("po", "dewi", PO_AT),)))
    assert not result.passed
    assert "no valid QA approval" in result.reason


def test_approvals_without_po() -> None:
    result = gates.approvals(_input(signatures=(signature("qa", "sari", QA_AT),)))
    assert not result.passed
    assert result.reason == "no valid PO approval"
    assert "--role po" in result.remedy


def test_approvals_rejected_signature_does_not_count_and_is_noted() -> None:
    sigs = (
        signature("qa", "sari", QA_AT),
        signature("po", "dewi", PO_AT, valid=False, problem="the manifest was edited after this was signed"),
    )
    result = gates.approvals(_input(signatures=sigs))
    assert not result.passed
    assert "po approval by dewi rejected: the manifest was edited after this was signed" in result.reason
    assert "no valid PO approval" in result.reason


def test_approvals_verification_is_not_an_approval() -> None:
    sigs = (signature("qa", "sari", QA_AT), signature("po", "dewi", PO_AT, kind="verification"))
    assert not gates.approvals(_input(signatures=sigs)).passed


def test_approvals_new_qa_approval_needs_a_new_po_approval() -> None:
    # was: a PO approval older than the last QA approval (by their stated times) did not count;
    # now the order is the signature chain's: a QA approval no PO approval names needs a new one,
    # whatever time either signer wrote
    first = signature("qa", "sari", QA_AT)
    for again_at in (QA_AT + timedelta(hours=2), QA_AT - timedelta(days=1)):  # after the PO, or backdated
        again = signature("qa", "sari", again_at)
        result = gates.approvals(_input(signatures=(first, _po(PO_AT, first), again)))
        assert not result.passed
        assert (
            f"QA approval by sari ({again_at:%Y-%m-%d %H:%M}) is followed by no PO approval: "
            "the PO approves again" in result.reason
        )
        assert result.remedy == "PO: relkit approve MANIFEST --role po --key KEY (after QA)"
        assert gates.approvals(_input(signatures=(first, _po(PO_AT, first), again, _po(PO_AT, again)))).passed


def test_approvals_po_before_any_qa_does_not_count() -> None:
    # was: a PO approval stated earlier than QA's did not count; a later stated time passed — the
    # chosen-timestamp attack. Now a PO approval naming no QA record never counts, whatever its time.
    qa = signature("qa", "sari", QA_AT)
    for at in (QA_AT - timedelta(minutes=1), _utc(2030, 1, 1)):
        result = gates.approvals(_input(signatures=(signature("po", "dewi", at), qa)))
        assert not result.passed
        assert "PO approval by dewi follows no valid QA approval of this manifest" in result.reason
        assert "no valid PO approval after QA" in result.reason


def test_approvals_po_following_an_invalid_or_unknown_qa_record_does_not_count() -> None:
    void = signature("qa", "sari", QA_AT - timedelta(hours=1), valid=False, problem="edited after")
    qa = signature("qa", "sari", QA_AT)
    for followed in (void, signature("qa", "sari", QA_AT + timedelta(hours=5))):  # invalid, or not there
        result = gates.approvals(_input(signatures=(void, qa, _po(PO_AT, followed))))
        assert not result.passed
        assert "PO approval by dewi follows no valid QA approval" in result.reason


def test_approvals_newer_po_approval_counts() -> None:
    qa = signature("qa", "sari", QA_AT)
    sigs = (signature("po", "dewi", QA_AT - timedelta(hours=1)), qa, _po(QA_AT + timedelta(hours=1), qa))
    result = gates.approvals(_input(signatures=sigs))
    assert result.passed
    assert result.reason.startswith("QA: sari, then PO: dewi (not counted: PO approval by dewi follows no")


def test_approvals_the_chain_decides_not_the_stated_times() -> None:
    qa = signature("qa", "sari", QA_AT)
    assert gates.approvals(_input(signatures=(qa, _po(QA_AT - timedelta(days=3), qa)))).passed


@pytest.mark.parametrize("role", ["qa", "po"])
def test_approvals_by_someone_not_the_owner_do_not_count(role: str) -> None:
    qa = signature("qa", "mallory" if role == "qa" else "sari", QA_AT)
    po = _po(PO_AT, qa, by="mallory" if role == "po" else "dewi")
    result = gates.approvals(_input(signatures=(qa, po)))
    assert not result.passed
    owner, label = ("sari", "QA") if role == "qa" else ("dewi", "PO")
    why = f"signed by mallory, but the manifest names {owner} as {label} owner"
    assert f"{role} approval by mallory rejected: {why}" in result.reason
    assert f"no valid {label} approval" in result.reason


def test_approvals_of_a_manifest_without_the_owner() -> None:
    owners = {"po": "dewi", "dev": "budi", "ops": "ops-demo", "comms": "rina"}
    result = gates.approvals(_input(manifest=_manifest(owners=owners)))
    assert not result.passed
    assert "signed by sari, but the manifest names no QA owner (owners.qa)" in result.reason


def test_approvals_owner_group() -> None:
    manifest = _manifest(
        owners={"po": "dewi", "dev": "budi", "qa": "@qa-team", "ops": "ops-demo", "comms": "rina"}
    )
    qa = signature("qa", "budi", QA_AT)
    sigs = (qa, _po(PO_AT, qa))
    assert gates.approvals(
        _input(manifest=manifest, signatures=sigs, groups={"qa-team": ["sari", "budi"]})
    ).passed
    result = gates.approvals(_input(manifest=manifest, signatures=sigs, groups={"qa-team": ["sari"]}))
    assert not result.passed
    assert "signed by budi, who is not in @qa-team, the manifest's QA owner" in result.reason
    result = gates.approvals(_input(manifest=manifest, signatures=sigs))
    assert not result.passed
    assert (
        "the manifest names @qa-team as QA owner, but approvals.groups defines no 'qa-team'" in result.reason
    )


def test_approvals_one_principal_in_both_roles_fails() -> None:
    both = {"po": "@leads", "dev": "budi", "qa": "@leads", "ops": "ops-demo", "comms": "rina"}
    qa = signature("qa", "sari", QA_AT)
    sigs = (qa, _po(PO_AT, qa, by="sari", key="SHA256:second-key-of-sari"))
    result = gates.approvals(
        _input(manifest=_manifest(owners=both), signatures=sigs, groups={"leads": ["sari"]})
    )
    assert not result.passed
    assert "sari gave both the QA and the PO approval: one person cannot fill two roles" in result.reason
    assert "different people with their own keys" in result.remedy


def test_approvals_one_key_in_both_roles_fails() -> None:
    qa = signature("qa", "sari", QA_AT, key="SHA256:shared")
    result = gates.approvals(_input(signatures=(qa, _po(PO_AT, qa, key="SHA256:shared"))))
    assert not result.passed
    assert (
        "the QA approval by sari and the PO approval by dewi were signed with one key (SHA256:shared): "
        "one key cannot fill two roles" in result.reason
    )


# -- four_eyes ------------------------------------------------------------------------


def test_four_eyes_other_deployer_passes() -> None:
    result = gates.four_eyes(_input(actor="ops-demo"))
    assert result.passed
    assert "ops-demo" in result.reason


@pytest.mark.parametrize("approver", ["sari", "dewi"], ids=["qa-approver", "po-approver"])
def test_four_eyes_blocks_self_approval(approver: str) -> None:
    result = gates.four_eyes(_input(actor=approver))
    assert not result.passed
    assert "self-approval" in result.reason
    assert approver in result.reason
    assert "production" in result.reason
    assert result.remedy


def test_four_eyes_invalid_signature_is_no_approval() -> None:
    sigs = (*APPROVED, signature("qa", "mallory", QA_AT, valid=False, problem="signature rejected"))
    assert gates.four_eyes(_input(actor="mallory", signatures=sigs)).passed


@pytest.mark.parametrize("same", ["key", "principal"])
def test_four_eyes_blocks_one_key_or_person_giving_both_approvals(same: str) -> None:
    qa = signature("qa", "sari", QA_AT, key="SHA256:shared")
    po = _po(PO_AT, qa, by="sari" if same == "principal" else "dewi", key="SHA256:shared")
    result = gates.four_eyes(_input(actor="ops-demo", signatures=(qa, po)))
    assert not result.passed
    if same == "key":
        assert "the QA approval by sari and the PO approval by dewi were signed with one key" in result.reason
    else:
        assert "sari gave both the QA and the PO approval" in result.reason
    assert result.remedy
    result = gates.four_eyes(_input(actor="sari", signatures=(qa, po)))
    assert not result.passed
    assert "self-approval" in result.reason


def test_four_eyes_verification_is_not_an_approval() -> None:
    sigs = (*APPROVED, signature("po", "ops-demo", PO_AT, kind="verification", env="production"))
    assert gates.four_eyes(_input(actor="ops-demo", signatures=sigs)).passed


# -- infra_ready ----------------------------------------------------------------------


def test_infra_ready_without_prepare() -> None:
    result = gates.infra_ready(_input(history=()))
    assert not result.passed
    assert result.reason == "no passing prepare on this environment for these host requirements"
    assert result.remedy == "relkit prepare --env production --manifest MANIFEST"


def test_infra_ready_last_prepare_failed() -> None:
    history = (_prepare(seq=1), _prepare(passed=False, seq=2, ts="2026-11-10T09:00:00.000000+00:00"))
    result = gates.infra_ready(_input(history=history))
    assert not result.passed
    assert result.reason == "the last prepare on production failed (2026-11-10T09:00:00Z)"


def test_infra_ready_passing_prepare_for_other_requirements() -> None:
    result = gates.infra_ready(_input(history=(_prepare(digest="req-digest-OLD"),)))
    assert not result.passed
    assert "these host requirements" in result.reason


def test_infra_ready_passing_prepare_on_other_env_does_not_count() -> None:
    assert not gates.infra_ready(_input(history=(_prepare(env="staging"),))).passed


def test_infra_ready_passing_prepare_for_same_requirements() -> None:
    history = (_prepare(passed=False, seq=1), _prepare(seq=2, ts="2026-11-10T09:00:00.000000+00:00"))
    result = gates.infra_ready(_input(history=history))
    assert result.passed
    assert result.reason == "prepare passed at 2026-11-10T09:00:00Z for these requirements"


# -- notice_sent ----------------------------------------------------------------------
# window opens 2026-11-10 15:00 UTC; with the default 24 h lead the notice is due by 11-09 15:00 UTC.


def test_notice_sent_none() -> None:
    result = gates.notice_sent(_input(history=()))
    assert not result.passed
    assert result.reason == "no successful announcement recorded"
    assert "relkit notify" in result.remedy


def test_notice_sent_failed_send_does_not_count() -> None:
    result = gates.notice_sent(_input(history=(_notice(_utc(2026, 11, 8, 10), ok=False),)))
    assert not result.passed
    assert result.reason == "no successful announcement recorded"


def test_notice_sent_other_version_does_not_count() -> None:
    assert not gates.notice_sent(_input(history=(_notice(_utc(2026, 11, 8, 10), version="1.2.2"),))).passed


@pytest.mark.parametrize("sha", [SHA_B, None], ids=["other-artifact", "no-sha256-on-record"])
def test_notice_sent_for_another_artifact_does_not_count(sha: str | None) -> None:
    """The announcement names the release: the same version built from another artifact is another release."""
    result = gates.notice_sent(_input(history=(_notice(_utc(2026, 11, 8, 10), sha256=sha),)))
    assert not result.passed
    assert result.reason.startswith("the announcement of 1.2.3 (2026-11-08T10:00Z) named artifact sha256 ")
    assert f"this manifest's is {SHA_A[:12]}…: it announced another build" in result.reason
    assert "relkit notify MANIFEST --kind announcement" in result.remedy


def test_notice_sent_counts_the_announcement_of_this_artifact_among_others() -> None:
    history = (_notice(_utc(2026, 11, 7, 10), sha256=SHA_B, seq=1), _notice(_utc(2026, 11, 8, 10), seq=2))
    result = gates.notice_sent(_input(history=history))
    assert result.passed
    assert result.reason == "announced 2026-11-08T10:00Z, ≥ 24 h ahead"


def test_notice_sent_none_says_by_when_to_announce() -> None:
    """Two days ahead: the remedy names the last moment an announcement is still 24 h ahead."""
    result = gates.notice_sent(_input(history=(), now=_utc(2026, 11, 8, 9, 0)))
    assert not result.passed
    assert result.remedy == (
        "relkit notify MANIFEST --kind announcement by 2026-11-09 22:00 WIB = 15:00Z "
        "(24 h before the window opens 2026-11-10 22:00 WIB = 15:00Z)"
    )


def test_notice_sent_same_day_says_when_a_notice_would_be_old_enough() -> None:
    """A newcomer on the window's day: a notice sent now is 24 h old only tomorrow, and relkit says so."""
    result = gates.notice_sent(_input(history=(), now=_utc(2026, 11, 10, 9, 40)))
    assert not result.passed
    assert result.remedy.startswith(
        "relkit notify MANIFEST --kind announcement, and move the window to 2026-11-11 16:40 WIB = 09:40Z "
        "or later (new manifest): the window opens 2026-11-10 22:00 WIB = 15:00Z, less than 24 h from now"
    )
    assert "policy.notice_lead_hours" in result.remedy
    assert "relkit override --gate notice_sent" in result.remedy


def test_notice_sent_too_late_says_which_windows_it_covers() -> None:
    result = gates.notice_sent(_input(history=(_notice(_utc(2026, 11, 10, 9, 0)),)))
    assert not result.passed
    assert result.reason.endswith(
        "that notice covers windows opening from 2026-11-11 16:00 WIB = 09:00Z, 18 h after this one opens"
    )
    assert result.remedy.startswith(
        "move the window to 2026-11-11 16:00 WIB = 09:00Z or later (new manifest)"
    )


def test_notice_sent_other_event_does_not_count() -> None:
    history = (_notice(_utc(2026, 11, 8, 10), event="deploy.started"),)
    assert not gates.notice_sent(_input(history=history)).passed


def test_notice_sent_too_late() -> None:
    result = gates.notice_sent(_input(history=(_notice(_utc(2026, 11, 9, 15, 0, 1)),)))
    assert not result.passed
    assert "less than 24 h before the window" in result.reason
    assert "2026-11-09T15:00Z" in result.reason


def test_notice_sent_exactly_the_lead_time_ahead() -> None:
    assert gates.notice_sent(_input(history=(_notice(_utc(2026, 11, 9, 15, 0)),))).passed


def test_notice_sent_in_time() -> None:
    result = gates.notice_sent(_input(history=(_notice(_utc(2026, 11, 8, 10, 0)),)))
    assert result.passed
    assert result.reason == "announced 2026-11-08T10:00Z, ≥ 24 h ahead"


def test_notice_sent_first_successful_notice_counts() -> None:
    history = (
        _notice(_utc(2026, 11, 8, 10), ok=False, seq=1),
        _notice(_utc(2026, 11, 9, 14), seq=2),
        _notice(_utc(2026, 11, 10, 14), seq=3),  # a late reminder does not spoil the first one
    )
    assert gates.notice_sent(_input(history=history)).passed


def test_notice_sent_lead_time_from_policy() -> None:
    inp = _input(history=(_notice(_utc(2026, 11, 9, 10)),), policy=Policy(notice_lead_hours=48))
    result = gates.notice_sent(inp)
    assert not result.passed
    assert "less than 48 h" in result.reason


def test_notice_sent_without_schedule() -> None:
    result = gates.notice_sent(_input(manifest=_manifest(schedule=None)))
    assert not result.passed
    assert result.reason == "no schedule to announce"


# -- window ---------------------------------------------------------------------------


def _scheduled(start: str, end: str, tz: str) -> Manifest:
    return _manifest(schedule={"window_start": start, "window_end": end, "timezone": tz})


@pytest.mark.parametrize(
    ("now", "verdict"),
    [
        (WINDOW_START - timedelta(seconds=1), "before"),
        (WINDOW_START, "inside"),
        (_utc(2026, 11, 10, 16, 29, 59), "inside"),
        (WINDOW_END, "after"),
        (_utc(2026, 11, 11, 3, 0), "after"),
    ],
)
def test_window_jakarta(now: datetime, verdict: str) -> None:
    result = gates.window(_input(now=now))
    assert result.passed is (verdict == "inside")
    if verdict == "inside":
        assert "is inside 22:00-23:30" in result.reason
    else:
        assert f" is {verdict} the window 2026-11-10 22:00-23:30" in result.reason
        assert result.remedy


def test_window_before_says_when_it_opens() -> None:
    result = gates.window(_input(now=_utc(2026, 11, 10, 9, 40)))
    assert not result.passed
    assert result.reason == (
        "2026-11-10 16:40 WIB is before the window 2026-11-10 22:00-23:30 WIB: it opens in 5 h 20 min, "
        "2026-11-10 22:00 WIB = 15:00Z"
    )
    assert result.remedy.startswith("deploy once the window opens (2026-11-10 22:00 WIB = 15:00Z)")


def test_window_days_ahead_and_across_utc_midnight() -> None:
    """Jakarta 05:00 is 22:00 UTC the day before: the UTC time carries its date."""
    early = _scheduled("2026-11-12T05:00:00", "2026-11-12T06:00:00", "Asia/Jakarta")
    result = gates.window(_input(manifest=early, now=_utc(2026, 11, 10, 9, 40)))
    assert result.reason.endswith("it opens in 1 d 12 h, 2026-11-12 05:00 WIB = 2026-11-11 22:00Z")


def test_window_after_says_how_long_ago_it_closed() -> None:
    result = gates.window(_input(now=_utc(2026, 11, 10, 16, 42)))
    assert result.reason.endswith("is after the window 2026-11-10 22:00-23:30 WIB: it closed 12 min ago")
    assert "announcement must be 24 h ahead" in result.remedy


def test_window_reason_shows_local_time() -> None:
    result = gates.window(_input(now=_utc(2026, 11, 10, 15, 30)))
    assert result.reason.startswith("2026-11-10 22:30 ")


def test_window_same_instant_inside_jakarta_outside_new_york() -> None:
    # 22:00-23:30 local on 2026-11-10: Jakarta (UTC+7) = 15:00-16:30 UTC,
    # New York (EST, UTC-5) = 2026-11-11 03:00-04:30 UTC.
    jakarta = _scheduled("2026-11-10T22:00:00", "2026-11-10T23:30:00", "Asia/Jakarta")
    new_york = _scheduled("2026-11-10T22:00:00", "2026-11-10T23:30:00", "America/New_York")
    now = _utc(2026, 11, 10, 15, 30)
    assert gates.window(_input(manifest=jakarta, now=now)).passed
    result = gates.window(_input(manifest=new_york, now=now))
    assert not result.passed
    assert "2026-11-10 10:30" in result.reason
    assert "before" in result.reason
    later = _utc(2026, 11, 11, 3, 30)
    assert gates.window(_input(manifest=new_york, now=later)).passed
    assert not gates.window(_input(manifest=jakarta, now=later)).passed


def test_window_with_explicit_offset() -> None:
    offset = _scheduled("2026-11-10T22:00:00+07:00", "2026-11-10T23:30:00+07:00", "UTC")
    assert gates.window(_input(manifest=offset, now=_utc(2026, 11, 10, 15, 0))).passed
    assert not gates.window(_input(manifest=offset, now=_utc(2026, 11, 10, 22, 30))).passed


# 2026-03-08, New York springs forward at 02:00 EST -> 03:00 EDT: 01:00-03:00 local is one real
# hour, 06:00 (01:00 EST, UTC-5) to 07:00 UTC (03:00 EDT, UTC-4).
@pytest.mark.parametrize(
    ("now", "inside"),
    [
        (_utc(2026, 3, 8, 5, 59, 59), False),
        (_utc(2026, 3, 8, 6, 0), True),
        (_utc(2026, 3, 8, 6, 59, 59), True),
        (_utc(2026, 3, 8, 7, 0), False),
        (_utc(2026, 3, 8, 7, 30), False),  # a fixed UTC-5 would wrongly put this inside
    ],
)
def test_window_dst_spring_forward(now: datetime, inside: bool) -> None:
    manifest = _scheduled("2026-03-08T01:00:00", "2026-03-08T03:00:00", "America/New_York")
    assert gates.window(_input(manifest=manifest, now=now)).passed is inside


# 2026-11-01, New York falls back at 02:00 EDT -> 01:00 EST: 01:00-03:00 local is three real
# hours, 05:00 (01:00 EDT, first occurrence, UTC-4) to 08:00 UTC (03:00 EST, UTC-5).
@pytest.mark.parametrize(
    ("now", "inside"),
    [
        (_utc(2026, 11, 1, 4, 59, 59), False),
        (_utc(2026, 11, 1, 5, 0), True),
        (_utc(2026, 11, 1, 6, 30), True),  # 01:30 EST, the repeated hour
        (_utc(2026, 11, 1, 7, 30), True),  # a fixed UTC-4 would wrongly put this after the window
        (_utc(2026, 11, 1, 8, 0), False),
    ],
)
def test_window_dst_fall_back(now: datetime, inside: bool) -> None:
    manifest = _scheduled("2026-11-01T01:00:00", "2026-11-01T03:00:00", "America/New_York")
    assert gates.window(_input(manifest=manifest, now=now)).passed is inside


def test_window_without_schedule() -> None:
    result = gates.window(_input(manifest=_manifest(schedule=None)))
    assert not result.passed
    assert result.reason == "no release window in the manifest"


# -- freeze ---------------------------------------------------------------------------
# year-end:  2026-12-24 00:00 - 2026-12-27 00:00 Asia/Jakarta   = 12-23 17:00 - 12-26 17:00 UTC
# new year:  2026-12-31 18:00 - 2027-01-02 09:00 New York (EST) = 12-31 23:00 - 01-02 14:00 UTC

FREEZES = validate_data(
    Policy,
    {
        "freezes": [
            {
                "start": "2026-12-24T00:00:00",
                "end": "2026-12-27T00:00:00",
                "timezone": "Asia/Jakarta",
                "reason": "year-end",
            },
            {
                "start": "2026-12-31T18:00:00",
                "end": "2027-01-02T09:00:00",
                "timezone": "America/New_York",
                "reason": "new year",
            },
        ]
    },
    "relkit.yml",
)


@pytest.mark.parametrize(
    ("now", "frozen_by"),
    [
        (_utc(2026, 12, 23, 16, 59, 59), None),
        (_utc(2026, 12, 23, 17, 0), "year-end"),  # start inclusive
        (_utc(2026, 12, 25, 0, 0), "year-end"),
        (_utc(2026, 12, 26, 16, 59, 59), "year-end"),
        (_utc(2026, 12, 26, 17, 0), None),  # end exclusive
        (_utc(2026, 12, 29, 12, 0), None),  # between the two
        (_utc(2026, 12, 31, 22, 59, 59), None),
        (_utc(2026, 12, 31, 23, 0), "new year"),
        (_utc(2027, 1, 2, 13, 59, 59), "new year"),
        (_utc(2027, 1, 2, 14, 0), None),
    ],
)
def test_freeze_calendar(now: datetime, frozen_by: str | None) -> None:
    result = gates.freeze(_input(now=now, policy=FREEZES))
    assert result.passed is (frozen_by is None)
    if frozen_by is None:
        assert result.reason == "no deploy freeze now"
    else:
        assert result.reason.startswith(f"deploy freeze: {frozen_by} (")
        assert result.remedy == "wait for the freeze to end"


def test_freeze_none_configured() -> None:
    assert gates.freeze(_input(now=_utc(2026, 12, 25))).passed


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
    assert not gates.promoted_from(_input(history=(_smoke(passed=False),))).passed


def test_promoted_from_passed_smoke_of_other_sha_does_not_count() -> None:
    assert not gates.promoted_from(_input(history=(_smoke(sha=SHA_B),))).passed


def test_promoted_from_passed_smoke_on_other_env_does_not_count() -> None:
    assert not gates.promoted_from(_input(history=(_smoke(env="qa"), _smoke(env="production")))).passed


def test_promoted_from_other_kinds_do_not_count() -> None:
    switched = entry("host.switched", env="staging", sha256=SHA_A, passed=True)
    assert not gates.promoted_from(_input(history=(switched,))).passed


def test_promoted_from_rollback_smoke_without_sha_does_not_count() -> None:
    assert not gates.promoted_from(_input(history=(_smoke(sha=None),))).passed


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


def _rollout(kind: str, run_id: str, seq: int, **data: Any) -> Entry:
    return entry(f"rollout.{kind}", run_id=run_id, seq=seq, rollout_id="r1", **data)


def _canary_history(*tail: Entry) -> tuple[Entry, ...]:
    """A staging rollout (run r1) whose canary passed smoke with this very artifact."""
    started = _rollout(
        "started", "r1", 1, version="1.2.3", sha256=SHA_A, batches=[["web1"], ["web2", "web3"]]
    )
    return (
        started,
        _smoke(run_id="r1", seq=2, hosts=["web1"]),
        _rollout("batch", "r1", 3, index=0, hosts=["web1"], switched=["web1"], ok=True),
        *tail,
    )


def test_promoted_from_smoke_of_a_rollout_stopped_after_its_canary_does_not_count() -> None:
    history = _canary_history(
        _rollout("analysis", "r1", 4, passed=False),
        _rollout("finished", "r1", 5, status="rolled_back", rolled_back={"web1": "1.0.0"}),
    )
    result = gates.promoted_from(_input(history=history))
    assert not result.passed
    assert "passed only on part of staging, in rollout r1, which was rolled back" in result.reason
    assert result.remedy == "deploy this manifest to staging first: relkit deploy MANIFEST --env staging"


def test_promoted_from_smoke_of_a_rollout_still_open_does_not_count() -> None:
    result = gates.promoted_from(_input(history=_canary_history()))
    assert not result.passed
    assert "in rollout r1, which has not completed" in result.reason


def test_promoted_from_smoke_of_a_rollout_completed_in_a_resumed_run_counts() -> None:
    history = _canary_history(
        _rollout("resumed", "r2", 4),
        _smoke(run_id="r2", seq=5, hosts=["web2", "web3"]),
        _rollout("batch", "r2", 6, index=1, hosts=["web2", "web3"], switched=["web2", "web3"], ok=True),
        _rollout("finished", "r2", 7, status="complete"),
    )
    assert gates.promoted_from(_input(history=history)).passed


def test_promoted_from_rollout_of_another_environment_does_not_taint_the_smoke() -> None:
    history = (
        _rollout("started", "r1", 1, env="qa", version="1.2.3", sha256=SHA_A, batches=[["q1"]]),
        _smoke(run_id="r1", seq=2),
    )
    assert gates.promoted_from(_input(history=history)).passed


# -- verified -------------------------------------------------------------------------

VERIFIED_AT = _utc(2026, 11, 11, 9, 0)


def test_verified_po_verification_for_this_env() -> None:
    sigs = (*APPROVED, signature("po", "dewi", VERIFIED_AT, kind="verification", env="production"))
    result = gates.verified(_input(signatures=sigs))
    assert result.passed
    assert result.reason == "verified by dewi at 2026-11-11 09:00"


def test_verified_without_verification() -> None:
    result = gates.verified(_input())  # approvals are not verifications
    assert not result.passed
    assert result.reason == "no valid PO verification for production"
    assert result.remedy == "PO: relkit verify MANIFEST --env production"


def test_verified_for_another_env_does_not_count() -> None:
    sigs = (signature("po", "dewi", VERIFIED_AT, kind="verification", env="staging"),)
    assert not gates.verified(_input(signatures=sigs)).passed


def test_verified_invalid_signature_does_not_count() -> None:
    sigs = (signature("po", "dewi", VERIFIED_AT, kind="verification", env="production", valid=False),)
    assert not gates.verified(_input(signatures=sigs)).passed


def test_verified_by_qa_role_does_not_count() -> None:
    sigs = (signature("qa", "sari", VERIFIED_AT, kind="verification", env="production"),)
    assert not gates.verified(_input(signatures=sigs)).passed


def test_verified_by_someone_not_the_po_owner_does_not_count() -> None:
    sigs = (signature("po", "mallory", VERIFIED_AT, kind="verification", env="production"),)
    result = gates.verified(_input(signatures=sigs))
    assert not result.passed
    assert result.reason == (
        "po verification by mallory rejected: signed by mallory, but the manifest names dewi as PO owner; "
        "no valid PO verification for production"
    )


# -- monitoring_elapsed ---------------------------------------------------------------

SWITCH = _utc(2026, 11, 10, 15, 10)


def test_monitoring_never_switched() -> None:
    history = (_switched(SWITCH, env="staging"), _switched(SWITCH, version="1.2.2"))
    result = gates.monitoring_elapsed(_input(history=history, now=SWITCH + timedelta(days=3)))
    assert not result.passed
    assert result.reason == "1.2.3 is not live on production"


def test_monitoring_too_early() -> None:
    result = gates.monitoring_elapsed(_input(history=(_switched(SWITCH),), now=SWITCH + timedelta(hours=20)))
    assert not result.passed
    assert result.reason == "monitoring window runs 4.0 h more"


def test_monitoring_elapsed_exactly() -> None:
    result = gates.monitoring_elapsed(_input(history=(_switched(SWITCH),), now=SWITCH + timedelta(hours=24)))
    assert result.passed
    assert result.reason == "24 h monitored since 2026-11-10 15:10Z"


def test_monitoring_hours_from_policy() -> None:
    inp = _input(
        history=(_switched(SWITCH),), now=SWITCH + timedelta(hours=30), policy=Policy(monitoring_hours=36)
    )
    assert not gates.monitoring_elapsed(inp).passed


def test_monitoring_counts_from_the_last_switch() -> None:
    history = (_switched(SWITCH), _switched(SWITCH + timedelta(hours=10)))
    assert not gates.monitoring_elapsed(_input(history=history, now=SWITCH + timedelta(hours=25))).passed


def test_monitoring_elapsed_but_last_health_critical() -> None:
    history = (
        _switched(SWITCH),
        _health(SWITCH + timedelta(hours=1), "ok"),
        _health(SWITCH + timedelta(hours=23), "critical"),
    )
    result = gates.monitoring_elapsed(_input(history=history, now=SWITCH + timedelta(hours=25)))
    assert not result.passed
    assert result.reason == "last health check (2026-11-11T14:10Z) was critical"
    assert result.remedy == "fix or roll back first"


def test_monitoring_critical_then_recovered_passes() -> None:
    history = (
        _switched(SWITCH),
        _health(SWITCH + timedelta(hours=2), "critical"),
        _health(SWITCH + timedelta(hours=3), "ok"),
        _health(SWITCH + timedelta(hours=4), "critical", env="staging"),
    )
    assert gates.monitoring_elapsed(_input(history=history, now=SWITCH + timedelta(hours=25))).passed


def test_monitoring_critical_before_the_switch_does_not_count() -> None:
    history = (_health(SWITCH - timedelta(hours=1), "critical"), _switched(SWITCH))
    assert gates.monitoring_elapsed(_input(history=history, now=SWITCH + timedelta(hours=25))).passed


# -- retrospective --------------------------------------------------------------------


@pytest.mark.parametrize("retro", [None, "", "  \n\t "])
def test_retrospective_missing_or_blank(retro: str | None) -> None:
    result = gates.retrospective(_input(retro=retro))
    assert not result.passed
    assert result.reason == "no retrospective note"
    assert "--retro" in result.remedy


def test_retrospective_present() -> None:
    result = gates.retrospective(_input(retro="  went well\n"))
    assert result.passed
    assert result.reason == "retrospective note (9 characters)"


# -- gates_for, unknown_gates ---------------------------------------------------------


@pytest.mark.parametrize("env", ["staging", "production"])
def test_gates_for_prepare_default(env: str) -> None:
    upstream = "staging" if env == "production" else None
    assert gates_for("prepare", env, upstream, Policy()) == ["signers", "manifest_valid", "plan_complete"]


def test_gates_for_deploy_without_upstream() -> None:
    assert gates_for("deploy", "staging", None, Policy()) == [
        "signers",
        "manifest_valid",
        "plan_complete",
        "artifact_checksum",
    ]


def test_gates_for_deploy_with_upstream_is_the_whole_sop() -> None:
    assert gates_for("deploy", "production", "staging", Policy()) == SOP_PRODUCTION
    assert set(SOP_PRODUCTION) >= {"approvals", "four_eyes", "notice_sent", "window", "promoted_from"}


def test_gates_for_close_default() -> None:
    expected = ["signers", "verified", "monitoring_elapsed", "retrospective"]
    assert gates_for("close", "production", "staging", Policy()) == expected
    assert gates_for("close", "staging", None, Policy()) == expected


def test_gates_for_policy_replaces_a_stage_for_every_env() -> None:
    policy = Policy(gates={"deploy": ["manifest_valid", "window"]})
    assert gates_for("deploy", "staging", None, policy) == ["signers", "manifest_valid", "window"]
    assert gates_for("deploy", "production", "staging", policy) == ["signers", "manifest_valid", "window"]
    assert gates_for("prepare", "production", "staging", policy) == DEFAULT["prepare"]


def test_gates_for_stage_env_wins_over_stage() -> None:
    policy = Policy(gates={"deploy": ["manifest_valid"], "deploy:production": ["approvals", "window"]})
    assert gates_for("deploy", "production", "staging", policy) == ["signers", "approvals", "window"]
    assert gates_for("deploy", "staging", None, policy) == ["signers", "manifest_valid"]


def test_gates_for_stage_env_only_touches_that_env() -> None:
    policy = Policy(gates={"deploy:production": ["approvals"]})
    assert gates_for("deploy", "production", "staging", policy) == ["signers", "approvals"]
    assert gates_for("deploy", "staging", None, policy) == DEFAULT["deploy"]


def test_gates_for_returns_a_copy() -> None:
    policy = Policy(gates={"deploy": ["manifest_valid"]})
    gates_for("deploy", "staging", None, policy).append("window")
    gates_for("deploy", "production", "staging", Policy()).clear()
    assert gates_for("deploy", "staging", None, policy) == ["signers", "manifest_valid"]
    assert gates_for("deploy", "production", "staging", Policy()) == SOP_PRODUCTION


def test_unknown_gates() -> None:
    assert unknown_gates(Policy()) == []
    policy = Policy(
        gates={"deploy": ["manifest_valid", "nope"], "close:production": ["verified", "aaa"]},
        not_overridable=["artifact_checksum", "zzz"],
    )
    assert unknown_gates(policy) == ["aaa", "nope", "zzz"]


def test_default_policy_forbids_overriding_checksum_and_promotion() -> None:
    assert set(Policy().not_overridable) == {"artifact_checksum", "promoted_from"}


# -- evaluate, overrides, report ------------------------------------------------------


def test_evaluate_prepare_runs_plan_gates_only() -> None:
    report = evaluate("prepare", _input(artifact_sha256=None, signatures=(), history=()))
    assert [r.name for r in report.results] == ["signers", "manifest_valid", "plan_complete"]
    assert report.passed


def test_evaluate_deploy_without_upstream() -> None:
    report = evaluate("deploy", _staging(signatures=(), history=(), artifact_commit=None))
    assert [r.name for r in report.results] == DEFAULT["deploy"]
    assert report.passed
    assert report.failed == ()


def test_evaluate_deploy_production_collects_every_failure() -> None:
    report = evaluate("deploy", _input(signatures=(), history=(), now=_utc(2026, 11, 12)))
    assert isinstance(report, GateReport)
    assert [r.name for r in report.failed] == [
        "approvals",
        "infra_ready",
        "notice_sent",
        "window",
        "promoted_from",
    ]
    assert (report.stage, report.env, report.version) == ("deploy", "production", "1.2.3")


def test_evaluate_uses_policy_gates() -> None:
    inp = _input(policy=Policy(gates={"deploy:production": ["manifest_valid", "retrospective"]}))
    report = evaluate("deploy", inp)
    assert [r.name for r in report.results] == ["signers", "manifest_valid", "retrospective"]
    assert [r.name for r in report.failed] == ["retrospective"]


def test_evaluate_explicit_names() -> None:
    report = evaluate("deploy", _input(history=()), names=["artifact_checksum"])
    assert [r.name for r in report.results] == ["artifact_checksum"]
    assert report.passed


def test_evaluate_is_pure() -> None:
    inp = _input(history=(_smoke(passed=False),))
    assert evaluate("deploy", inp) == evaluate("deploy", inp)


def test_override_passes_a_failed_gate_and_names_who_and_why() -> None:
    late = _input(now=WINDOW_END + timedelta(minutes=5))
    assert [r.name for r in evaluate("deploy", late).failed] == ["window"]
    report = evaluate("deploy", late, overrides=[Override("window", "dewi", "incident fix, PO agreed")])
    assert report.passed
    result = next(r for r in report.results if r.name == "window")
    assert result.passed
    assert result.overridden
    assert (result.overridden_by, result.override_reason) == ("dewi", "incident fix, PO agreed")
    assert "after the window" in result.reason  # why it failed is kept
    assert result.remedy


def test_override_of_a_passing_gate_is_not_marked() -> None:
    report = evaluate("deploy", _input(), overrides=[Override("window", "dewi", "just in case")])
    result = next(r for r in report.results if r.name == "window")
    assert result.passed
    assert not result.overridden
    assert result.overridden_by == ""


def test_override_only_passes_the_named_gate() -> None:
    report = evaluate(
        "deploy", _input(history=()), overrides=[Override("notice_sent", "dewi", "told by phone")]
    )
    assert not report.passed
    assert [r.name for r in report.failed] == ["infra_ready", "promoted_from"]
    assert [r.name for r in report.results if r.overridden] == ["notice_sent"]


def test_report_to_dict_is_json_ready_with_overrides() -> None:
    report = evaluate(
        "deploy", _input(history=GREEN_HISTORY[:2]), overrides=[Override("notice_sent", "x", "unused")]
    )
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert (data["stage"], data["env"], data["version"], data["passed"]) == (
        "deploy",
        "production",
        "1.2.3",
        False,
    )
    by_name = {g["name"]: g for g in data["gates"]}
    assert list(by_name) == SOP_PRODUCTION
    assert set(by_name["promoted_from"]) == {
        "name",
        "passed",
        "reason",
        "remedy",
        "overridden_by",
        "override_reason",
    }
    assert by_name["promoted_from"]["passed"] is False
    assert by_name["promoted_from"]["remedy"].endswith("--env staging")

    overridden = evaluate(
        "deploy", _input(history=()), overrides=[Override("infra_ready", "dewi", "checked")]
    )
    gate = {g["name"]: g for g in overridden.to_dict()["gates"]}["infra_ready"]
    assert gate["passed"] is True
    assert (gate["overridden_by"], gate["override_reason"]) == ("dewi", "checked")
    assert gate["reason"].startswith("no passing prepare")


def test_passed_gate_has_no_remedy() -> None:
    @gates.gate("_test_always_passes")
    def _always(_: GateInput) -> tuple[bool, str, str]:
        return True, "fine", "you should not see this"

    try:
        result = gates.GATES["_test_always_passes"](_input())
        assert result == GateResult("_test_always_passes", True, "fine", "")
    finally:
        del gates.GATES["_test_always_passes"]
