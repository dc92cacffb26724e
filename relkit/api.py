"""relkit's public API: what the CLI, plugins and tests call.

Each function validates all input before anything runs, checks the gates, takes the
environment lock, runs the play through :mod:`relkit.runner` and records every step in
the ledger. Expected failures raise the named errors of :mod:`relkit.errors`.
"""

from __future__ import annotations

import getpass
import os
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relkit import gatekeeper, live_check, lock, secret_channel, snapshots
from relkit import secrets as relkit_secrets
from relkit.chain import ChainCheck, Entry
from relkit.errors import BadInput, GateBlocked, PlayFailed, RollbackFailed
from relkit.gates import GateReport, Override
from relkit.loading import load_manifest
from relkit.manifest import Manifest
from relkit.notify import notify
from relkit.project import Project
from relkit.runner import PlayRequest, PlayResult, TaskOutcome, run_play
from relkit.status import InterruptedRun, LiveRelease, interrupted_runs, live_releases

OutcomeSink = Callable[[TaskOutcome], None]


def _quiet(_: TaskOutcome) -> None:
    """Default progress sink: show nothing."""


def identity(explicit: str | None = None) -> str:
    """Who is acting: ``--as``, else $RELKIT_USER, else the login name."""
    return explicit or os.environ.get("RELKIT_USER") or getpass.getuser()


def new_run_id() -> str:
    """A sortable, unique run id."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


@dataclass
class RunReport:
    """What a deploy, prepare or rollback did, for the terminal and ``--output json``."""

    action: str
    env: str
    run_id: str
    version: str | None
    ok: bool
    hosts: dict[str, str] = field(default_factory=dict)
    rolled_back: dict[str, str] = field(default_factory=dict)
    gate_report: dict[str, Any] | None = None
    artifacts: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


# -- manifests and gates ---------------------------------------------------------------


def validate(manifest_path: Path) -> Manifest:
    """Load and validate a manifest; raise :class:`BadInput` naming every bad field."""
    return load_manifest(manifest_path)


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of release manifests."""
    return Manifest.model_json_schema()


def check_gates(
    project: Project,
    manifest_path: Path,
    env: str,
    stage: str = "deploy",
    now: datetime | None = None,
    actor: str | None = None,
    overrides: Sequence[Override] = (),
    retro: str | None = None,
) -> tuple[Manifest, GateReport, Path | None]:
    """Evaluate the gates of ``stage`` for ``env``; return the manifest, report and artifact path."""
    checked = gatekeeper.evaluate(
        project, manifest_path, env, stage, actor=identity(actor), overrides=overrides, retro=retro, now=now
    )
    return checked.manifest, checked.report, checked.artifact.path


# -- runs ------------------------------------------------------------------------------


