"""relkit.secrets: the redactor, where secret values come from (env, vault) and where it applies
(ledger, terminal and JSON output, reports' source). End to end over SSH:
tests/integration/test_secrets_ssh.py."""

from __future__ import annotations

import json
import secrets as stdlib_secrets
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret
from pydantic import ValidationError

from relkit import api
from relkit import secrets as relkit_secrets
from relkit.cli.output import Output
from relkit.config import ProjectConfig
from relkit.errors import BadInput
from relkit.project import Project
from relkit.secrets import REDACTED, Redactor
from relkit.store.sqlite import Ledger
from tests.support.factories import config_data


def canary(prefix: str = "canary") -> str:
    """A value that appears nowhere unless something leaked it."""
    return f"{prefix}-{stdlib_secrets.token_hex(10)}"


def encrypt(value: str, password: str) -> str:
    """``value`` as ``ansible-vault encrypt_string`` writes it (the ciphertext)."""
    return VaultLib([("default", VaultSecret(password.encode()))]).encrypt(value).decode()


def vault_yaml(name: str, cipher: str, indent: int = 0) -> str:
    pad = " " * indent
    lines = "\n".join(f"{pad}  {line}" for line in cipher.splitlines())
    return f"{pad}{name}: !vault |\n{lines}\n"


# -- the redactor ------------------------------------------------------------------------


def test_redactor_replaces_raw_escaped_and_quoted_forms() -> None:
    secret = 'pa"ss\\wörd 42/+&'
    red = Redactor([secret])
    assert red.text(f"x {secret} y") == f"x {REDACTED} y"
    assert secret not in red.text(json.dumps({"msg": secret}))
    assert REDACTED in red.text(json.dumps({"msg": secret}))
    # a module result quoted inside a job event (JSON in a JSON string) and ensure_ascii=False
    twice = json.dumps(json.dumps({"msg": secret}))
    assert red.text(twice).count(REDACTED) == 1
    assert red.text(json.dumps(secret, ensure_ascii=False)) == f'"{REDACTED}"'
    assert red.text("https://h/x?t=" + __import__("urllib.parse").parse.quote(secret, safe="")).endswith(
        REDACTED
    )
    assert red.text(repr({"s": secret})) == "{'s': '" + REDACTED + "'}"


def test_redactor_prefers_the_longest_value_and_ignores_short_ones() -> None:
    red = Redactor(["abcd", "abcdefgh", "xyz", "", None, 42])
    assert red.text("abcdefgh abcd abc xyz") == f"{REDACTED} {REDACTED} abc xyz"
    assert red.values == ("abcd", "abcdefgh")
    assert not Redactor(["abc"]) and Redactor(["abc"]).text("abc") == "abc"


def test_redactor_masks_each_line_of_a_multiline_secret() -> None:
    key = "-----BEGIN KEY-----\nQUJDREVGR0hJSktMTU5PUA==\nUVJTVFVWV1hZWjAxMjM0NQ==\n-----END KEY-----"
    red = Redactor([key])
    assert red.text(key) == REDACTED
    cut = "QUJDREVGR0hJSktMTU5PUA== UVJTVFVWV1hZWjAxMjM0NQ=="  # whitespace squashed by a check
    assert "QUJD" not in red.text(cut) and "UVJT" not in red.text(cut)


def test_redactor_data_copies_and_in_place_mutates() -> None:
    secret = canary()
    event: dict[str, Any] = {
        "event": "runner_on_failed",
        "event_data": {
            "res": {"msg": f"exit 1 {secret}", "cmd": ["echo", secret], secret: "key", "n": 3, "ok": False},
            "stdout": f"fatal: [web1]: FAILED! => {json.dumps({'msg': secret})}",
        },
    }
    copied = Redactor([secret]).data(event)
    assert secret not in json.dumps(copied) and secret in json.dumps(event)
    inner = event["event_data"]["res"]
    Redactor([secret]).in_place(event)
    assert event["event_data"]["res"] is inner  # the very dicts ansible-runner writes afterwards
    assert secret not in json.dumps(event)
    assert inner["n"] == 3 and inner["ok"] is False and inner["cmd"] == ["echo", REDACTED]
    assert inner[REDACTED] == "key"


