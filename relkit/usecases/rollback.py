"""``rollback``: switch hosts back to the previous (or a named) release, code and data."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from relkit import live_check, live_rollback, playvars
from relkit import secrets as relkit_secrets
from relkit.chain import Entry
from relkit.errors import BadInput, RollbackFailed, RollbackRefused
from relkit.hostrules import SMOKE_FAILED, SMOKE_PASSED, new_run_id, rollback_target
from relkit.names import check_safe_name
from relkit.project import Project
from relkit.results import PlayResult
from relkit.rollout import open_rollout
from relkit.snapshots import data_summary
from relkit.status import LiveRelease, live_releases
from relkit.usecases import signing
from relkit.usecases.playing import require_secrets
from relkit.usecases.recording import OutcomeSink, quiet
from relkit.usecases.runs import Run, RunReport


def rollback(
    project: Project,
    env: str,
    by: str | None,
    reason: str | None,
    to: str | None = None,
    progress: OutcomeSink = quiet,
    code_only: bool = False,
    key: Path | None = None,
    automatic: bool = False,
    claimed: str | None = None,
    full_play: bool = False,
) -> RunReport:
    """Switch every host of ``env`` back to the previous (or ``to``) release; no gate.

    Each host also restores the data snapshot of the target release, after saving the data as
    it stands as an at-rollback snapshot; ``code_only`` switches code without touching data.
    Who rolls back is the principal of ``key`` (required where ``policy.signed_acts`` says,
    unless relkit's own policy decided it: ``automatic``; ``claimed``, the ``--as`` name, must be
    that principal); ``by`` then records who decided. The hosts are switched back over their
    host cards, without a play, where the cards can (:mod:`relkit.live_rollback`; ``full_play``:
    never).
    """
    if problems := _argument_problems(project, env, by, reason, to, key, automatic):
        head = problems[0] if len(problems) == 1 else f"rollback: {len(problems)} problems with the arguments"
        raise BadInput(f"{head}; nothing was changed", problems if len(problems) > 1 else [])
    if not automatic and key is None:
        signing.refuse_unsigned(project, "rollback", env)  # exit 3 first: a key is needed anyway
    require_secrets(project)
    _refuse_unknown_target(project, env, to)
    run_id = new_run_id()
    signed = None
    if not automatic:
        signed = signing.sign_if_needed(
            project, "rollback", env, key, claimed, to=to, reason=reason, run_id=run_id, code_only=code_only
        )
    actor = signed.principal if signed else by
    if not actor:
        raise BadInput("--by: name the person who decided the rollback (or sign it: --key)")
    decided_by = by or actor
    run = Run(project, env, "rollback", actor, run_id=run_id)
    if signed is not None:
        signing.record(project, signed, run.run_id, env)
    with project.ledger.hold(env, run.run_id, "rollback", actor):
        run.book.started(to=to, reason=reason)
        run.book.record(
            "rollback.requested",
            by=decided_by,
            reason=reason,
            to=to,
            automatic=automatic,
            code_only=code_only,
            **({"signed_by": actor} if signed else {}),
        )
        switched = list(project.ledger.entries(kind="host.switched", env=env))
        known = live_releases(switched).get(env, {})
        rollback_vars = {
            "relkit_rollback_to": to or "",
            "relkit_rollback_data": not code_only,
            "relkit_rollback_from": {host: live.version for host, live in known.items()},
        }
        # an open rollout: only the hosts it switched (or may have, in the batch it was playing)
        # return, and only those on its release; the others never left theirs
        unwinding = open_rollout(project.ledger.entries(kind="rollout.*", env=env), env)
        limit = None
        if unwinding is not None:
            limit = ",".join(unwinding.hosts_in_play())
            rollback_vars["relkit_rollback_only_from"] = unwinding.version
        targets = ledger_targets(switched, project.ledger.entries(kind="smoke.result", env=env), to)
        if playvars.uses(project.config, "relkit_version", "rollback.yml"):
            # relkit.yml's strings name the target: the ledger names it, saving each host a round trip
            rollback_vars["relkit_ledger_versions"] = targets
        why_not = "not tried (--full-play)" if full_play else ""
        if unwinding is not None and not why_not:
            why_not = f"rollout {unwinding.rollout_id} is unwound (the hosts it switched only)"
        result: PlayResult | None = None
        played: list[str] = []
        if not why_not:
            result, why_not, played = _direct(run, known, targets, to, code_only, progress)
            result = _played(run, result, played, rollback_vars, progress)
        if result is None:
            result = run.play("rollback.yml", rollback_vars, progress, limit=limit)
        result = _retry_mismatched(run, result, rollback_vars, progress)
        back = run.book.switches(result)
        if unwinding is not None and result.ok:
            run.book.record(
                "rollout.finished",
                rollout_id=unwinding.rollout_id,
                status="rolled_back",
                reason=f"rolled back by {decided_by}: {reason}",
                rolled_back=back,
            )
        if refusals := host_refusals(result, back):
            _refused(project, run, result, to, refusals)
        run.smoke(result, to, None)
        releases = result.releases()
        report = RunReport(
            "rollback",
            env,
            run.run_id,
            to,
            result.ok,
            result.host_states(),
            rolled_back=back,
            artifacts=str(result.artifacts) if result.artifacts != Path() else "",
            details={
                "targets": {h: r.version for h, r in releases.items()},
                "already_live": sorted(h for h, r in releases.items() if r.already_live),
                "data": data_summary(result),
                "refused": None,
                "direct": {"used": not why_not, "why_not": why_not or None, "played": played},
            },
        )
        run.finished("successful" if result.ok else "failed", rc=result.rc, rolled_back=back)
        moved = {h: r.previous for h, r in releases.items() if r.switched}
        run.notices.notify(
            "rollback",
            ok=result.ok,
            automatic=False,
            reason=reason,
            decided_by=decided_by,
            to=to,
            rolled_back=back,
            previous=moved,
        )
    if not result.ok:
        raise RollbackFailed(
            f"rollback of {env} failed on {', '.join(result.bad_hosts)}: those hosts need attention", report
        )
    return report


def _direct(
    run: Run,
    known: dict[str, LiveRelease],
    targets: dict[str, str],
    to: str | None,
    code_only: bool,
    progress: OutcomeSink,
) -> tuple[PlayResult | None, str, list[str]]:
    """Switch every host back over its host card, without a play, when the cards can do what the
    play would (:func:`relkit.live_rollback.why_not`); the result (each outcome recorded), else
    why not, and the hosts that gave no answer (the caller plays them)."""
    project, env = run.project, run.env
    record, why_not = live_check.kept(project, env)
    why_not = why_not or live_rollback.why_not(project, env, record, known, targets)
    if not why_not and not _holds_lock(run):
        why_not = "this run no longer holds the lock (the play says why and switches nothing)"
    if record is None or why_not:
        return None, why_not, []
    requests = {
        host: {
            "version": to,
            "restore_data": not code_only,
            "expected_live": known[host].version,
            "expected_target": targets[host],
        }
        for host in record["hosts"]
    }
    result, silent = _switch_back(run, record["hosts"], requests, to, progress)
    return result, "", silent


def ledger_targets(switched: Iterable[Entry], smoked: Iterable[Entry], to: str | None) -> dict[str, str]:
    """Per host, the release a rollback goes to by the ledger: ``to``, else the hosts' own rule
    (``relkit_rules.rollback_target``) applied to the switches the ledger recorded there, each
    with the smoke outcome recorded after it. A host whose history says otherwise refuses before
    changing anything and is rolled back again the slow way (:func:`_retry_mismatched`)."""
    history: dict[str, list[dict[str, Any]]] = {}
    last: dict[tuple[str, str], dict[str, Any]] = {}  # (run, host) -> that run's last switch there
    for e in heapq.merge(switched, smoked, key=lambda e: e.seq):
        if e.kind == "host.switched":
            line: dict[str, Any] = {k: e.data.get(k) for k in ("action", "version", "previous")}
            history.setdefault(e.host, []).append(line)
            last[(e.run_id, e.host)] = line
            continue
        failed = set(e.data.get("failed") or ())
        for host in e.data.get("hosts") or ():
            found = last.pop((e.run_id, host), None)
            if found is not None:
                found["smoke"] = SMOKE_FAILED if host in failed else SMOKE_PASSED
    targets = {}
    for host, lines in history.items():
        live = lines[-1]["version"]
        target = to or rollback_target(lines, live, {line["version"] for line in lines})
        if target:
            targets[host] = str(target)
    return targets


def _retry_mismatched(
    run: Run, result: PlayResult, rollback_vars: dict[str, Any], progress: OutcomeSink
) -> PlayResult:
    """Roll back again, the slow way (each host finds its target first), the hosts that refused
    because their target was not the one the ledger named; the others' outcomes stand."""
    releases = result.releases()
    again = sorted(h for h, r in releases.items() if r.raw.get("target_mismatch") and h in result.bad_hosts)
    return _played(run, result, again, {**rollback_vars, "relkit_ledger_versions": {}}, progress) or result


