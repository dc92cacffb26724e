"""The quick check: verify a release that is already live without running the deploy play.

Redeploying the release every host already runs costs a full play: ansible-playbook's start-up
and one probe per host, which find nothing to do. After a deploy play that succeeded on every
host, relkit keeps the probe's description of each host (its *card*: the ssh command line
Ansible used, the Python that ran the module, the deploy path and the rendered smoke checks;
see playbooks/action_plugins/relkit_release.py) in ``<state>/live-check/<env>.json``, with a
fingerprint of everything that shapes the play.

A later deploy of the release the ledger says every host runs asks each host the probe's own
question directly, over ssh (or locally), all hosts at once: is the release installed from
this artifact, does ``current`` point at it, does one smoke pass succeed
(``module_utils/relkit_layout.live_state``)? Only when every host says yes is the deploy done.
Anything else runs the full play: a changed relkit.yml, inventory, group_vars/host_vars,
ANSIBLE_* variable or environment variable those files name; a dynamic inventory; a host
without a card (become, passwords, secrets in the smoke checks); an unreachable host; a host
busy with another relkit operation; a failed check.

The cards hold command lines relkit runs, so only cards relkit itself kept are used: the file
must be a regular file of the user running relkit that its group and others cannot write, and
match its HMAC (``<env>.json.hmac``) under the state directory's random key
(``<state>/live-check/hmac-key``, 0600, made when cards are first kept). Anything else is
refused with the reason, and the full play runs (and keeps new cards).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import os
import re
import secrets
import shlex
import stat
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relkit import __version__, playvars
from relkit.assets import playbooks_dir
from relkit.hostrules import atomic_write
from relkit.project import Project
from relkit.results import PlayResult, TaskOutcome
from relkit.secrets import KEEP_IN_ENV, REDACTED, secret_env_names
from relkit.secrets import known as secrets_known
from relkit.status import LiveRelease

CARD_VERSION = 1
KEY_NAME = "hmac-key"
KEY_BYTES = 32
MAX_CARDS_BYTES = 4_000_000
CONNECT_TIMEOUT = 5
HOST_TIMEOUT = 30.0
_ENV_NAME = re.compile(r"\b[A-Z][A-Z0-9_]{2,}\b")
_HOST_SOURCES = (  # each after those it imports
    "relkit_rules.py",
    "relkit_checks.py",
    "relkit_layout.py",
    "relkit_health_checks.py",
)
_HOST_MAIN = """
def relkit_live_check(args):
    import fcntl

    root = args["deploy_path"]
    try:
        fd = os.open(os.path.join(root, LOCK), os.O_RDWR)
    except OSError as exc:
        return {"live": False, "reason": "no relkit deploy path here (%s)" % exc.strerror}
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return {"live": False, "reason": "another relkit operation holds this host's lock"}
    state = live_state(root, args["version"], args["sha256"], args["smoke"])
    state.pop("marker")
    return state


print(json.dumps(relkit_live_check(json.loads(ARGS))))
"""
_HEALTH_MAIN = """
def relkit_health_check(args):
    root = args["deploy_path"]
    if not os.path.isdir(root):
        return {"deploy_path_missing": root}
    live = current_version(root)
    if live != args["version"]:  # the checks were rendered for the cards' release: not run here
        return {"reason": "runs %s, not the cards' %s" % (live, args["version"])}
    return {"health": run_health(root, args["checks"], float(args["timeout"]))}