class RunBook:
    """Book-keeping shared by every play run: run id, run dir, ledger records."""

    def __init__(self, project: Project, env: str, action: str, by: str) -> None:
        self.project, self.env, self.action, self.by = project, env, action, by
        self.run_id = new_run_id()
        self.ledger = project.ledger
        self.context: dict[str, Any] = {}  # what this run's notifications are about (manifest, version)

    def notify(self, event: str, **context: Any) -> None:
        """Tell the channels subscribed to ``event`` (relkit.notify records it and never raises)."""
        notify(self.project, event, {"by": self.by, **self.context, **context}, self.run_id, self.env)

    def record(self, kind: str, host: str = "", **data: Any) -> Entry:
        return self.ledger.append(kind, run_id=self.run_id, env=self.env, host=host, data=data)

    def started(self, **data: Any) -> None:
        self.record(
            "run.started",
            action=self.action,
            by=self.by,
            pid=os.getpid(),
            controller=socket.gethostname(),
            **data,
        )

    def record_outcome(self, outcome: TaskOutcome, progress: OutcomeSink = _quiet) -> None:
        """Ledger one task's result on one host, then show it."""
        self.record(
            "task.result",
            outcome.host,
            task=outcome.task,
            action=outcome.action,
            status=outcome.status,
            changed=outcome.changed,
            msg=outcome.msg,
        )
        progress(outcome)

    def finished(self, status: str, **data: Any) -> None:
        self.record("run.finished", action=self.action, status=status, **data)
        if self.action == "deploy":
            self.notify("deploy.finished", status=status, **data)

    def play(
        self,
        playbook: str,
        extravars: dict[str, Any],
        progress: OutcomeSink,
        limit: str | None = None,
        gate_pass: dict[str, str] | None = None,
    ) -> PlayResult:
        """Run ``playbook``; ``gate_pass`` tells its relkit_gate task this run's gates passed."""
        cfg = self.project.config
        data_passwords = secret_channel.password_envs(cfg.data)
        if playbook != "prepare.yml":
            require_secrets(self.project)
        # vault values, secret variables, notification/data credentials: never in any output
        redactor = relkit_secrets.for_play(self.project, self.env)
        request = PlayRequest(
            playbook=playbook,
            inventory=self.project.inventory(self.env),
            run_dir=self.project.state_dir / "runs" / f"{self.run_id}-{playbook.removesuffix('.yml')}",
            run_id=self.run_id,
            extravars={
                "relkit_project": cfg.model_dump(
                    include={"deploy_path", "shared", "service", "smoke", "retention", "data", "secrets"}
                ),
                "relkit_env": self.env,
                "relkit_run_id": self.run_id,
                "relkit_by": self.by,
                **extravars,
            },
            forks=cfg.ansible.forks,
            timeout=cfg.ansible.timeout,
            limit=limit,
            hidden_env=relkit_secrets.secret_env_names(cfg),
            secret_values=redactor.values,
            vault_password_file=relkit_secrets.vault_password_file(self.project),
        )
        # data passwords and secrets: hidden from the play's environment, served to its
        # relkit_secret lookup (relkit.yml's {{ relkit_secrets.NAME }})
        served = sorted({*data_passwords, *cfg.secrets})
        with secret_channel.serve(served, gate_pass=gate_pass) as channel_env:
            return run_play(replace(request, env=channel_env), lambda o: self.record_outcome(o, progress))

    def record_switches(self, result: PlayResult) -> dict[str, str]:
        """Ledger ``host.switched`` for every host whose ``current`` moved; return host → version.

        That includes a host a rollback found already moved off the release the ledger said
        was live there (``found_live``: a killed run's rollback, finished on the host)."""
        moved = {}
        for host, info in sorted(result.module_results("relkit").items()):
            found = info.get("found_live") if isinstance(info.get("found_live"), dict) else None
            if info.get("switched") or found:
                moved[host] = info["version"]
                action = info.get("action", self.action)
                self._record_switch(
                    host, info["version"], info.get("sha256", ""), info.get("previous"), action, found
                )
        snapshots.record(self, result)  # snapshot.taken / .restored / .pruned per host
        return moved

    def record_found_live(self, result: PlayResult, version: str, sha256: str) -> dict[str, str]:
        """Ledger ``host.switched`` for hosts the probe found on this release while the ledger says
        otherwise: a killed run's switch, finished on the host after the controller died (the
        host's history names that run). Return host → version, like ``record_switches``."""
        probes = {
            o.host: o.result["relkit"]
            for o in result.outcomes
            if isinstance(o.result.get("relkit"), dict) and "installed" in o.result["relkit"]
        }
        final = result.module_results("relkit")
        failed = set(result.hosts("failed")) | set(result.hosts("unreachable"))
        known = live_releases(self.ledger.entries(kind="host.switched", env=self.env)).get(self.env, {})
        found = {}
        for host, probe in sorted(probes.items()):
            if host in failed or probe.get("current") != version or final.get(host, {}).get("switched"):
                continue
            was = known.get(host)
            if was is not None and (was.version, was.sha256) == (version, sha256):
                continue
            last = probe.get("last_switch") or {}
            action = last.get("action") or "deploy"
            self._record_switch(host, version, sha256, was.version if was else None, action, last)
            found[host] = version
        return found

    def _record_switch(
        self,
        host: str,
        version: str,
        sha256: str,
        previous: str | None,
        action: str,
        found: dict[str, Any] | None = None,
    ) -> None:
        """Ledger one ``host.switched``. ``found``: the host-history record of a switch another
        run made (killed before it could record it), which this run found done."""
        extra = {}
        if found is not None:
            extra = {
                "found_live": True,
                "switched_by_run": found.get("run_id"),
                "switched_at": found.get("at"),
            }
        by = (found or {}).get("by") or self.by
        self.record(
            "host.switched",
            host,
            version=version,
            sha256=sha256,
            previous=previous,
            action=action,
            by=by,
            **extra,
        )

    def record_smoke(self, result: PlayResult, version: str | None, sha256: str | None) -> bool:
        """Ledger one ``smoke.result`` for the environment; True when every host passed."""
        smoke = [o for o in result.outcomes if "checks" in o.result]
        failed = sorted({o.host for o in smoke if o.status != "ok"})
        passed = result.ok and bool(smoke)
        self.record(
            "smoke.result",
            version=version,
            sha256=sha256,
            passed=passed,
            hosts=sorted({o.host for o in smoke}),
            failed=failed,
            checks={o.host: o.result.get("checks", []) for o in smoke},
        )
        if failed:
            checks = {o.host: o.result.get("checks", []) for o in smoke if o.host in failed}
            self.notify("smoke.failed", version=version, sha256=sha256, failed=failed, checks=checks)
        return passed


