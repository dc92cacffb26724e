"""``deploy``: gate, lock, deploy, smoke; on failure roll the switched hosts back (or ask)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

from relkit import gatekeeper, live_check
from relkit.errors import BadInput, GateBlocked, PlayFailed
from relkit.gates import GateReport, Override
from relkit.health import health_vars
from relkit.hostrules import new_run_id
from relkit.loading import load_manifest
from relkit.project import Project
from relkit.results import PlayResult
from relkit.status import live_releases
from relkit.usecases import rollout, signing
from relkit.usecases.gates import standing_overrides
from relkit.usecases.playing import require_secrets
from relkit.usecases.recording import OutcomeSink, quiet
from relkit.usecases.rollback import rollback_hosts
from relkit.usecases.runs import Run, RunReport, deploy_details, identity, quick_check
from relkit.versions import older


def deploy(
    project: Project,
    manifest_path: Path,
    env: str,
    by: str | None = None,
    progress: OutcomeSink = quiet,
    now: datetime | None = None,
    overrides: Sequence[Override] = (),
    full_play: bool = False,
    key: Path | None = None,
    allow_downgrade: bool = False,
    go_on: bool = False,
) -> RunReport:
    """Gate, lock, deploy, smoke; on failure roll the switched hosts back (exit 4).

    A release older than the one the ledger says is live on a host (PEP 440 order, see
    :mod:`relkit.versions`) is refused (exit 2, pointing to ``relkit rollback --to``) unless
    ``allow_downgrade``: a deploy keeps the live data, so a downgrade keeps the newer schema.
    An allowed downgrade is signed as such and recorded in the run's ``run.started``.

    The deployer is the principal of ``key`` (required where ``policy.signed_acts`` says; ``by``
    must then name that principal), else ``by`` / $RELKIT_USER / the login. The signed
    overrides recorded for this release apply. When the ledger says every host already runs
    this release, the quick check (:mod:`relkit.live_check`) verifies that on the hosts without
    a play; ``full_play`` skips it.

    With ``environments.<env>.rollout`` the hosts switch in batches (:mod:`relkit.usecases.rollout`);
    a rollout left open is resumed by a deploy of its release, ``go_on`` (``--continue``, signed
    with ``key``) moving it past a pause for approval or a failure kept.
    """
    manifest = load_manifest(manifest_path)
    sha = manifest.artifact.sha256
    resumed = rollout.check_open(project, env, manifest.version, sha, manifest_path, go_on, key)
    downgrade = _downgrade(project, env, manifest.version, allow_downgrade)
    run_id = new_run_id()
    signed = signing.sign_if_needed(
        project,
        "deploy",
        env,
        key,
        by,
        version=manifest.version,
        sha256=manifest.artifact.sha256,
        run_id=run_id,
        **({"allow_downgrade": True} if downgrade else {}),
    )
    actor = signed.principal if signed else identity(by)
    require_secrets(project)
    run = Run(project, env, "deploy", actor, run_id=run_id)
    if signed is not None:
        signing.record(project, signed, run.run_id, env)
    standing = standing_overrides(project, env, manifest.version, manifest.artifact.sha256, actor)

    def evaluate() -> tuple[gatekeeper.Checked, dict[str, str]]:
        """The gates, evaluated and recorded; the pass the play's relkit_gate task takes (served
        once) instead of evaluating them again, once it finds this evaluation in the ledger."""
        checked = gatekeeper.evaluate(
            project,
            manifest_path,
            env,
            "deploy",
            actor=actor,
            actor_key=signed.key if signed else "",
            overrides=[*overrides, *standing],
            now=now,
        )
        gate_pass = (
            gatekeeper.issue_pass(checked, manifest_path, run.run_id) if checked.report.passed else None
        )
        gatekeeper.record(project, checked, actor, manifest_path, run.run_id, gate_pass=gate_pass)
        if not checked.report.passed:
            raise GateBlocked(
                f"deploy of {checked.manifest.version} to {env} is blocked by the gates", checked.report
            )
        assert gate_pass is not None
        return checked, gate_pass

    checked, gate_pass = evaluate()
    manifest, report, artifact = checked.manifest, checked.report, checked.artifact.path
    assert artifact is not None
    spec = project.environment(env).rollout
    with project.ledger.hold(env, run.run_id, "deploy", actor):
        run.book.started(
            version=manifest.version,
            sha256=sha,
            **gatekeeper.origin(checked, project.config.artifacts.build_info),
            **({"downgrade": {"from": downgrade, "allowed_by": actor}} if downgrade else {}),
        )
        run.notices.context = {"manifest": manifest, "version": manifest.version, "sha256": sha}
        run.notices.notify("deploy.started")
        release = {"version": manifest.version, "sha256": sha, "artifact": str(artifact)}
        manifest_file = str(manifest_path.resolve())
        gate_vars: dict[str, Any] = {
            "relkit_manifest": manifest_file,
            "relkit_project_dir": str(project.root),
        }
        # relkit health's checks: the probe keeps them, rendered, in the host cards
        gate_vars["relkit_health"] = health_vars(project.config)
        quick = live_check.Verdict(None, "not tried (--full-play)")
        if not full_play and resumed is None:  # a rollout left open plays its batches
            known = live_releases(project.ledger.entries(kind="host.switched", env=env)).get(env, {})
            quick = live_check.verify(project, env, manifest.version, sha, known)
            if quick.result is not None:
                return _already_live(run, quick.result, manifest.version, sha, report, progress)
        if resumed is not None or spec is not None:
            in_batches = rollout.Rollout(run, spec, resumed, manifest.version, sha, manifest_path, progress)
            if go_on:
                assert key is not None
                in_batches.resume_signed(key)
            plays = _batch_plays(run, {"relkit_release": release, **gate_vars}, progress, gate_pass, evaluate)
            done = in_batches.play(plays)
            outcome = done or in_batches.report(ok=True)
            outcome.gate_report = report.to_dict()
            outcome.details["quick_check"]["why_not"] = quick.reason
            if done is not None:  # waiting for a signed continue
                run.finished("waiting", rollout=outcome.details["rollout"]["status"], hosts=outcome.hosts)
                return outcome
            # every batch played in this run: the quick check can verify the next redeploy
            kept = live_check.save(project, env, in_batches.combined(), manifest.version, sha)
            outcome.details["quick_check"]["host_cards"] = f"not kept: {kept}" if kept else "kept"
            run.finished("successful", rc=0, hosts=outcome.hosts)
            return outcome
        result = run.play(
            "deploy.yml", {"relkit_release": release, **gate_vars}, progress, gate_pass=gate_pass
        )
        switched = {**run.book.switches(result), **run.book.found_live(result, manifest.version, sha)}
        smoke_ok = run.smoke(result, manifest.version, sha)
        outcome = RunReport(
            "deploy",
            env,
            run.run_id,
            manifest.version,
            result.ok and smoke_ok,
            result.host_states(),
            gate_report=report.to_dict(),
            artifacts=str(result.artifacts),
            details=deploy_details(
                quick_check(used=False, why_not=quick.reason),
                {"from": downgrade, "allowed_by": actor} if downgrade else None,
            ),
        )
        if not outcome.ok:
            _fail(project, run, result, manifest.version, switched, outcome, progress)
        kept = live_check.save(project, env, result, manifest.version, sha)
        outcome.details["quick_check"]["host_cards"] = f"not kept: {kept}" if kept else "kept"
        run.finished("successful", rc=0, hosts=outcome.hosts)
        return outcome


def _batch_plays(
    run: Run,
    extravars: dict[str, Any],
    progress: OutcomeSink,
    first_pass: dict[str, str],
    evaluate: Callable[[], tuple[gatekeeper.Checked, dict[str, str]]],
) -> rollout.BatchPlay:
    """The deploy play of one batch: the first takes the pass of the gates just evaluated, each
    later one evaluates them again (and records that) for a pass of its own."""
    passes = [first_pass]

    def play(hosts: list[str]) -> PlayResult:
        gate_pass = passes.pop() if passes else evaluate()[1]
        return run.play("deploy.yml", extravars, progress, limit=",".join(hosts), gate_pass=gate_pass)

    return play


def _downgrade(project: Project, env: str, version: str, allowed: bool) -> dict[str, str]:
    """Host → newer live release (per the ledger) that deploying ``version`` would replace; refused
    (exit 2, nothing touched) unless ``allowed``."""
    project.environment(env)
    known = live_releases(project.ledger.entries(kind="host.switched", env=env)).get(env, {})
    newer = {h: r.version for h, r in sorted(known.items()) if older(version, r.version)}
    if not newer or allowed:
        return newer
    live = ", ".join(f"{h} ({v})" for h, v in newer.items())
    raise BadInput(
        f"deploy of {version} to {env} would downgrade {live}: a deploy keeps the live data, so "
        f"{version} would run on the newer release's schema. To go back to {version} with the data "
        f"it had: {signing.rollback_command(project, env, to=version)}; to deploy {version} over it "
        "anyway (e.g. when the data is compatible): add --allow-downgrade (recorded in the ledger)"
    )


def _fail(
    project: Project,
    run: Run,
    result: PlayResult,
    version: str,
    switched: dict[str, str],
    outcome: RunReport,
    progress: OutcomeSink,
) -> NoReturn:
    """A deploy that failed somewhere: nothing switched, or the policy's rollback / keep."""
    env, failed = run.env, result.bad_hosts
    if not switched:
        run.finished("failed", rc=result.rc, failed=failed, rolled_back={})
        raise PlayFailed(
            f"deploy of {version} to {env} failed on {', '.join(failed) or 'the play'} "
            "before any host switched: every host is still on its previous release\n"
            + result.failure_summary(),
            outcome,
        )
    smoke_failed = {o.host for o in result.outcomes if o.smoke_failed}
    policy = project.config.policy
    decision: Literal["rollback", "ask", "keep"]
    if smoke_failed and set(failed) <= smoke_failed:
        decision, setting = policy.on_smoke_failure, "on_smoke_failure"
    else:
        decision, setting = policy.on_partial_failure, "on_partial_failure"
    if decision != "rollback":
        run.book.record(
            "decision.needed",
            reason=f"deploy failed on {', '.join(failed)}",
            policy=f"{setting}: {decision}",
            switched=switched,
            failed=failed,
            evidence=result.failure_summary()[:4000],
        )
        run.finished("failed_kept", rc=result.rc, failed=failed, kept=switched)
        raise PlayFailed(
            f"deploy of {version} to {env} failed on {', '.join(failed)}; policy {setting}: "
            f"{decision} kept {', '.join(sorted(switched))} on {version}. To roll back: "
            f"{signing.rollback_command(project, env)}\n" + result.failure_summary(),
            outcome,
        )
    back = rollback_hosts(
        run,
        sorted(switched),
        progress,
        reason=f"deploy failed on {', '.join(failed)}",
        cards=live_check.probe_cards(result),
    )
    outcome.rolled_back = back
    run.finished("rolled_back", rc=result.rc, failed=failed, rolled_back=back)
    raise PlayFailed(
        f"deploy of {version} to {env} failed on {', '.join(failed)}; "
        f"rolled back {', '.join(f'{h} to {v}' for h, v in back.items())}\n" + result.failure_summary(),
        outcome,
    )


def _already_live(
    run: Run, result: PlayResult, version: str, sha256: str, gates: GateReport, progress: OutcomeSink
) -> RunReport:
    """Finish a deploy the quick check found done on every host: ledger it like a play."""
    for outcome in result.outcomes:
        run.book.outcome(outcome, progress)
    run.smoke(result, version, sha256)
    hosts = result.host_states()
    run.finished("successful", rc=0, hosts=hosts, quick_check=True)
    return RunReport(
        "deploy",
        run.env,
        run.run_id,
        version,
        True,
        hosts,
        gate_report=gates.to_dict(),
        details=deploy_details(quick_check(used=True, found="every host runs this release; no play ran")),
    )