print(json.dumps(relkit_health_check(json.loads(ARGS))))
"""
HEALTH_TASK = "Health checks (direct, no play)"
PER_RUN = ("relkit_run_id", "now", "lookup", "query", "q", "ansible_play_name", "ansible_limit")
"""Names a check may use whose value each play renders anew: the direct health check, which runs
the checks as the deploy play rendered them, is not used then."""


@dataclass(frozen=True)
class Verdict:
    """What the quick check found: ``result`` when every host runs the release, else why not."""

    result: PlayResult | None
    reason: str


def cards_path(project: Project, env: str) -> Path:
    """Where the host cards of ``env`` are kept."""
    return project.state_dir / "live-check" / f"{env}.json"


def fingerprint(project: Project, env: str, environ: Mapping[str, str] | None = None) -> str | None:
    """A digest of everything that shapes ``env``'s deploy play; None when that cannot be known
    from files (a dynamic inventory: a script or an inventory plugin)."""
    environ = os.environ if environ is None else environ
    inventory = project.inventory(env)
    files = sorted(p for p in inventory.rglob("*") if p.is_file()) if inventory.is_dir() else [inventory]
    if inventory.is_file():
        for extra in ("group_vars", "host_vars"):
            folder = inventory.parent / extra
            files += sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    digest = hashlib.sha256(f"relkit {__version__} card {CARD_VERSION}\n".encode())
    texts = [project.config.model_dump_json(), (playbooks_dir() / "ansible.cfg").read_text()]
    for path in files:
        if os.access(path, os.X_OK) and path.parts[-2] not in ("group_vars", "host_vars"):
            return None  # an inventory script: its hosts can change at any time
        data = path.read_bytes()
        text = data.decode("utf-8", "replace")
        if re.search(r"^plugin:", text, re.MULTILINE) and path.suffix in (".yml", ".yaml"):
            return None  # an inventory plugin (cloud, etc.): likewise
        digest.update(f"\0{path}\0".encode() + data)
        texts.append(text)
    names = {n for t in texts for n in _ENV_NAME.findall(t)} | {
        n for n in environ if n.startswith("ANSIBLE_")
    }
    for name in sorted(names):
        digest.update(f"\0{name}={environ.get(name, chr(0))}".encode())
    for text in texts[:2]:
        digest.update(text.encode())
    return digest.hexdigest()


def probe_cards(result: PlayResult) -> dict[str, dict[str, Any]]:
    """Per host of a deploy play, the host card its probe produced (its last), with any part
    that holds what the redactor masked left out, or ``{"unavailable": why}``."""
    cards: dict[str, dict[str, Any]] = {}
    for host in result.all_hosts:
        probe = [o.release.card for o in result.outcomes if o.host == host and o.release and o.release.card]
        card = dict(probe[-1]) if probe else {"unavailable": "no probe result"}
        if REDACTED in json.dumps(card.get("health"), ensure_ascii=False):
            # the health checks alone: health runs its play, the quick check keeps the card
            card.pop("health")
            card["health_unavailable"] = "the health checks carry a secret (masked by the redactor)"
        if REDACTED in json.dumps(card.get("rollback"), ensure_ascii=False):
            # the rollback alone: it runs its play, the quick check and health keep the card
            card.pop("rollback")
            card["rollback_unavailable"] = "the rollback carries a secret (masked by the redactor)"
        if "unavailable" not in card and REDACTED in json.dumps(card, ensure_ascii=False):
            # a secret the probe's own check missed (trimmed, shell-quoted...), masked by the
            # redactor on its way here: the card would run the masked command, not the real one
            card = {"unavailable": f"the smoke checks or the connection carry a secret (masked: {REDACTED})"}
        if "unavailable" not in card and not card.get("deploy_path"):
            card = {"unavailable": "incomplete card"}
        cards[host] = card
    return cards


def cards_of(result: PlayResult) -> tuple[dict[str, dict[str, Any]], str]:
    """The host cards a deploy play's probe produced; ``({}, reason)`` unless every host has one."""
    cards = probe_cards(result)
    missing = [f"{host}: {card['unavailable']}" for host, card in cards.items() if "unavailable" in card]
    if missing or not cards:
        return {}, "; ".join(missing) or "no hosts"
    return cards, ""


def mac_path(cards: Path) -> Path:
    """The HMAC of a cards file, beside it: ``<env>.json.hmac``."""
    return cards.with_name(cards.name + ".hmac")


def key_path(project: Project) -> Path:
    """The state directory's key for the cards' HMACs (random, 0600, made on first use)."""
    return project.state_dir / "live-check" / KEY_NAME


class Untrusted(Exception):
    """A host-cards file (or its HMAC or key) that relkit cannot vouch for; says why."""