def _played(
    run: Run,
    result: PlayResult | None,
    hosts: list[str],
    rollback_vars: dict[str, Any],
    progress: OutcomeSink,
) -> PlayResult | None:
    """``result`` with ``hosts`` rolled back by the play instead (their outcomes the play's);
    unchanged when there are none."""
    if not hosts:
        return result
    again = run.play("rollback.yml", rollback_vars, progress, limit=",".join(hosts))
    return result.redone(hosts, again) if result is not None else again


def _refuse_unknown_target(project: Project, env: str, to: str | None) -> None:
    """Refuse on the controller (exit 2, nothing recorded) a rollback the ledger shows cannot
    happen: nothing was ever deployed to ``env``, or release ``to`` never was."""
    switched = list(project.ledger.entries(kind="host.switched", env=env))
    tried = [
        str(e.data.get("version"))
        for e in project.ledger.entries(kind="run.started", env=env)
        if e.data.get("action") == "deploy" and e.data.get("version")
    ]
    if not switched and not tried:
        raise RollbackRefused(
            f"rollback of {env} refused: nothing was ever deployed to {env} (the ledger has no deploy "
            "there), so there is nothing to roll back to; nothing was changed"
        )
    seen = {str(e.data.get("version")) for e in switched} | set(tried)
    if to is None or to in seen:
        return
    per_host: dict[str, list[str]] = {}
    for e in switched:
        versions = per_host.setdefault(e.host, [])
        version = str(e.data.get("version"))
        if version in versions:
            versions.remove(version)
        versions.append(version)
    problems = [
        f"{host}: live {versions[-1]}; before it: {', '.join(reversed(versions[:-1])) or 'nothing'}"
        for host, versions in sorted(per_host.items())
    ]
    raise RollbackRefused(
        f"rollback of {env} to {to} refused: release {to} was never deployed to {env} (per the ledger), so "
        f"no host there has it installed; nothing was changed. Releases switched in on {env}, newest first "
        "(retention may have removed older ones from a host):",
        problems,
    )


