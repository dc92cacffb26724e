"""Host variables for the release report: real inventories rendered by Ansible in a child
process, with nothing run and no secret read (relkit/engines/hostvars.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from relkit.engines.hostvars import Job, render

STRINGS = {
    "address": "{{ ansible_host | default(inventory_hostname) }}",
    "deploy_path": "{{ relkit_deploy_path | default(relkit_project.deploy_path) }}",
    "health": "http://{{ ansible_host }}:{{ app_port }}/health",
    "env": "{{ lookup('env', 'REPORT_TEST_SECRET') }}|{{ lookup('env', 'REPORT_TEST_PLAIN') }}",
    "undefined": "{{ no_such_variable }}",
}


def vaulted(value: str, name: str, password_file: Path) -> str:
    """``name: !vault |`` YAML for ``value``, made by ansible-vault itself."""
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-vault")),
            "encrypt_string",
            "--vault-password-file",
            str(password_file),
            "--name",
            name,
            value,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_inventories_are_rendered_per_host_without_running_or_revealing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = tmp_path / "vault-pass"
    password.write_text("correct horse\n")
    secret_port = "\n".join("      " + line for line in vaulted("9443", "app_port", password).splitlines())
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password))  # not handed to the report
    monkeypatch.setenv("REPORT_TEST_SECRET", "s3cret-value")
    monkeypatch.setenv("REPORT_TEST_PLAIN", "plain-value")
    monkeypatch.chdir(tmp_path)
    inventory = tmp_path / "production.yml"
    inventory.write_text(
        "production:\n"
        "  hosts:\n"
        "    web1:\n"
        "      ansible_host: 10.0.20.11\n"
        "      relkit_deploy_path: /srv/web1/webapp\n"
        "    web2:\n"
        "      ansible_host: 10.0.20.12\n"
        f"{secret_port}\n"
        "  vars:\n"
        "    app_port: 8080\n"
    )
    marker = tmp_path / "MARKER"
    strings = {**STRINGS, "pipe": f"{{{{ lookup('pipe', 'touch {marker} && echo ran') }}}}"}
    jobs = {
        "production": Job(inventory, strings, {"relkit_project": {"deploy_path": "/opt/webapp"}}),
        "staging": Job(tmp_path / "missing.yml", strings),
    }
    got = render(jobs, hidden_env=["REPORT_TEST_SECRET"])
    production = got["production"]
    assert production.error == "" and list(production.hosts) == ["web1", "web2"]
    web1, web2 = production.hosts["web1"], production.hosts["web2"]
    assert (web1["address"], web1["deploy_path"], web1["health"]) == (
        "10.0.20.11",
        "/srv/web1/webapp",  # the host's own relkit_deploy_path
        "http://10.0.20.11:8080/health",
    )
    assert web2["deploy_path"] == "/opt/webapp"  # relkit.yml's default where the inventory sets none
    assert web2["health"] is None  # its app_port is vaulted: not known, never decrypted
    # no lookup but env, and the secret variables are not in the child's environment
    assert web1["pipe"] is None and not marker.exists()
    assert web1["env"] == "|plain-value"
    assert web1["undefined"] is None
    assert "9443" not in repr(got)
    assert got["staging"].hosts == {} and got["staging"].error == "no hosts in the inventory"