def require_secrets(project: Project) -> None:
    """Refuse to run a play while a variable relkit.yml lists under ``secrets:`` is unset."""
    if unset := relkit_secrets.missing(project.config):
        raise BadInput(
            f"secrets: {', '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set in the environment "
            "(relkit.yml lists them as secrets the plays need)"
        )


def _host_states(result: PlayResult) -> dict[str, str]:
    states = {h: "ok" for h in result.all_hosts}
    for status in ("failed", "unreachable"):
        for host in result.hosts(status):
            states[host] = status
    return states


def prepare(
    project: Project,
    env: str,
    manifest_path: Path | None = None,
    by: str | None = None,
    progress: OutcomeSink = _quiet,
) -> RunReport:
    """Create the host layout and check hosts against the manifest's requirements."""
    project.inventory(env)
    release: dict[str, Any] = {}
    requirements_digest = ""
    if manifest_path is not None:
        manifest = load_manifest(manifest_path)
        release = {"version": manifest.version, "requirements": manifest.requirements.model_dump()}
        requirements_digest = gatekeeper.requirements_digest(manifest.requirements)
    run = RunBook(project, env, "prepare", identity(by))
    run.started(version=release.get("version"))
    result = run.play("prepare.yml", {"relkit_release": release}, progress)
    shortfalls = {
        o.host: o.result.get("shortfalls") or [o.msg]
        for o in result.outcomes
        if o.status in ("failed", "unreachable")
    }
    run.record(
        "prepare.result",
        passed=result.ok,
        version=release.get("version"),
        shortfalls=shortfalls,
        requirements_digest=requirements_digest,
    )
    run.finished("successful" if result.ok else "failed", rc=result.rc)
    report = RunReport(
        "prepare",
        env,
        run.run_id,
        release.get("version"),
        result.ok,
        _host_states(result),
        artifacts=str(result.artifacts),
        details={"shortfalls": shortfalls},
    )
    if not result.ok:
        lines = [f"{h}: {'; '.join(s)}" for h, s in sorted(shortfalls.items())]
        raise PlayFailed("prepare failed:\n  " + ("\n  ".join(lines) or result.failure_summary()), report)
    return report