def test_scrub_tree_rewrites_files_in_place_and_keeps_their_mode(tmp_path: Path) -> None:
    secret = canary()
    run = tmp_path / "run"
    (run / "artifacts" / "id" / "job_events").mkdir(parents=True)
    command = run / "artifacts" / "id" / "command"
    command.write_text(json.dumps({"env": {"X": secret, "PATH": "/bin"}}))
    command.chmod(0o600)
    event = run / "artifacts" / "id" / "job_events" / "1-a.json"
    event.write_text(json.dumps({"stdout": f"'{secret}'"}))
    clean = run / "artifacts" / "id" / "rc"
    clean.write_text("0")
    (run / "link").symlink_to(tmp_path / "outside")
    (tmp_path / "outside").write_text(secret)  # not under the run dir: a symlink is not followed

    assert Redactor([secret]).scrub_tree(run) == (3, 2)
    for path in (command, event):
        assert secret.encode() not in path.read_bytes() and REDACTED.encode() in path.read_bytes()
    assert stat.S_IMODE(command.stat().st_mode) == 0o600
    assert json.loads(command.read_text())["env"]["X"] == REDACTED
    assert clean.read_text() == "0"
    assert (tmp_path / "outside").read_text() == secret
    assert Redactor([]).scrub_tree(run) == (0, 0)


# -- where secrets come from -------------------------------------------------------------


def _config(**extra: Any) -> ProjectConfig:
    return ProjectConfig.model_validate(config_data(**extra))