def _read_own(path: Path, limit: int, private: bool = False) -> bytes:
    """A regular file of this user that no one else may write (nor read, when ``private``), not
    through a link; at most ``limit`` bytes. FileNotFoundError when it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Untrusted(f"{path} is a symbolic link") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        mode = stat.S_IMODE(info.st_mode)
        if not stat.S_ISREG(info.st_mode):
            raise Untrusted(f"{path} is not a regular file")
        if info.st_uid != os.geteuid():
            raise Untrusted(f"{path} is owned by uid {info.st_uid}, not by uid {os.geteuid()} running relkit")
        if mode & (0o077 if private else 0o022):
            who = "readable or writable by others" if private else "writable by its group or others"
            raise Untrusted(f"{path} is {who} (mode {mode:04o})")
        if private and info.st_nlink != 1:
            raise Untrusted(f"{path} has other hard links")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise Untrusted(f"{path} is larger than {limit} bytes")
    return data


def _key(project: Project, create: bool = False) -> bytes:
    """The HMAC key of the state directory; with ``create``, made when there is none yet."""
    path = key_path(project)
    if create and not os.path.lexists(path):
        with contextlib.suppress(FileExistsError):  # another run made it first: theirs holds
            atomic_write(path, secrets.token_bytes(KEY_BYTES), 0o600, replace=False)
    try:
        key = _read_own(path, KEY_BYTES, private=True)
    except FileNotFoundError:
        raise Untrusted(f"{path} (the key of their HMAC) is missing") from None
    if len(key) != KEY_BYTES:
        raise Untrusted(f"{path} is not a relkit key ({len(key)} bytes)")
    return key


def _mac(key: bytes, env: str, data: bytes) -> str:
    return hmac.new(key, f"relkit host cards {env}\0".encode() + data, hashlib.sha256).hexdigest()


def trusted_cards(project: Project, env: str) -> dict[str, Any]:
    """The record relkit kept for ``env``, once it is proven to be the one relkit wrote.

    Its file is refused (:class:`Untrusted`) unless it is a regular file of the user running
    relkit that no one else may write, and its HMAC (``<env>.json.hmac``, keyed with the state
    directory's private key) matches: anyone who could edit the ssh command line in it could
    otherwise have relkit run it. FileNotFoundError when there are no cards.
    """
    path = cards_path(project, env)
    data = _read_own(path, MAX_CARDS_BYTES)
    key = _key(project)
    try:
        mac = _read_own(mac_path(path), 200).decode("ascii", "replace").strip()
    except FileNotFoundError:
        raise Untrusted(f"{mac_path(path)} (their HMAC) is missing") from None
    if not hmac.compare_digest(mac, _mac(key, env, data)):
        raise Untrusted("their HMAC does not match: the file was changed outside relkit")
    try:
        record = json.loads(data)
    except ValueError:
        raise Untrusted("not JSON") from None
    if not isinstance(record, dict) or not isinstance(record.get("hosts"), dict):
        raise Untrusted("not a relkit host-cards record")
    return record


def save(project: Project, env: str, result: PlayResult, version: str, sha256: str) -> str:
    """Keep the cards of a deploy that succeeded on every host; return why not ('' when kept).

    The file is written 0600 with its HMAC beside it (see :func:`trusted_cards`).
    """
    path = cards_path(project, env)
    cards, reason = cards_of(result)
    digest = fingerprint(project, env)
    if digest is None:
        reason = "the inventory is dynamic"
    if not reason:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            key = _key(project, create=True)
        except Untrusted as exc:
            reason = f"no trusted key: {exc}"
    if reason:
        path.unlink(missing_ok=True)
        mac_path(path).unlink(missing_ok=True)
        return reason
    record = {
        "fingerprint": digest,
        "version": version,
        "sha256": sha256,
        "saved": datetime.now(UTC).isoformat(timespec="seconds"),
        "hosts": cards,
    }
    data = json.dumps(record, indent=1, sort_keys=True).encode()
    atomic_write(path, data, 0o600)
    atomic_write(mac_path(path), _mac(key, env, data) + "\n", 0o600)
    return ""


def kept(project: Project, env: str) -> tuple[dict[str, Any] | None, str]:
    """The trusted host cards of ``env``, else ``(None, why not)``."""
    path = cards_path(project, env)
    try:
        return trusted_cards(project, env), ""
    except FileNotFoundError:
        return None, "no host cards yet (kept after a deploy that succeeds on every host)"
    except Untrusted as exc:
        return None, f"host cards {path} not used ({exc}); the full play runs and keeps new ones"
    except OSError as exc:
        return None, f"host cards {path} unreadable ({exc.strerror}); the full play runs"


def verify(project: Project, env: str, version: str, sha256: str, live: Mapping[str, LiveRelease]) -> Verdict:
    """Ask every host of ``env`` whether it runs ``version`` (``live``: the ledger's view)."""
    record, why = kept(project, env)
    if record is None:
        return Verdict(None, why)
    cards = record["hosts"]
    if (record.get("version"), record.get("sha256")) != (version, sha256):
        return Verdict(None, f"the host cards are for {record.get('version')}")
    if record.get("fingerprint") != fingerprint(project, env):
        return Verdict(None, "relkit.yml, the inventory or the environment changed since the cards were kept")
    behind = sorted(
        h for h in cards if (live.get(h) and (live[h].version, live[h].sha256)) != (version, sha256)
    )
    if behind:
        return Verdict(None, f"the ledger has {', '.join(behind)} on another release")
    script = host_script()
    environ = host_environ(project)
    with ThreadPoolExecutor(max_workers=min(len(cards), project.config.ansible.forks)) as pool:
        asked = pool.map(lambda card: ask(card, version, sha256, script, env=environ), cards.values())
        answers = dict(zip(cards, asked, strict=True))
    not_live = [f"{h}: {_why_not(a, version)}" for h, a in sorted(answers.items()) if not a.get("live")]
    if not_live:
        return Verdict(None, "; ".join(not_live))
    task = f"Verify {version} is live (quick check, no play)"
    outcomes = [
        TaskOutcome.of(
            host, task, "relkit_live_check", "ok", False, "", {"checks": a.get("checks", []), "live": a}
        )
        for host, a in sorted(answers.items())
    ]
    return Verdict(PlayResult("successful", 0, outcomes, Path()), "every host runs this release")


def health(project: Project, env: str, live: Mapping[str, LiveRelease]) -> Verdict:
    """relkit health's checks on every host of ``env`` over the host cards, without a play.

    Used only when the cards are trusted and still describe the play (the fingerprint: relkit.yml,
    with its checks, the inventory, the environment), the ledger (``live``) has every host on the
    release the cards were kept for (so ``{{ relkit_version }}`` rendered as the play would
    render it), every card carries the health checks (none holds a secret) and no check names
    what differs from run to run (the run id, lookups, the time). The result has the play's
    shape: one ``relkit_health`` outcome per host, failed when a critical check failed. A host
    that does not answer, or has no deploy path, gives no result at all: the play runs.
    """
    record, why = kept(project, env)
    if record is None:
        return Verdict(None, why)
    cards, version = record["hosts"], record.get("version")
    if record.get("fingerprint") != fingerprint(project, env):
        return Verdict(None, "relkit.yml, the inventory or the environment changed since the cards were kept")
    behind = sorted(
        h
        for h in cards
        if not live.get(h) or (live[h].version, live[h].sha256) != (version, record.get("sha256"))
    )
    if behind:
        return Verdict(
            None, f"the ledger has {', '.join(behind)} on another release than the cards' {version}"
        )
    lacking = sorted(h for h, card in cards.items() if not isinstance(card.get("health"), dict))
    if lacking:
        why = cards[lacking[0]].get("health_unavailable") or "kept without health checks"
        return Verdict(None, f"no health checks in the cards of {', '.join(lacking)} ({why})")
    varying = [name for name in PER_RUN if playvars.uses(project.config, name, "health.yml")]
    if varying:
        return Verdict(None, f"the checks use {', '.join(varying)}, which each play renders anew")
    script = host_script(_HEALTH_MAIN)
    environ = host_environ(project)

    def check(card: Mapping[str, Any]) -> dict[str, Any]:
        part = card["health"]
        checks = part.get("checks") or []
        timeout = float(part.get("timeout") or 5)
        args = {"deploy_path": card["deploy_path"], "checks": checks, "timeout": timeout, "version": version}
        # the checks run 8 at a time (module_utils/relkit_health_checks.py), each within timeout
        limit = HOST_TIMEOUT + timeout * -(-len(checks) // 8)
        return run_on(card, args, script, timeout=limit, env=environ)

    with ThreadPoolExecutor(max_workers=min(len(cards), project.config.ansible.forks)) as pool:
        answers = dict(zip(cards, pool.map(check, cards.values()), strict=True))
    missing = [
        f"{h}: "
        + (
            f"deploy path {a['deploy_path_missing']} missing"
            if a.get("deploy_path_missing")
            else str(a.get("reason") or "no health result")
        )
        for h, a in sorted(answers.items())
        if not isinstance(a.get("health"), dict) or not isinstance(a["health"].get("checks"), list)
    ]
    if missing:
        return Verdict(None, "; ".join(missing))
    outcomes = [health_outcome(host, a["health"]) for host, a in sorted(answers.items())]
    failed = any(o.status == "failed" for o in outcomes)
    return Verdict(
        PlayResult("failed" if failed else "successful", 2 if failed else 0, outcomes, Path()),
        "checked over the host cards, no play",
    )


def health_outcome(host: str, health: dict[str, Any]) -> TaskOutcome:
    """A host's health, as the relkit_health module's task reports it: failed, with the failing
    critical checks in its message, when one of them failed."""
    result: dict[str, Any] = {"changed": False, "health": health}
    status, msg = "ok", ""
    if health.get("status") == "critical":
        bad = [r for r in health["checks"] if r.get("status") == "critical"]
        status = "failed"
        msg = "critical: " + "; ".join(f"{r.get('name')}: {r.get('detail')}" for r in bad)
        result.update(failed=True, msg=msg)
    return TaskOutcome.of(host, HEALTH_TASK, "relkit_health", status, False, msg[:2000], result)


def host_environ(project: Project) -> dict[str, str]:
    """The environment of ssh (or of a local card's Python), as the play's
    (relkit/engines/local.py): without the variables relkit.yml names as secrets nor any other
    carrying a secret value (a local-connection card runs the checks in this very environment)."""
    hidden, known = set(secret_env_names(project.config)), secrets_known()
    return {
        n: v for n, v in os.environ.items() if n not in hidden and (n in KEEP_IN_ENV or not known.found(v))
    }


def host_script(main: str = _HOST_MAIN) -> str:
    """The Python run on each host: relkit_rules, relkit_checks, relkit_layout and
    relkit_health_checks as the modules use them, then ``main``: the probe's question, or the
    health checks (:func:`run_on` puts the host's ``ARGS`` in front)."""
    utils = playbooks_dir() / "module_utils"
    body = ["import json", "import os"]
    for name in _HOST_SOURCES:
        skipping = False  # inside a parenthesised import of one of these very files
        for line in (utils / name).read_text().splitlines():
            if line.startswith(("from __future__", "from ansible.")):
                skipping = line.rstrip().endswith("(")
            elif skipping:
                skipping = not line.startswith(")")
            else:
                body.append(line)
    return "\n".join(body) + main


def ask(
    card: Mapping[str, Any],
    version: str,
    sha256: str,
    script: str,
    timeout: float = HOST_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run the probe's ``script`` on the host ``card`` describes (``env``: the environment of
    ssh, or of the local Python; default relkit's); its answer, or why there is none."""
    args = {
        "deploy_path": card["deploy_path"],
        "smoke": card.get("smoke") or {},
        "version": version,
        "sha256": sha256,
    }
    return run_on(card, args, script, timeout, env)


def run_on(
    card: Mapping[str, Any],
    args: Mapping[str, Any],
    script: str,
    timeout: float = HOST_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``script`` with ``args`` on the host ``card`` describes, over its ssh command line
    (or locally); the JSON object it prints last, else ``{"live": False, "reason": ...}``."""
    text = f"ARGS = {json.dumps(json.dumps(args))}\n" + script
    python = str(card.get("python") or "python3")
    if card.get("connection") == "local":
        argv = [python, "-"]
    else:
        ssh = [str(a) for a in card["argv"]]
        early = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}"]  # first value wins
        argv = [ssh[0], *early, *ssh[1:], str(card["address"]), f"{shlex.quote(python)} -"]
    try:
        proc = subprocess.run(
            argv, input=text, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"live": False, "reason": f"no answer ({type(exc).__name__})"}
    lines = proc.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if proc.returncode == 0 and lines else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        err = " ".join(proc.stderr.split())[-200:]
        return {"live": False, "reason": f"no answer (exit {proc.returncode}: {err})"}
    return answer


def _why_not(answer: Mapping[str, Any], version: str) -> str:
    """One host's answer, as the reason it is not live."""
    if answer.get("reason"):
        return str(answer["reason"])
    failed = [c for c in answer.get("checks") or [] if not c.get("ok")]
    if failed:
        return "smoke: " + "; ".join(f"{c.get('name')}: {c.get('detail')}" for c in failed)
    if answer.get("current") != version:
        return f"current is {answer.get('current')}"
    return f"{version} is not installed from this artifact"
