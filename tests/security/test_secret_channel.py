"""The secret channel (relkit.secret_channel) and what the commands a play runs can see.

Each test carries out the attack for real:

a. A stolen token: the channel answered anyone holding the token, any number of times, for the
   whole play; and with ``ansible_connection: local`` an app started by ``service.start`` had
   the token in its own environment. Here an app steals it (its environment, else that of any
   process above it: ``/proc/<pid>/environ``, same user) and asks twice during the play, then
   again after the run; and real processes ask twice, from the play's process tree and from
   outside it.
b. ``service.start`` (and stop, migrate, a smoke command check) of a local-connection deploy
   writes its environment to a file: no ``RELKIT_SECRETS_*`` (nor other variable of relkit's
   controller) may be in it.
c. A smoke ``command:`` check holding a secret: no host card may be kept (a card never holds a
   secret, nor the ``********`` the redactor leaves of one), and the redeploy runs the full play.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from relkit import api, live_check, secret_channel
from relkit.project import Project
from tests.support.hostmodules import library, module_utils

SECRET_VAR = "APP_API_KEY"

THIEF = r'''
"""An app started by the play that steals the secret channel's socket and token."""
import json, os, socket, subprocess, sys, time

SOCKET, TOKEN = "RELKIT_SECRETS_SOCKET", "RELKIT_SECRETS_TOKEN"


def ppid(pid):
    with open("/proc/%d/status" % pid) as status:
        return int(next(l for l in status if l.startswith("PPid:")).split()[1])


def environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as handle:
            raw = handle.read().decode("utf-8", "replace")
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def steal():
    """The socket and token: in this process's environment, else in an ancestor's."""
    if os.environ.get(SOCKET):
        return os.environ[SOCKET], os.environ.get(TOKEN, ""), "own environment"
    pid = os.getppid()
    while pid > 1:
        env = environ(pid)
        if env.get(SOCKET):
            return env[SOCKET], env.get(TOKEN, ""), "environment of pid %d" % pid
        pid = ppid(pid)
    return None


def ask(path, token, key=None):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(path)
            conn.sendall(token.encode() + (b" " + key.encode() if key else b"") + b"\n")
            chunks = []
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")
    except OSError as exc:
        return "error: %s" % exc


