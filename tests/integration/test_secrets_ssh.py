"""Secrets stay secret, end to end over real SSH hosts.

A canary (a unique random string) is planted in every kind of secret relkit knows: a variable
listed under relkit.yml ``secrets:``, a webhook's ``token_env``, an inline ``!vault`` inventory
variable, a variable of a wholly vault-encrypted group_vars file, and the vault password. The
app gets the first three in its environment (service start), a smoke command check proves it
did and, on 3.0.0, prints them all and fails (automatic rollback). After prepare, two good
deploys, health, two failing deploys and a rollback, run as CLI subprocesses in text and JSON,
every file under the state dir (ledger.db, -wal, runs/**), every captured output, the reports,
the metrics file, what the webhook received and every file under the hosts' deploy path is
searched for every canary: none may be found.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.sshhosts import SshHost
from tests.sshproject import EXAMPLE, write_project
from tests.support.clirunner import document, payload
from tests.support.notifysinks import Hook, webhook  # noqa: F401 - the webhook fixture

pytestmark = pytest.mark.integration

REDACTED = "********"
BIN = Path(sys.executable).parent
PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
API_KEY_VAR, HOOK_TOKEN_VAR = "RELKIT_IT_API_KEY", "RELKIT_IT_HOOK_TOKEN"


@dataclass(frozen=True)
class Canaries:
    """One unique value per kind of secret."""

    env_secret: str
    hook_token: str
    vault_inline: str
    vault_file: str
    vault_password: str

    @classmethod
    def fresh(cls) -> Canaries:
        return cls(*(f"canary{i}-{secrets.token_hex(12)}" for i in range(5)))

    def named(self) -> dict[str, str]:
        return dict(self.__dict__)


def vault_encrypt_string(name: str, value: str, password_file: Path) -> str:
    """``name: !vault |...`` from ``ansible-vault encrypt_string`` (value on stdin, not argv)."""
    done = subprocess.run(
        [
            str(BIN / "ansible-vault"),
            "encrypt_string",
            "--vault-password-file",
            str(password_file),
            "--stdin-name",
            name,
        ],
        input=value,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def vault_encrypt_file(path: Path, password_file: Path) -> None:
    subprocess.run(
        [str(BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(password_file), str(path)],
        capture_output=True,
        check=True,
    )


def secret_config(hook_url: str) -> dict:
    """relkit.yml overrides: secrets, vault password file, a start command and a smoke check
    that use every secret, and a webhook with a bearer token."""
    base = yaml.safe_load((EXAMPLE / "relkit.yml").read_text())
    service = dict(base["service"])
    service["start"] = (
        "APP_SECRET='{{ app_secret }}' API_KEY='{{ relkit_secrets." + API_KEY_VAR + " }}' "
        "VAULT_FILE_TOKEN='{{ vault_file_token }}' " + base["service"]["start"]
    )
    reach = (
        "env=$(tr '\\0' '\\n' < /proc/$(cat shared/app.pid)/environ) && "
        "echo \"$env\" | grep -qxF 'APP_SECRET={{ app_secret }}' && "
        'echo "$env" | grep -qxF \'API_KEY={{ relkit_secrets.' + API_KEY_VAR + " }}' && "
        "echo \"$env\" | grep -qxF 'VAULT_FILE_TOKEN={{ vault_file_token }}' "
        "|| { echo 'the app lacks its secrets'; exit 1; }; "
        'case "$(readlink current)" in *3.0.0) '
        'echo "leak {{ app_secret }} {{ relkit_secrets.' + API_KEY_VAR + ' }} {{ vault_file_token }}"; '
        "exit 1;; esac"
    )
    smoke = dict(base["smoke"])
    smoke["checks"] = [*base["smoke"]["checks"], {"name": "secrets-reach-app", "command": reach}]
    return {
        "secrets": [API_KEY_VAR],
        "ansible": {"vault_password_file": "vault-pass"},
        "service": service,
        "smoke": smoke,
        "notifications": {
            "channels": {"hook": {"type": "webhook", "url": hook_url, "token_env": HOOK_TOKEN_VAR}}
        },
    }


def plant_vault(root: Path, canaries: Canaries) -> None:
    """The vault password file, an inline !vault variable and a wholly encrypted vars file."""
    password_file = root / "vault-pass"
    password_file.write_text(canaries.vault_password + "\n")
    password_file.chmod(0o600)
    group_vars = root / "group_vars"
    (group_vars / "staging").mkdir(parents=True)
    (group_vars / "all.yml").write_text(
        "---\n" + vault_encrypt_string("app_secret", canaries.vault_inline, password_file)
    )
    whole = group_vars / "staging" / "vault.yml"
    whole.write_text(f"---\nvault_file_token: {canaries.vault_file}\n")
    vault_encrypt_file(whole, password_file)
    assert canaries.vault_inline.encode() not in (group_vars / "all.yml").read_bytes()
    assert canaries.vault_file.encode() not in whole.read_bytes()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def hits(paths: list[Path], canaries: Canaries) -> dict[str, list[str]]:
    """canary name → files holding it (raw bytes, so SQLite pages and WAL frames count)."""
    found: dict[str, list[str]] = {}
    for path in paths:
        content = path.read_bytes()
        for name, value in canaries.named().items():
            if value.encode() in content:
                found.setdefault(name, []).append(str(path))
    return found


def test_no_secret_reaches_ledger_artifacts_output_reports_or_host_files(
    ssh_pool_factory,
    tmp_path: Path,
    webhook: Hook,  # noqa: F811 - the fixture imported above
) -> None:
    pool = ssh_pool_factory(2)
    hosts: list[SshHost] = pool.hosts
    canaries = Canaries.fresh()
    root = tmp_path / "project"
    root.mkdir()
    plant_vault(root, canaries)
    write_project(root, {"staging": hosts}, config=secret_config(webhook.url))
    releases = root / "releases"
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELKIT_")}
    env |= {
        API_KEY_VAR: canaries.env_secret,
        HOOK_TOKEN_VAR: canaries.hook_token,
        "RELKIT_USER": "ops",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    # not declared anywhere, but it carries a secret value: relkit keeps it from the plays too
    env["IT_DATABASE_URL"] = f"postgres://app:{canaries.env_secret}@db.example/app"
    runs: list[tuple[str, int]] = []

    def relkit(label: str, fmt: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "relkit", "--project", str(root), "--output", fmt, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        (outputs / f"{len(runs):02d}-{label}.{fmt}.out").write_text(done.stdout)
        (outputs / f"{len(runs):02d}-{label}.{fmt}.err").write_text(done.stderr)
        runs.append((label, done.returncode))
        return done

    manifest = str(releases / "1.0.0.yml")
    prepared = relkit("prepare", "text", "prepare", "--env", "staging", "--manifest", manifest)
    assert prepared.returncode == 0, prepared.stderr + prepared.stdout
    # the secrets-reach-app smoke check passes only if the app got every secret's exact value
    first = relkit("deploy-1.0.0", "text", "deploy", str(releases / "1.0.0.yml"), "--env", "staging")
    assert first.returncode == 0, first.stderr + first.stdout
    second = relkit("deploy-2.0.0", "json", "deploy", str(releases / "2.0.0.yml"), "--env", "staging")
    assert second.returncode == 0, second.stderr + second.stdout
    assert payload(second.stdout)["ok"] is True
    # a smoke check carrying secrets gives no host card: the quick check never stores a secret
    assert payload(second.stdout)["details"]["quick_check"]["host_cards"] == "not kept: " + "; ".join(
        f"{h.name}: the smoke checks or the connection carry a secret" for h in hosts
    )
    metrics = tmp_path / "metrics.prom"
    health = relkit("health", "json", "health", "--env", "staging", "--prom-file", str(metrics))
    assert health.returncode == 0, health.stderr + health.stdout
    assert all(h["status"] != "critical" for h in payload(health.stdout)["hosts"].values())

    # 3.0.0 fails its smoke test, and the secrets-reach-app check prints every secret first
    bad_text = relkit("deploy-3.0.0", "text", "deploy", str(releases / "3.0.0.yml"), "--env", "staging")
    assert bad_text.returncode == 4, bad_text.stderr + bad_text.stdout
    assert "rolled back" in bad_text.stderr
    assert f"leak {REDACTED} {REDACTED} {REDACTED}" in bad_text.stdout + bad_text.stderr
    bad_json = relkit("deploy-3.0.0-again", "json", "deploy", str(releases / "3.0.0.yml"), "--env", "staging")
    assert bad_json.returncode == 4, bad_json.stderr + bad_json.stdout
    failure = document(bad_json.stdout)
    assert failure["result"]["rolled_back"] == {"web1": "2.0.0", "web2": "2.0.0"}
    assert f"leak {REDACTED} {REDACTED} {REDACTED}" in failure["error"]["message"]

    back = relkit(
        "rollback",
        "json",
        "rollback",
        "--env",
        "staging",
        "--to",
        "1.0.0",
        "--by",
        "alice",
        "--reason",
        "drill",
    )
    assert back.returncode == 0, back.stderr + back.stdout
    assert payload(back.stdout)["rolled_back"] == {"web1": "1.0.0", "web2": "1.0.0"}
    for fmt in ("text", "json"):
        shown = relkit("ledger", fmt, "ledger", "show", "--last", "0")
        assert shown.returncode == 0, shown.stderr
        assert relkit("status", fmt, "status").returncode == 0
    report_md = relkit("report-md", "text", "report", str(releases / "3.0.0.yml"))
    assert report_md.returncode == 0 and "3.0.0" in report_md.stdout, report_md.stderr
    report_html = tmp_path / "report-2.0.0.html"
    written = relkit("report-html", "json", "report", str(releases / "2.0.0.yml"), "-o", str(report_html))
    assert written.returncode == 0, written.stderr

    # the secrets were really used: the webhook got the bearer token, the ledger the masked echo
    assert webhook.requests and all(
        r["headers"]["Authorization"] == f"Bearer {canaries.hook_token}" for r in webhook.requests
    )
    ledger_json = relkit("ledger-all", "json", "ledger", "show", "--last", "0").stdout
    ledger_text = json.dumps(json.loads(ledger_json))
    assert f"leak {REDACTED} {REDACTED} {REDACTED}" in ledger_text
    state = root / "state"
    commands = sorted(state.glob("runs/*/artifacts/*/command"))
    assert len(commands) >= 7  # prepare, 3 deploys (2 of them with a rollback play), health, rollback
    for command in commands:
        play_env = json.loads(command.read_text())["env"]
        assert not {API_KEY_VAR, HOOK_TOKEN_VAR, "IT_DATABASE_URL"} & set(play_env)
        assert play_env["ANSIBLE_VAULT_PASSWORD_FILE"] == str(root / "vault-pass")

    # every file relkit wrote, everything it printed or sent, every file on the hosts
    state_files = files_under(state)
    # (ledger.db-wal is scanned when present: SQLite folds it into ledger.db on the last close)
    assert {p.name for p in state_files} >= {"ledger.db", "ledger.db.head", "command", "stdout"}
    assert len([p for p in state_files if "job_events" in p.parts]) > 50
    host_files = [f for h in hosts for f in files_under(h.opt / "webapp")]
    host_relkit = [f for f in host_files if ".relkit" in f.parts]
    assert {f.name for f in host_relkit} >= {"history.jsonl", "service.log"}
    sent = tmp_path / "webhook-bodies.json"
    sent.write_text(json.dumps([r["json"] for r in webhook.requests]))
    others = [*files_under(outputs), report_html, metrics, sent]
    scanned = {"state": state_files, "outputs": others, "hosts": host_files}
    found = {where: hits(paths, canaries) for where, paths in scanned.items()}
    total = sum(len(p) for p in scanned.values())
    summary = (
        f"canary scan: {total} files ({len(state_files)} state, {len(others)} outputs/reports/webhook, "
        f"{len(host_files)} host files of which {len(host_relkit)} under .relkit/), "
        f"{sum(len(f) for by in found.values() for f in by.values())} hits; runs: {runs}"
    )
    print(summary)
    assert found == {"state": {}, "outputs": {}, "hosts": {}}, summary


def test_modules_mask_secret_values_under_plain_ansible_playbook(tmp_path: Path) -> None:
    """Without relkit (no redaction layer, no socket): the relkit_secret_values lookup finds the
    host's vault values and the named variables, and the modules' no_log ``secrets`` option
    makes Ansible mask them in the result, its invocation and the output."""
    canaries = Canaries.fresh()
    password_file = tmp_path / "pw"
    password_file.write_text(canaries.vault_password)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  hosts:\n    local1:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n  vars:\n"
        + "".join(
            f"    {line}\n"
            for line in vault_encrypt_string("app_secret", canaries.vault_inline, password_file).splitlines()
        )
    )
    (tmp_path / "group_vars" / "all").mkdir(parents=True)
    whole = tmp_path / "group_vars" / "all" / "vault.yml"
    whole.write_text(f"---\nvault_file_token: {canaries.vault_file}\n")
    vault_encrypt_file(whole, password_file)
    playbook = tmp_path / "leak.yml"
    leak = "echo leak {{ app_secret }} {{ vault_file_token }} {{ lookup('env', 'PLAIN_KEY') }}; exit 1"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: A check that prints its secrets and fails\n"
        "      relkit_smoke:\n"
        "        checks:\n"
        "          - name: leak\n"
        f'            command: "{leak}"\n'
        "        timeout: 0.5\n"
        "        secrets: \"{{ query('relkit_secret_values', 'PLAIN_KEY') }}\"\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELKIT_", "ANSIBLE_"))}
    env |= {
        "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"),
        "PLAIN_KEY": canaries.env_secret,
        "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{BIN}:{env.get('PATH', '')}",
    }
    done = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-vvv",
            "-i",
            str(inventory),
            "--vault-password-file",
            str(password_file),
            str(playbook),
        ],
        env=env,
        cwd=PLAYBOOKS,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output  # the check failed, as it should
    masked = " ".join([REDACTED] * 3)
    assert f"leak {masked}" in output  # the module's message
    assert output.count("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER") == 3  # each value, in module_args
    assert f"echo leak {masked}; exit 1" in output  # the check's command in module_args
    for value in (canaries.vault_inline, canaries.vault_file, canaries.env_secret):
        assert value not in output
