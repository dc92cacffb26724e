"""A rollback without a play: each host switched back over its host card.

A rollback play costs ansible-playbook's start, a role's argument validation and, per host, the
module's transfer and Ansible's wrapper around it: more than the switch back itself (stop,
save and restore the data, switch, start, smoke). After a deploy that succeeded on every host,
each host card (relkit/live_check.py) also holds what a rollback to the release that deploy
replaced needs, rendered by the deploy play as roles/relkit_rollback/tasks/switch_back.yml
renders it (playbooks/action_plugins/relkit_release.py). ``relkit rollback`` then runs the
relkit_release module's own code (``perform``, with its module_utils) on each host over the
card's ssh command line, all hosts at once, with the arguments switch_back.yml gives it.

Only when nothing could differ from the play: the cards are relkit's own (HMAC) and still
describe the project (fingerprint); the ledger has every host on the cards' release and names,
for each, the card's target; no rollout is being unwound; no data item needs a password and no
string of the rollback names what each run renders anew; the environment runs plays locally.
Anything else runs the play. A host that gives no answer (ssh failed, the program died) is
rolled back again by the play, which finds what the host did (relkit_release: a rollback it
finds done is recorded, not repeated).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from relkit import live_check, playvars
from relkit.assets import playbooks_dir
from relkit.project import Project
from relkit.results import PlayResult, TaskOutcome
from relkit.status import LiveRelease

MODULE_UTILS = ("relkit_rules", "relkit_checks", "relkit_layout", "relkit_ports", "relkit_snapshots")
"""The module_utils relkit_release imports, each after those it imports."""
PER_RUN = (*live_check.PER_RUN, "relkit_by")
"""Names whose value the rollback's run would render otherwise than the deploy's did."""
HOST_LOCK_WAIT = 600.0
"""Seconds the module waits for another relkit call on the host (relkit_release.HOST_LOCK_WAIT)."""
_MAIN = """
import sys
import types

for _name in ("ansible", "ansible.module_utils"):
    _package = types.ModuleType(_name)
    _package.__path__ = []
    sys.modules[_name] = _package
for _name, _text in SOURCES:
    _module = types.ModuleType(_name)
    sys.modules[_name] = _module
    exec(compile(_text, _name, "exec"), _module.__dict__)
_release = types.ModuleType("relkit_release")
exec(compile(MODULE, "relkit_release", "exec"), _release.__dict__)
_params = {name: spec.get("default") for name, spec in _release.ARGUMENT_SPEC.items()}
_params.update(json.loads(ARGS))
print(json.dumps(_release.perform(_params), default=str))
"""


def program() -> str:
    """The Python run on each host (``ARGS`` put in front by :func:`live_check.run_on`): the
    module_utils registered under their Ansible names, then the module, then its ``perform``."""
    utils = playbooks_dir() / "module_utils"
    sources = [(f"ansible.module_utils.{name}", (utils / f"{name}.py").read_text()) for name in MODULE_UTILS]
    module = (playbooks_dir() / "library" / "relkit_release.py").read_text()
    return f"import json\nSOURCES = {json.dumps(sources)}\nMODULE = {json.dumps(module)}\n{_MAIN}"


def task_name(to: str | None) -> str:
    """The switch-back task's name, as the play names it, marked as run without one."""
    target = to or "the previous release"
    return f"Switch back (data saved and restored), restart and smoke-test {target} (direct, no play)"


def why_not(
    project: Project,
    env: str,
    record: Mapping[str, Any] | None,
    live: Mapping[str, LiveRelease],
    targets: Mapping[str, str],
) -> str:
    """Why the rollback of ``env`` must run its play ('' when the cards can do it): ``live`` and
    ``targets`` are the ledger's releases on each host and the ones the rollback goes to."""
    if record is None:
        return "no host cards"
    if record.get("fingerprint") != live_check.fingerprint(project, env):
        return "relkit.yml, the inventory or the environment changed since the cards were kept"
    cards, version = record["hosts"], record.get("version")
    behind = sorted(
        h
        for h in cards
        if not live.get(h) or (live[h].version, live[h].sha256) != (version, record.get("sha256"))
    )
    if behind:
        return f"the ledger has {', '.join(behind)} on another release than the cards' {version}"
    lacking = sorted(h for h, card in cards.items() if not isinstance(card.get("rollback"), dict))
    if lacking:
        why = cards[lacking[0]].get("rollback_unavailable") or "kept without the rollback"
        return f"no rollback in the cards of {', '.join(lacking)} ({why})"
    elsewhere = sorted(h for h, card in cards.items() if targets.get(h) != card["rollback"].get("to"))
    if elsewhere:
        host = elsewhere[0]
        return (
            f"the rollback goes to {targets.get(host) or 'no release the ledger names'} on {host}, the cards "
            f"to {cards[host]['rollback'].get('to')}"
        )
    return cards_why_not(project, env, cards)