def deploy(
    project: Project,
    manifest_path: Path,
    env: str,
    by: str | None = None,
    progress: OutcomeSink = _quiet,
    now: datetime | None = None,
    overrides: Sequence[Override] = (),
    full_play: bool = False,
) -> RunReport:
    """Gate, lock, deploy, smoke; on failure roll the switched hosts back (exit 4).

    When the ledger says every host already runs this release, the quick check
    (:mod:`relkit.live_check`) verifies that on the hosts without a play; ``full_play`` skips it.
    """
    actor = identity(by)
    require_secrets(project)
    run = RunBook(project, env, "deploy", actor)
    checked = gatekeeper.evaluate(
        project, manifest_path, env, "deploy", actor=actor, overrides=overrides, now=now
    )
    gatekeeper.record(project, checked, actor, manifest_path, run.run_id)
    manifest, report, artifact = checked.manifest, checked.report, checked.artifact.path
    if not report.passed:
        raise GateBlocked(f"deploy of {manifest.version} to {env} is blocked by the gates", report)
    assert artifact is not None
    with lock.hold(project.state_dir, env, run.run_id, "deploy"):
        sha = manifest.artifact.sha256
        run.started(version=manifest.version, sha256=sha)
        run.context = {"manifest": manifest, "version": manifest.version, "sha256": sha}
        run.notify("deploy.started")
        quick = live_check.Verdict(None, "not tried (--full-play)")
        if not full_play:
            known = live_releases(run.ledger.entries(kind="host.switched", env=env)).get(env, {})
            quick = live_check.verify(project, env, manifest.version, sha, known)
            if quick.result is not None:
                return _already_live(run, quick.result, manifest.version, sha, report, progress)
        release = {"version": manifest.version, "sha256": sha, "artifact": str(artifact)}
        manifest_file = str(manifest_path.resolve())
        gate_vars = {"relkit_manifest": manifest_file, "relkit_project_dir": str(project.root)}
        gate_pass = {"run_id": run.run_id, "env": env, "manifest": manifest_file}
        result = run.play(
            "deploy.yml", {"relkit_release": release, **gate_vars}, progress, gate_pass=gate_pass
        )
        switched = {**run.record_switches(result), **run.record_found_live(result, manifest.version, sha)}
        smoke_ok = run.record_smoke(result, manifest.version, sha)
        outcome = RunReport(
            "deploy",
            env,
            run.run_id,
            manifest.version,
            result.ok and smoke_ok,
            _host_states(result),
            gate_report=report.to_dict(),
            artifacts=str(result.artifacts),
        )
        if outcome.ok:
            kept = live_check.save(project, env, result, manifest.version, sha)
            outcome.details["quick_check"] = {
                "used": False,
                "why_not": quick.reason,
                "host_cards": f"not kept: {kept}" if kept else "kept",
            }
            run.finished("successful", rc=0, hosts=outcome.hosts)
            return outcome
        failed = sorted(set(result.hosts("failed")) | set(result.hosts("unreachable")))
        if not switched:
            run.finished("failed", rc=result.rc, failed=failed, rolled_back={})
            raise PlayFailed(
                f"deploy of {manifest.version} to {env} failed on {', '.join(failed) or 'the play'} "
                "before any host switched: every host is still on its previous release\n"
                + result.failure_summary(),
                outcome,
            )
        smoke_failed = _smoke_failed_hosts(result)
        policy = project.config.policy
        if smoke_failed and set(failed) <= smoke_failed:
            decision, setting = policy.on_smoke_failure, "on_smoke_failure"
        else:
            decision, setting = policy.on_partial_failure, "on_partial_failure"
        if decision != "rollback":
            run.record(
                "decision.needed",
                reason=f"deploy failed on {', '.join(failed)}",
                policy=f"{setting}: {decision}",
                switched=switched,
                failed=failed,
                evidence=result.failure_summary()[:4000],
            )
            run.finished("failed_kept", rc=result.rc, failed=failed, kept=switched)
            raise PlayFailed(
                f"deploy of {manifest.version} to {env} failed on {', '.join(failed)}; policy {setting}: "
                f"{decision} kept {', '.join(sorted(switched))} on {manifest.version}. To roll back: relkit "
                f"rollback --env {env} --by NAME --reason TEXT\n" + result.failure_summary(),
                outcome,
            )
        back = _rollback_hosts(
            run, sorted(switched), progress, reason=f"deploy failed on {', '.join(failed)}"
        )
        outcome.rolled_back = back
        run.finished("rolled_back", rc=result.rc, failed=failed, rolled_back=back)
        raise PlayFailed(
            f"deploy of {manifest.version} to {env} failed on {', '.join(failed)}; "
            f"rolled back {', '.join(f'{h} to {v}' for h, v in back.items())}\n" + result.failure_summary(),
            outcome,
        )