def host_refusals(result: PlayResult, back: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per host, why it refused the rollback before changing anything (no release to go back to,
    the one asked for not installed) and what it has installed; empty unless every host that
    failed refused and none switched or restarted: then nothing changed anywhere."""
    releases = result.releases()
    refused = {h: r for h, r in releases.items() if r.raw.get("refused")}
    bad = set(result.bad_hosts)
    if (
        not refused
        or back
        or not bad <= set(refused)
        or any(r.raw.get("restarted") for r in releases.values())
    ):
        return {}
    messages = {o.host: o.msg for o in result.outcomes if o.status == "failed"}
    return {
        host: {
            "reason": messages.get(host, ""),
            "live": r.raw.get("live"),
            "installed": [str(v) for v in r.raw.get("installed_releases") or []],
        }
        for host, r in sorted(refused.items())
    }


def _refused(
    project: Project, run: Run, result: PlayResult, to: str | None, refusals: dict[str, dict[str, Any]]
) -> NoReturn:
    """End a rollback every host refused before changing anything: exit 2, saying what each has."""
    env = run.env
    run.finished("refused", rc=result.rc, refused=refusals)
    report = RunReport(
        "rollback",
        env,
        run.run_id,
        to,
        False,
        result.host_states(),
        details={"targets": {}, "already_live": [], "data": {}, "refused": refusals},
    )
    # installed releases come in the order they were installed: suggest the newest one not live
    others = [v for r in refusals.values() for v in r["installed"] if v not in (r["live"], to)]
    hint = (
        f" To go to an installed release: {signing.rollback_command(project, env, to=others[-1])}"
        if others
        else ""
    )
    raise RollbackRefused(
        f"rollback of {env} refused by {', '.join(refusals)}: nothing was changed on any host.{hint} "
        "A release no longer installed is deployed again: relkit deploy MANIFEST (older than the live "
        "one: --allow-downgrade)",
        [
            f"{host}: {r['reason']}; installed: {', '.join(r['installed']) or 'nothing'}"
            for host, r in refusals.items()
        ],
        report,
    )


def _argument_problems(
    project: Project,
    env: str,
    by: str | None,
    reason: str | None,
    to: str | None,
    key: Path | None,
    automatic: bool,
) -> list[str]:
    """Every problem with a rollback's arguments at once: ``--env``, ``--reason``, ``--by`` (or
    ``--key`` where the rollback must be signed: alone, that is the signing refusal, exit 3)."""
    problems = []
    known = ", ".join(sorted(project.config.environments))
    if not env:
        problems.append(f"--env: name the environment to roll back (known: {known})")
    else:
        try:
            project.inventory(env)
        except BadInput as exc:
            problems.append(str(exc))
            env = ""
    if not reason or not reason.strip():
        problems.append("--reason: say why the release is rolled back")
    if to is not None:
        try:
            check_safe_name(to)
        except ValueError as exc:
            problems.append(f"--to: {exc}")
    if not automatic and key is None:
        if env and signing.required(project, env):
            if problems:  # alone, sign_if_needed refuses it (exit 3)
                problems.append(
                    f"--key: a rollback of {env} must be signed (policy.signed_acts): add --key PATH "
                    "(your SSH key); --by then names who decided (default: you)"
                )
        elif not by:
            problems.append("--by: name the person who decided the rollback (or sign it: --key)")
    return problems


def rollback_hosts(
    run: Run,
    hosts: list[str],
    progress: OutcomeSink,
    reason: str,
    only_from: str = "",
    cards: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, str]:
    """Automatic rollback of ``hosts`` to their previous release, within a deploy run;
    ``only_from``: only the hosts whose live release is that one (others are left as they are).
    ``cards``: this run's probe cards (:func:`relkit.live_check.probe_cards`); a host whose card
    holds the rollback is switched back over it without a play, the others (and any that gives
    no answer, or finds another target than its card's) by the rollback play."""
    run.book.record("rollback.started", by=run.by, reason=reason, hosts=hosts, automatic=True)
    rollback_vars = {"relkit_rollback_to": "", "relkit_rollback_only_from": only_from}
    result, others = _direct_hosts(run, hosts, cards or {}, only_from, progress)
    result = _played(run, result, others, rollback_vars, progress)
    assert result is not None  # hosts is never empty: a play or the cards answered for each
    back = run.book.switches(result)
    run.smoke(result, None, None)
    run.notices.notify("rollback", ok=result.ok, automatic=True, reason=reason, rolled_back=back)
    if not result.ok:
        run.finished("rollback_failed", rc=result.rc, rolled_back=back)
        raise RollbackFailed(
            f"automatic rollback failed on {', '.join(result.bad_hosts)}: those hosts need attention"
        )
    return back


def _direct_hosts(
    run: Run,
    hosts: list[str],
    cards: Mapping[str, Mapping[str, Any]],
    only_from: str,
    progress: OutcomeSink,
) -> tuple[PlayResult | None, list[str]]:
    """Switch back over this run's own probe cards the ``hosts`` whose card holds the rollback
    (each outcome recorded); the result, and the hosts left to the play."""
    usable = {h: cards[h] for h in hosts if isinstance((cards.get(h) or {}).get("rollback"), dict)}
    project, env = run.project, run.env
    if not usable or live_rollback.cards_why_not(project, env, usable) or not _holds_lock(run):
        return None, list(hosts)
    requests = {
        host: {"only_from": only_from or None, "expected_target": card["rollback"]["to"]}
        for host, card in usable.items()
    }
    result, silent = _switch_back(run, usable, requests, None, progress)
    releases = result.releases() if result is not None else {}
    elsewhere = [h for h in usable if h in releases and releases[h].raw.get("target_mismatch")]
    return result, sorted([h for h in hosts if h not in usable] + silent + elsewhere)


def _switch_back(
    run: Run,
    cards: Mapping[str, Mapping[str, Any]],
    requests: Mapping[str, Mapping[str, Any]],
    to: str | None,
    progress: OutcomeSink,
) -> tuple[PlayResult | None, list[str]]:
    """Switch back every host of ``cards`` over its card, with this run's arguments (the
    ``state``, run, ledger head and who) and each host's ``requests``; each outcome recorded (as
    the play's redactor leaves it). The result (None when no host answered) and the silent hosts."""
    project = run.project
    seq, head = project.ledger.head()
    common = {"state": "rollback", "run_id": run.run_id, "ledger_head": f"{seq}:{head}", "by": run.by}
    redactor = relkit_secrets.for_play(project.config, project.root, project.inventory(run.env))
    result, silent = live_rollback.switch_back(
        cards,
        {host: {**common, **requests[host]} for host in cards},
        to,
        live_check.host_environ(project),
        project.config.ansible.forks,
        redactor.data,
    )
    for outcome in result.outcomes:
        run.book.outcome(outcome, progress)
    run.book.flush()
    return (result if result.outcomes else None), silent


def _holds_lock(run: Run) -> bool:
    """True unless the ledger is shared and this run no longer holds its environment's lock
    (then the play's own check says why and switches nothing)."""
    if not run.project.ledger.shared:
        return True
    holder = run.project.ledger.holder(run.env)
    return holder is not None and holder.run_id == run.run_id and holder.alive