def cards_why_not(project: Project, env: str, cards: Mapping[str, Mapping[str, Any]]) -> str:
    """Why cards that each hold a rollback cannot do what the rollback play would ('' when they
    can): a worker engine, a data item's password, a string rendered anew by each run."""
    if project.environment(env).engine != "local":
        return "the environment runs its plays on an execution node"
    if any(item.get("password_env") for card in cards.values() for item in card["rollback"]["relkit_data"]):
        return "a data item needs a password (served to the play only)"
    hooks = [str(v) for card in cards.values() for v in (card["rollback"].get("relkit_hooks") or {}).values()]
    varying = [name for name in PER_RUN if playvars.uses(project.config, name, "rollback.yml")]
    varying += [name for name in PER_RUN if any(name in text for text in hooks)]
    if varying:
        return f"the rollback's strings use {', '.join(sorted(set(varying)))}, which each play renders anew"
    return ""


def arguments(card: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """The module's arguments on the host of ``card``, as switch_back.yml gives them: the card's
    rendered values, then ``request`` (this rollback's: state, run, ledger head, who, what the
    ledger expects there)."""
    part = card["rollback"]
    service, hooks = part["relkit_service"], part.get("relkit_hooks") or {}
    return {
        "deploy_path": card["deploy_path"],
        "start": service["start"],
        "stop": service.get("stop"),
        "ports": service.get("ports"),
        "service_timeout": float(service.get("timeout") or 60),
        "keep_releases": int(part["relkit_keep_releases"]),
        "smoke": part["relkit_smoke"],
        "data": part["relkit_data"],
        "first_host": bool(part["relkit_first_host"]),
        "drain": hooks.get("drain") or None,
        "undrain": hooks.get("undrain") or None,
        **request,
    }


def time_bound(args: Mapping[str, Any]) -> float:
    """Seconds one host's switch back may take before relkit stops waiting for its answer (the
    host goes on; the play then finds what it did): the host lock's wait, then each step within
    its own timeout (drain, stop, start, undrain; saving and restoring each data item; the smoke
    checks), and a minute for the rest."""
    service = 4 * float(args["service_timeout"])
    data = 2 * sum(float(item.get("timeout") or 600) for item in args["data"])
    smoke = float((args.get("smoke") or {}).get("timeout") or 60)
    return HOST_LOCK_WAIT + service + data + smoke + 60


def switch_back(
    cards: Mapping[str, Mapping[str, Any]],
    requests: Mapping[str, Mapping[str, Any]],
    to: str | None,
    environ: Mapping[str, str],
    workers: int,
    clean: Callable[[Any], Any],
) -> tuple[PlayResult, list[str]]:
    """Roll back every host of ``cards`` at once; the outcomes of those that answered, in the
    play's shape (each answer passed through ``clean``: the play's redactor), and the hosts that
    gave no answer (the play must roll them back)."""
    script = program()

    def one(host: str) -> dict[str, Any]:
        args = arguments(cards[host], requests[host])
        return live_check.run_on(cards[host], args, script, time_bound(args), environ)

    hosts = sorted(cards)
    with ThreadPoolExecutor(max_workers=max(1, min(len(hosts), workers))) as pool:
        answers = dict(zip(hosts, pool.map(one, hosts), strict=True))
    outcomes, silent = [], []
    for host, answer in answers.items():
        if "relkit" not in answer and "msg" not in answer:
            silent.append(host)
            continue
        answer = clean(answer)
        failed = bool(answer.get("failed"))
        outcomes.append(
            TaskOutcome.of(
                host,
                task_name(to),
                "relkit_release",
                "failed" if failed else "ok",
                bool(answer.get("changed")),
                str(answer.get("msg") or "")[:2000],
                answer,
            )
        )
    failed = any(o.status == "failed" for o in outcomes)
    return PlayResult("failed" if failed else "successful", 2 if failed else 0, outcomes, Path()), silent
