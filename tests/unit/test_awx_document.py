"""awx/relkit.json, the AWX configuration (`awx import`), and awx/settings.json, the AWX settings
relkit needs (`awx settings modify`), against the playbooks they run and the environment relkit
reads."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path
from typing import Any

from relkit.store import URL_ENV
from relkit.store.postgres import PASSWORD_ENV

REPO = Path(__file__).resolve().parents[2]
DOC: dict[str, Any] = json.loads((REPO / "awx" / "relkit.json").read_text())
SETTINGS: dict[str, Any] = json.loads((REPO / "awx" / "settings.json").read_text())
AWX_MOUNT = "/runner/project/"  # where AWX mounts the project's checkout in the execution environment
TEMPLATES = {t["name"]: t for t in DOC["job_templates"]}


def survey_vars(template: dict[str, Any]) -> list[str]:
    return [q["variable"] for q in template["related"]["survey_spec"]["spec"]]


def test_each_job_template_runs_a_playbook_of_this_repository() -> None:
    assert {t["playbook"] for t in TEMPLATES.values()} == {
        "playbooks/prepare.yml",
        "playbooks/deploy.yml",
        "playbooks/rollback.yml",
        "playbooks/health.yml",
    }
    for template in TEMPLATES.values():
        assert (REPO / template["playbook"]).is_file()
        assert template["project"]["name"] == "relkit" and template["survey_enabled"] is True
        # only the survey's answers come in: no free extra vars on launch (relkit_project, ...)
        assert template["ask_variables_on_launch"] is False
        assert "relkit_project_dir: /runner/project/" in template["extra_vars"]


def test_the_surveys_ask_what_the_playbooks_read() -> None:
    expected = {
        "relkit prepare": ["relkit_env"],
        "relkit deploy": ["relkit_env", "relkit_manifest"],
        "relkit rollback": ["relkit_env", "relkit_rollback_to"],
        "relkit health": ["relkit_env"],
    }
    assert {name: survey_vars(t) for name, t in TEMPLATES.items()} == expected
    for name, template in TEMPLATES.items():
        play = (REPO / template["playbook"]).read_text()
        role = re.search(r"role: (relkit_\w+)", play)
        assert role is not None
        tasks = "".join(p.read_text() for p in (REPO / "roles" / role.group(1) / "tasks").glob("*.yml"))
        read = play + tasks + (REPO / "playbooks" / "callback_plugins" / "relkit_ledger.py").read_text()
        for var in [*survey_vars(template), "relkit_project_dir"]:
            assert var in read, f"{name}: {template['playbook']} does not read {var}"
    envs = next(
        q
        for q in TEMPLATES["relkit deploy"]["related"]["survey_spec"]["spec"]
        if q["variable"] == "relkit_env"
    )
    assert envs["type"] == "multiplechoice" and envs["choices"] == ["staging", "production"]


def test_the_workflow_goes_staging_then_approval_then_production() -> None:
    (workflow,) = DOC["workflow_job_templates"]
    nodes = {n["identifier"]: n for n in workflow["related"]["workflow_nodes"]}
    assert list(nodes) == ["deploy-staging", "approve-production", "deploy-production"]
    staging, approval, production = nodes.values()
    for node, env in ((staging, "staging"), (production, "production")):
        assert node["unified_job_template"] == {
            "organization": {"name": "relkit", "type": "organization"},
            "name": "relkit deploy",
            "type": "job_template",
        }
        assert node["extra_data"] == {"relkit_env": env} and node["inventory"]["name"] == f"relkit {env}"
    assert (
        "unified_job_template" not in approval
        and approval["related"]["create_approval_template"]["timeout"] > 0
    )
    edges = {
        n["identifier"]: [m["identifier"] for m in n["related"]["success_nodes"]]
        + [m["identifier"] for m in n["related"]["failure_nodes"] + n["related"]["always_nodes"]]
        for n in nodes.values()
    }
    assert edges == {
        "deploy-staging": ["approve-production"],
        "approve-production": ["deploy-production"],
        "deploy-production": [],
    }
    assert survey_vars(workflow) == ["relkit_manifest"]


def test_the_ledger_credential_type_injects_what_relkit_reads() -> None:
    ledger = next(t for t in DOC["credential_types"] if t["name"] == "relkit shared ledger")
    assert ledger["injectors"] == {
        "env": {URL_ENV: "{{ ledger_url }}", PASSWORD_ENV: "{{ ledger_password }}"}
    }
    fields = {f["id"]: f for f in ledger["inputs"]["fields"]}
    assert fields["ledger_password"]["secret"] is True and not fields["ledger_url"].get("secret")
    key = next(t for t in DOC["credential_types"] if t["name"] == "relkit signing key")
    assert key["injectors"]["extra_vars"] == {"relkit_key": "{{ tower.filename }}"}
    assert "relkit_key" in (REPO / "playbooks" / "deploy.yml").read_text()
    assert "relkit_key" in (REPO / "playbooks" / "rollback.yml").read_text()
    for template in TEMPLATES.values():
        assert {c["name"] for c in template["related"]["credentials"]} == {"relkit hosts", "relkit ledger"}


def test_every_reference_names_an_object_of_the_document() -> None:
    names = {
        kind: {o["name"] for o in DOC[key]}
        for kind, key in (
            ("project", "projects"),
            ("inventory", "inventory"),
            ("job_template", "job_templates"),
            ("credential_type", "credential_types"),
            ("credential", "credentials"),
            ("execution_environment", "execution_environments"),
        )
    }

    def refs(value: Any) -> list[dict[str, Any]]:
        if isinstance(value, dict):
            found = [value] if value.get("type") in names and "name" in value else []
            return found + [r for v in value.values() for r in refs(v)]
        if isinstance(value, list):
            return [r for v in value for r in refs(v)]
        return []

    for ref in refs({k: v for k, v in DOC.items() if k != "credential_types"}):
        if ref["type"] == "credential_type" and ref["kind"] == "ssh":
            continue  # AWX's own Machine type
        assert ref["name"] in names[ref["type"]], ref
    for source in DOC["inventory_sources"]:
        assert (
            source["source"] == "scm"
            and source["source_path"] == f"release/{source['inventory']['name'][7:]}.yml"
        )


def test_the_awx_settings_point_ansible_at_relkits_config_and_roles() -> None:
    """AWX reads ansible.cfg from the project's root, and relkit's is playbooks/ansible.cfg: the
    AWX_TASK_ENV setting (awx/settings.json) names it and the roles (AWX sets ANSIBLE_ROLES_PATH
    for each job, overriding the config's roles_path). Credential types cannot: AWX refuses
    ANSIBLE_* variables in their injectors."""
    assert not (REPO / "ansible.cfg").exists()
    assert list(SETTINGS) == ["AWX_TASK_ENV"]
    env = SETTINGS["AWX_TASK_ENV"]
    assert set(env) == {"ANSIBLE_CONFIG", "ANSIBLE_ROLES_PATH"}
    assert all(value.startswith(AWX_MOUNT) for value in env.values())
    config = env["ANSIBLE_CONFIG"].removeprefix(AWX_MOUNT)
    roles = env["ANSIBLE_ROLES_PATH"].removeprefix(AWX_MOUNT)
    assert config == "playbooks/ansible.cfg" and (REPO / config).is_file()
    assert roles == "roles" and (REPO / roles).is_dir()
    # the same roles the config names for runs outside AWX (its paths are relative to the file)
    parsed = configparser.ConfigParser()
    parsed.read(REPO / config)
    assert (REPO / config).parent.joinpath(parsed["defaults"]["roles_path"]).resolve() == REPO / roles
    for template in TEMPLATES.values():
        role = re.search(r"role: (relkit_\w+)", (REPO / template["playbook"]).read_text())
        assert role is not None and (REPO / roles / role.group(1) / "tasks").is_dir()
    for kind in DOC["credential_types"]:
        assert not any(name.startswith("ANSIBLE_") for name in kind["injectors"].get("env", {}))