def _already_live(
    run: RunBook, result: PlayResult, version: str, sha256: str, gates: GateReport, progress: OutcomeSink
) -> RunReport:
    """Finish a deploy the quick check found done on every host: ledger it like a play."""
    for outcome in result.outcomes:
        run.record_outcome(outcome, progress)
    run.record_smoke(result, version, sha256)
    hosts = _host_states(result)
    run.finished("successful", rc=0, hosts=hosts, quick_check=True)
    return RunReport(
        "deploy",
        run.env,
        run.run_id,
        version,
        True,
        hosts,
        gate_report=gates.to_dict(),
        details={"quick_check": {"used": True, "found": "every host runs this release; no play ran"}},
    )


def _smoke_failed_hosts(result: PlayResult) -> set[str]:
    """Hosts whose smoke checks ran and failed."""
    return {
        o.host
        for o in result.outcomes
        if o.status == "failed" and any(not c.get("ok") for c in o.result.get("checks") or [])
    }


def _rollback_hosts(run: RunBook, hosts: list[str], progress: OutcomeSink, reason: str) -> dict[str, str]:
    """Automatic rollback of ``hosts`` to their previous release, within a deploy run."""
    run.record("rollback.started", by=run.by, reason=reason, hosts=hosts, automatic=True)
    result = run.play("rollback.yml", {"relkit_rollback_to": ""}, progress, limit=",".join(hosts))
    back = run.record_switches(result)
    run.record_smoke(result, None, None)
    run.notify("rollback", ok=result.ok, automatic=True, reason=reason, rolled_back=back)
    if not result.ok:
        run.finished("rollback_failed", rc=result.rc, rolled_back=back)
        bad = sorted(set(result.hosts("failed")) | set(result.hosts("unreachable")))
        raise RollbackFailed(f"automatic rollback failed on {', '.join(bad)}: those hosts need attention")
    return back