def test_secret_env_names_cover_secrets_notifications_and_data_passwords() -> None:
    cfg = _config(
        secrets=["APP_KEY", "API_TOKEN"],
        notifications={
            "channels": {
                "chat": {"type": "webhook", "url_env": "HOOK_URL", "token_env": "HOOK_TOKEN"},
                "mail": {
                    "type": "email",
                    "host": "smtp",
                    "from": "a@b.c",
                    "to": ["d@e.f"],
                    "user": "u",
                    "password_env": "SMTP_PW",
                },
            }
        },
        data=[{"name": "db", "kind": "postgresql", "database": "shop", "password_env": "PG_PW"}],
    )
    assert relkit_secrets.secret_env_names(cfg) == (
        "API_TOKEN",
        "APP_KEY",
        "HOOK_TOKEN",
        "HOOK_URL",
        "PG_PW",
        "SMTP_PW",
    )
    environ = {"APP_KEY": "k3y-value", "HOOK_TOKEN": "t0ken-value", "PG_PW": "", "OTHER": "not-secret"}
    assert sorted(relkit_secrets.env_values(cfg, environ)) == ["k3y-value", "t0ken-value"]
    assert relkit_secrets.missing(cfg, environ) == ["API_TOKEN"]


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (["PATH"], "PATH"),
        (["ANSIBLE_CONFIG"], "ANSIBLE_CONFIG"),
        (["RELKIT_CLI"], "RELKIT_CLI"),
        (["RELKIT_SECRETS_TOKEN"], "RELKIT_SECRETS_TOKEN"),
        (["A_KEY", "A_KEY"], "listed twice"),
        (["1BAD"], "secrets.0"),
    ],
)
def test_config_refuses_secrets_the_play_needs_or_bad_names(names: list[str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _config(secrets=names)


def test_config_takes_a_vault_password_file() -> None:
    cfg = _config(secrets=["APP_KEY"], ansible={"vault_password_file": "vault-pass"})
    assert cfg.ansible.vault_password_file == "vault-pass" and cfg.secrets == ["APP_KEY"]


def test_vault_values_of_inline_and_wholly_encrypted_inventory_data(tmp_path: Path) -> None:
    password = canary("pw")
    (tmp_path / "pw").write_text(password + "\n")
    inline, nested, whole, plain = canary("inline"), canary("nested"), canary("whole"), canary("plain")
    inventory = tmp_path / "staging.yml"
    inventory.write_text(
        "staging:\n  hosts:\n    web1: {}\n  vars:\n"
        + vault_yaml("app_secret", encrypt(inline, password), indent=4)
        + f"    not_secret: {plain}\n    tagged: !unsafe '{{{{ x }}}}'\n"
    )
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text(
        "db:\n" + vault_yaml("password", encrypt(nested, password), indent=2)
    )
    (tmp_path / "group_vars" / "staging").mkdir()
    (tmp_path / "group_vars" / "staging" / "vault.yml").write_text(
        encrypt(f"vault_token: {whole}\nvault_port: 5432\n", password)
    )
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "web1.ini").write_text("[x]\nnothing=here\n")

    found = relkit_secrets.vault_values(inventory, tmp_path / "pw")
    assert sorted(found) == sorted([inline, nested, whole])
    assert relkit_secrets.vault_values(inventory, None) == []
    (tmp_path / "wrong").write_text("not-the-password")
    assert relkit_secrets.vault_values(inventory, tmp_path / "wrong") == []
    assert relkit_secrets.vault_password(tmp_path / "pw") == password
    # an inventory directory: every file under it
    assert sorted(relkit_secrets.vault_values(tmp_path, tmp_path / "pw")) == sorted([inline, nested, whole])


def test_for_play_registers_env_vault_and_password_values(
    example_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password, value, env_value = canary("pw"), canary("vault"), canary("env")
    (example_project / "vault-pass").write_text(password)
    cfg = (example_project / "relkit.yml").read_text()
    (example_project / "relkit.yml").write_text(
        cfg + "\nsecrets: [APP_KEY]\nansible:\n  vault_password_file: vault-pass\n"
    )
    project = Project.load(example_project)
    inventory = project.inventory("staging")
    group_vars = inventory.parent / "group_vars"
    group_vars.mkdir(exist_ok=True)
    (group_vars / "staging.yml").write_text(vault_yaml("app_secret", encrypt(value, password)))
    monkeypatch.setenv("APP_KEY", env_value)

    red = relkit_secrets.for_play(project.config, project.root, inventory)
    assert set(red.values) == {password, value, env_value}
    assert set(red.values) <= set(relkit_secrets.known().values)
    assert relkit_secrets.redact_text(f"{value}/{env_value}/{password}") == "/".join([REDACTED] * 3)


def test_deploy_and_rollback_refuse_unset_secrets_before_recording_anything(
    example_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = (example_project / "relkit.yml").read_text()
    (example_project / "relkit.yml").write_text(cfg + "\nsecrets: [APP_KEY_UNSET_X]\n")
    monkeypatch.delenv("APP_KEY_UNSET_X", raising=False)
    project = Project.load(example_project)
    with pytest.raises(BadInput, match="APP_KEY_UNSET_X is not set"):
        api.deploy(project, example_project / "releases" / "1.0.0.yml", "staging", by="ops")
    with pytest.raises(BadInput, match="APP_KEY_UNSET_X is not set"):
        api.rollback(project, "staging", by="ops", reason="test")
    assert list(project.ledger.entries()) == []


# -- where the redactor applies ----------------------------------------------------------


def test_ledger_entries_never_hold_a_registered_secret(tmp_path: Path) -> None:
    secret = canary()
    relkit_secrets.register([secret])
    ledger = Ledger(tmp_path / "ledger.db")
    ledger.append("task.result", host="web1", data={"msg": f"exit 1 {secret}", "nested": {"x": [secret]}})
    ledger.append("notify.sent", data={"text": "nothing secret"})
    entries = list(ledger.entries())
    assert entries[0].data == {"msg": f"exit 1 {REDACTED}", "nested": {"x": [REDACTED]}}
    assert ledger.verify().ok
    ledger.close()
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(FULL)")
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes(), path


def test_terminal_and_json_output_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    secret = canary()
    relkit_secrets.register([secret])
    text = Output("text")
    text.out.print(f"[red]failed[/] smoke: exit 1 {secret}")
    text.err.print(f"error: {secret}")
    Output("json").document({"message": f"smoke failed: {secret}", "nested": [secret], secret: 1})
    out, err = capsys.readouterr()
    assert secret not in out and secret not in err
    assert out.count(REDACTED) == 4 and err.count(REDACTED) == 1
    assert json.loads(out[out.index("{") :])["message"] == f"smoke failed: {REDACTED}"