def main():
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "during":
        found = steal()
        record = {"stolen": bool(found), "how": found[2] if found else None, "answers": []}
        if found:
            path, token = found[:2]
            record["answers"] = [ask(path, token), ask(path, token), ask(path, token, "relkit:gate-pass")]
            # a process of its own, outside the play: asks once the run is over
            subprocess.Popen(
                [sys.executable, __file__, "after", out + ".after", path, token, out + ".go"],
                start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        with open(out, "w") as handle:
            json.dump(record, handle)
    else:
        path, token, go = sys.argv[3:6]
        deadline = time.time() + 120
        while not os.path.exists(go) and time.time() < deadline:
            time.sleep(0.1)
        with open(out, "w") as handle:
            json.dump({"answers": [ask(path, token), ask(path, token)]}, handle)


main()
'''


def configure(project: Project, change: dict[str, Any]) -> Project:
    """relkit.yml with ``secrets: [APP_API_KEY]`` and ``change`` applied, loaded afresh."""
    path = project.root / "relkit.yml"
    config = yaml.safe_load(path.read_text())
    config["secrets"] = [SECRET_VAR]
    for section, value in change.items():
        config[section] = value if not isinstance(value, dict) else {**config.get(section, {}), **value}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return Project.load(project.root)


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """The value of the secret relkit.yml lists (in relkit's environment, as an operator sets it)."""
    value = "canary-" + os.urandom(12).hex()
    monkeypatch.setenv(SECRET_VAR, value)
    return value


def _host(project: Project) -> Path:
    return Path(os.environ["RELKIT_DEMO_ROOT"]) / "staging" / "stage1"


def _wait_for(path: Path, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.exists(), f"{path} never written"
    time.sleep(0.2)  # written whole: json.dump then close
    return dict(json.loads(path.read_text()))


# -- a. a stolen token ------------------------------------------------------------------------


def test_an_app_that_steals_the_token_gets_nothing_during_or_after_the_run(
    local_staging: Project, secret: str, tmp_path: Path
) -> None:
    thief = tmp_path / "thief.py"
    thief.write_text(THIEF)
    loot = tmp_path / "loot.json"
    start = local_staging.config.service.start
    project = configure(
        local_staging, {"service": {"start": f"{sys.executable} {thief} during {loot}; {start}"}}
    )
    with project:
        done = api.deploy(project, project.root / "releases" / "1.0.0.yml", "staging", by="ops")
        assert done.ok, done
    during = _wait_for(loot)
    (tmp_path / "loot.json.go").touch()  # the run is over: the thief's own process asks now
    after = _wait_for(tmp_path / "loot.json.after")
    answers = during["answers"] + after["answers"]
    assert not any(secret in a for a in answers), (during, after)
    assert not any("relkit:gate-pass" in a or "nonce" in a for a in answers), (during, after)
    # it found the token (as any process of the same user can, in ansible-playbook's
    # /proc/<pid>/environ), but it was never given to the app, and the channel refuses a
    # process outside the play's own: the values, a second time, the gate pass
    assert during["stolen"] and during["how"].startswith("environment of pid"), during
    assert all("relkit:refused" in a and "is not this run's play" in a for a in during["answers"]), during
    assert all(a.startswith("error:") for a in after["answers"]), after  # the channel is gone


CLIENT = r"""
import json, os, subprocess, sys
sys.path[:0] = [%(root)r]
from relkit import secret_channel

path, token, depth = sys.argv[1], sys.argv[2], int(sys.argv[3])


def ask():
    try:
        return secret_channel.fetch(path, token, timeout=10)
    except (OSError, ValueError) as exc:
        return "%%s: %%s" %% (type(exc).__name__, exc)


answers = [ask(), ask()]
below = None
if depth > 1:
    below = json.loads(subprocess.run(
        [sys.executable, __file__, path, token, str(depth - 1)], capture_output=True, text=True, check=True
    ).stdout)
print(json.dumps({"pid": os.getpid(), "answers": answers, "below": below}))
"""


def _client(tmp_path: Path, env: dict[str, str], depth: int) -> dict[str, Any]:
    """A process (with ``depth - 1`` generations below it, each asking in turn) that asks twice."""
    script = tmp_path / "client.py"
    script.write_text(CLIENT % {"root": str(Path(__file__).resolve().parents[2])})
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            env[secret_channel.SOCKET_ENV],
            env[secret_channel.TOKEN_ENV],
            str(depth),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(json.loads(done.stdout))


def test_the_token_answers_each_process_of_the_play_once_and_no_one_else(tmp_path: Path) -> None:
    """relkit (this process) serves; its child stands for ansible-playbook, the grandchild for a
    worker of it, the great-grandchild for a module or an app the play started."""
    environ = {"SHOP_PW": "s3cret-value"}
    with secret_channel.serve(["SHOP_PW"], environ) as env:
        play = _client(tmp_path, env, depth=3)
        worker = play["below"]
        app = worker["below"]
        assert play["answers"][0] == environ  # ansible-playbook
        assert worker["answers"][0] == environ  # its worker
        # asked again by the same process: refused
        assert all("refused" in str(a) for a in (play["answers"][1], worker["answers"][1])), (play, worker)
        # a process below a worker (a module, a command, an app): refused, whatever it asks
        assert all("refused" in str(a) for a in app["answers"]), app
        # another process of relkit's than the play the channel first answered: refused
        other = _client(tmp_path, env, depth=1)
        assert all("refused" in str(a) for a in other["answers"]), other
        # a wrong token: nothing at all
        assert secret_channel.fetch(env[secret_channel.SOCKET_ENV], "guessed") == {}
    # after the run: no channel
    with pytest.raises(OSError):
        secret_channel.fetch(env[secret_channel.SOCKET_ENV], env[secret_channel.TOKEN_ENV])


# -- b. what the commands of a local-connection play see ---------------------------------------------


def test_commands_of_a_local_deploy_never_see_the_channel_or_relkits_controller_variables(
    local_staging: Project, secret: str
) -> None:
    service = local_staging.config.service
    smoke = local_staging.config.model_dump()["smoke"]
    smoke["checks"] = [*smoke["checks"], {"name": "env", "command": "env > shared/log/smoke-env.txt"}]
    project = configure(
        local_staging,
        {
            "service": {
                "start": f"env > shared/log/env.txt; {service.start}",
                "stop": f"env > shared/log/stop-env.txt; {service.stop}",
                "migrate": f"env > shared/log/migrate-env.txt; {service.migrate}",
            },
            "smoke": smoke,
        },
    )
    releases = project.root / "releases"
    with project:
        first = api.deploy(project, releases / "1.0.0.yml", "staging", by="ops")
        assert first.ok, first
        second = api.deploy(project, releases / "2.0.0.yml", "staging", by="ops")  # stop + migrate too
        assert second.ok, second
    log = _host(project) / "shared" / "log"
    dumps = {
        name: (log / name).read_text()
        for name in ("env.txt", "stop-env.txt", "migrate-env.txt", "smoke-env.txt")
    }
    for name, text in dumps.items():
        names = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line}
        assert not {n for n in names if n.startswith("RELKIT_SECRETS_")}, (name, text)
        leaked = names & {"RELKIT_CLI", "RELKIT_RUN_ID", "RELKIT_STATE_DIR", "ANSIBLE_VAULT_PASSWORD_FILE"}
        assert not leaked, (name, leaked)
        assert not {n for n in names if n.startswith(("ANSIBLE_", "AWX_", "RUNNER_"))}, (name, names)
        assert secret not in text, name
    service_names = dumps["env.txt"]
    assert "RELKIT_DEPLOY_PATH=" in service_names and "RELKIT_RELEASE=" in service_names  # documented


def test_every_command_runner_on_a_host_drops_the_controllers_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same rule for each way a host module runs a command: service start/stop/migrate,
    smoke and health command checks, pg_dump/psql (their environment; nothing runs)."""
    release = library("relkit_release")
    checks = module_utils()["relkit_checks"]
    snapshots = module_utils()["relkit_snapshots"]
    planted = {
        "RELKIT_SECRETS_SOCKET": "/tmp/x/socket",
        "RELKIT_SECRETS_TOKEN": "stolen",
        "RELKIT_CLI": "1",
        "RELKIT_RUN_ID": "r1",
        "ANSIBLE_VAULT_PASSWORD_FILE": "/etc/vault-pass",
        "AWX_ISOLATED_DATA_DIR": "/tmp/a",
        "RUNNER_OMIT_EVENTS": "False",
    }
    for name, value in planted.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("APP_OWN_SETTING", "kept")
    root = tmp_path / "app"
    release.make_layout(str(root))
    release.run_service(str(root), "env > service-env.txt", "1.0.0", 10, {"RELKIT_PREVIOUS": "0.9.0"})
    ok, _ = checks.check_command({"command": "env > check-env.txt"}, 10, str(root))
    assert ok
    item = {"host": "db", "port": 5432, "user": "app", "database": "app"}
    seen = {
        "service": dict(
            line.split("=", 1) for line in (root / "service-env.txt").read_text().splitlines() if "=" in line
        ),
        "check": dict(
            line.split("=", 1) for line in (root / "check-env.txt").read_text().splitlines() if "=" in line
        ),
        "pg": snapshots.pg_env(item, "pw"),
    }
    for runner, env in seen.items():
        assert not set(planted) & set(env), runner
        assert env.get("APP_OWN_SETTING") == "kept", runner
    assert seen["service"]["RELKIT_PREVIOUS"] == "0.9.0" and seen["service"]["RELKIT_VERSION"] == "1.0.0"
    assert seen["pg"]["PGPASSWORD"] == "pw"


# -- c. a smoke check holding a secret gets no host card -------------------------------------------


@pytest.mark.parametrize(
    ("command", "value"),
    [
        ("test -n '{{ relkit_secrets.APP_API_KEY }}'", "canary-{random}"),
        # the value the module sees differs from the text JSON carries it as
        ("test -n '{{ relkit_secrets.APP_API_KEY }}'", 'canary"{random}'),
        ("test -n '{{ relkit_secrets.APP_API_KEY }}'", "canary-pässwört-{random}"),
        # the check holds the value trimmed, or shell-quoted: not the literal value
        ("test -n '{{ relkit_secrets.APP_API_KEY | trim }}'", "canary-{random}\n"),
        ("test -n {{ relkit_secrets.APP_API_KEY | quote }}", "canary'{random}"),
    ],
    ids=["plain", "json-escaped", "non-ascii", "trimmed", "shell-quoted"],
)
def test_a_smoke_check_holding_a_secret_gets_no_card_and_the_redeploy_runs_the_play(
    local_staging: Project, monkeypatch: pytest.MonkeyPatch, command: str, value: str
) -> None:
    value = value.format(random=os.urandom(8).hex())
    monkeypatch.setenv(SECRET_VAR, value)
    smoke = local_staging.config.model_dump()["smoke"]
    smoke["checks"] = [*smoke["checks"], {"name": "key", "command": command}]
    project = configure(local_staging, {"smoke": smoke})
    manifest = project.root / "releases" / "1.0.0.yml"
    with project:
        first = api.deploy(project, manifest, "staging", by="ops")
        assert first.ok, first
        kept = first.details["quick_check"]["host_cards"]
        assert kept.startswith("not kept: stage1: ") and "secret" in kept, first.details
        path = live_check.cards_path(project, "staging")
        assert not path.exists(), path.read_text()
        again = api.deploy(project, manifest, "staging", by="ops")
    assert again.ok, again
    quick = again.details["quick_check"]
    assert quick["used"] is False and quick["why_not"].startswith("no host cards"), quick
    assert quick["host_cards"] == kept  # the full play ran (and kept no card again)