def rollback(
    project: Project,
    env: str,
    by: str | None,
    reason: str | None,
    to: str | None = None,
    progress: OutcomeSink = _quiet,
    code_only: bool = False,
) -> RunReport:
    """Switch every host of ``env`` back to the previous (or ``to``) release; no gate.

    Each host also restores the data snapshot of the target release, after saving the data as
    it stands as an at-rollback snapshot; ``code_only`` switches code without touching data.
    """
    if not by:
        raise BadInput("--by: name the person who decided the rollback")
    if not reason or not reason.strip():
        raise BadInput("--reason: say why the release is rolled back")
    if to is not None:
        from relkit.names import check_safe_name

        try:
            check_safe_name(to)
        except ValueError as exc:
            raise BadInput(f"--to: {exc}") from None
    project.inventory(env)
    require_secrets(project)
    run = RunBook(project, env, "rollback", by)
    with lock.hold(project.state_dir, env, run.run_id, "rollback"):
        run.started(to=to, reason=reason)
        run.record("rollback.requested", by=by, reason=reason, to=to, automatic=False, code_only=code_only)
        known = live_releases(run.ledger.entries(kind="host.switched", env=env)).get(env, {})
        rollback_vars = {
            "relkit_rollback_to": to or "",
            "relkit_rollback_data": not code_only,
            "relkit_rollback_from": {host: live.version for host, live in known.items()},
        }
        result = run.play("rollback.yml", rollback_vars, progress)
        back = run.record_switches(result)
        run.record_smoke(result, to, None)
        report = RunReport(
            "rollback",
            env,
            run.run_id,
            to,
            result.ok,
            _host_states(result),
            rolled_back=back,
            artifacts=str(result.artifacts),
            details={
                "targets": {h: i.get("version") for h, i in result.module_results("relkit").items()},
                "already_live": sorted(
                    h for h, i in result.module_results("relkit").items() if i.get("already_live")
                ),
                "data": snapshots.data_summary(result),
            },
        )
        run.finished("successful" if result.ok else "failed", rc=result.rc, rolled_back=back)
        results = result.module_results("relkit").items()
        moved = {h: i.get("previous") for h, i in results if i.get("switched")}
        run.notify(
            "rollback",
            ok=result.ok,
            automatic=False,
            reason=reason,
            decided_by=by,
            to=to,
            rolled_back=back,
            previous=moved,
        )
    if not result.ok:
        bad = sorted(set(result.hosts("failed")) | set(result.hosts("unreachable")))
        raise RollbackFailed(
            f"rollback of {env} failed on {', '.join(bad)}: those hosts need attention", report
        )
    return report


# -- status, ledger, locks -------------------------------------------------------------


@dataclass
class StatusView:
    """What is live where, open runs and locks."""

    live: dict[str, dict[str, LiveRelease]]
    interrupted: list[InterruptedRun]
    locks: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "live": {env: {h: r.__dict__ for h, r in hosts.items()} for env, hosts in self.live.items()},
            "interrupted": [r.__dict__ for r in self.interrupted],
            "locks": self.locks,
        }


def status(project: Project) -> StatusView:
    """Live release per environment and host, interrupted runs and lock holders."""
    entries = list(project.ledger.entries())
    locks = {}
    running = set()
    for env in project.config.environments:
        holder = lock.read_holder(lock.lock_path(project.state_dir, env))
        if holder:
            locks[env] = holder.describe()
            if holder.alive:
                running.add(holder.run_id)
    open_runs = [r for r in interrupted_runs(entries) if r.run_id not in running]
    return StatusView(live_releases(entries), open_runs, locks)


def ledger_entries(project: Project, kind: str | None = None, env: str | None = None) -> list[Entry]:
    """Ledger entries, optionally filtered."""
    return list(project.ledger.entries(kind=kind, env=env))


def ledger_verify(project: Project) -> ChainCheck:
    """Verify the ledger's hash chain."""
    return project.ledger.verify()


def unlock(project: Project, env: str, by: str | None, force: bool = False) -> lock.Holder:
    """Break a stale lock of ``env`` and record who did it."""
    if not by:
        raise BadInput("--by: name the person breaking the lock")
    project.environment(env)
    holder = lock.break_lock(project.state_dir, env, force)
    ledger = project.ledger
    ledger.append("lock.broken", env=env, data={"by": by, "holder": holder.__dict__, "forced": force})
    if any(r.run_id == holder.run_id for r in interrupted_runs(ledger.entries(env=env))):
        # the holder's run ends here, on record: status stops listing it, the report shows how
        ledger.append(
            "run.finished",
            run_id=holder.run_id,
            env=env,
            data={"action": holder.action, "status": "interrupted", "lock_broken_by": by, "forced": force},
        )
    return holder


def health(project: Project, env: str, **options: Any) -> Any:
    """Post-release health of ``env``: see :func:`relkit.health.check_health` (returns a HealthReport)."""
    from relkit.health import check_health

    return check_health(project, env, **options)
