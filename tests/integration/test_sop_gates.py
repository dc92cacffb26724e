"""The SOP as gates on real SSH hosts: production is blocked until each step is done, in order,
and plain ansible-playbook cannot bypass the gates or the ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from relkit import api, notify
from relkit.errors import GateBlocked
from relkit.loading import load_manifest
from relkit.project import Project
from relkit.usecases import procedure
from tests.sshhosts import SshHost
from tests.sshproject import signing_keys, write_project

pytestmark = pytest.mark.integration
PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


def open_window(manifest: Path, opens_in: float = -300) -> datetime:
    """Move the manifest's release window to start ``opens_in`` seconds from now; return the start."""
    data = yaml.safe_load(manifest.read_text())
    zone = ZoneInfo(data["schedule"]["timezone"])
    start = (datetime.now(zone) + timedelta(seconds=opens_in)).replace(microsecond=0)
    data["schedule"]["window_start"] = start.replace(tzinfo=None).isoformat()
    data["schedule"]["window_end"] = (start + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    return start


@pytest.fixture
def sop(ssh_pool_factory, tmp_path: Path) -> tuple[Project, SshHost, SshHost, dict[str, Path]]:
    pool = ssh_pool_factory(2)
    stage, prod = pool.hosts
    root = write_project(
        tmp_path / "p",
        {"staging": [stage], "production": [prod]},
        promote={"production": "staging"},
        config={"artifacts": {"build_info": "release.json"}, "policy": {"notice_lead_hours": 0}},
    )
    # sari approves as QA and also operates (relkit-ops): the four-eyes gate must still stop her
    keys = signing_keys(root, {"sari": ("qa", "ops"), "dewi": ("po",), "ops": ("ops",)})
    for version in ("1.0.0", "2.0.0"):
        open_window(root / "releases" / f"{version}.yml")
    return Project.load(root), stage, prod, keys


def blocked_gates(
    project: Project, keys: dict[str, Path], manifest: Path, actor: str = "ops", but: str = ""
) -> list[str]:
    """The gates blocking a production deploy signed by ``actor`` (except ``but``)."""
    with pytest.raises(GateBlocked) as blocked:
        api.deploy(project, manifest, "production", by=actor, key=keys[actor])
    assert blocked.value.exit_code == 3
    return [g.name for g in blocked.value.report.failed if g.name != but]


def test_production_waits_for_every_sop_step(sop) -> None:
    project, _, prod, keys = sop
    manifest = project.root / "releases" / "1.0.0.yml"
    # the window opens shortly: the announcement must come before it (lead time 0 in this project)
    opens = open_window(manifest, opens_in=25)
    steps = ["approvals", "infra_ready", "notice_sent", "window", "promoted_from"]
    with pytest.raises(api.Unsigned) as unsigned:  # production: who deploys is proven by a key
        api.deploy(project, manifest, "production", by="ops")
    assert unsigned.value.exit_code == 3 and "--key" in str(unsigned.value)
    assert blocked_gates(project, keys, manifest) == steps

    api.deploy(project, manifest, "staging", by="ops")  # 4.1.3: stable code to staging
    assert blocked_gates(project, keys, manifest, but="window") == ["approvals", "infra_ready", "notice_sent"]

    procedure.approve(project, manifest, "qa", keys["sari"], "sari")  # 4.2.2
    assert "approvals" in blocked_gates(project, keys, manifest)
    procedure.approve(project, manifest, "po", keys["dewi"], "dewi")  # 4.2.3
    assert blocked_gates(project, keys, manifest, but="window") == ["infra_ready", "notice_sent"]

    api.prepare(project, "production", manifest, by="ops")  # 4.2.4
    assert blocked_gates(project, keys, manifest, but="window") == ["notice_sent"]

    context = notify.announcement_context(load_manifest(manifest))
    notify.notify(project, "announcement", context, env="production")  # 4.3.1, before the window
    assert blocked_gates(project, keys, manifest) == ["window"]
    time.sleep(max(0.0, (opens - datetime.now(opens.tzinfo)).total_seconds()) + 1)
    # the approver may not deploy, even signing with a key allowed to deploy (relkit-ops)
    assert blocked_gates(project, keys, manifest, actor="sari") == ["four_eyes"]
    assert prod.ssh("test -e /opt/webapp/current; echo $?").stdout.strip() == "1", "nothing touched yet"

    done = api.deploy(project, manifest, "production", key=keys["ops"])  # 4.3.2, signed by ops
    assert prod.ssh("readlink /opt/webapp/current").stdout.strip() == "releases/1.0.0"
    deploys = [e for e in api.ledger_entries(project, kind="act.signed") if e.data["act"] == "deploy"]
    assert (deploys[-1].run_id, deploys[-1].data["principal"]) == (done.run_id, "ops")
    assert api.status(project).live["production"][prod.name].by == "ops"

    kinds = [e.kind for e in api.ledger_entries(project) if e.kind != "task.result"]
    order = [k for k in kinds if k in ("approval.recorded", "prepare.result", "notify.sent", "host.switched")]
    assert order.index("approval.recorded") < order.index("notify.sent") < len(order) - 1
    verdicts = [
        e.data["passed"] for e in api.ledger_entries(project, kind="gate.evaluated", env="production")
    ]
    assert verdicts == [False] * 7 + [True]
    verified = api.ledger_verify(project)
    assert (verified.ok, verified.signed_acts) == (True, len(deploys))


def test_editing_an_approved_manifest_voids_the_approval(sop) -> None:
    project, _, _, keys = sop
    manifest = project.root / "releases" / "1.0.0.yml"
    procedure.approve(project, manifest, "qa", keys["sari"], "sari")
    procedure.approve(project, manifest, "po", keys["dewi"], "dewi")
    manifest.write_text(
        manifest.read_text().replace("open_critical_bugs: 0", "open_critical_bugs: 0\n# edited")
    )
    assert "approvals" not in blocked_gates(project, keys, manifest)  # a comment is not an edit
    data = yaml.safe_load(manifest.read_text())
    data["rollback_plan"] = "something else"
    manifest.write_text(yaml.safe_dump(data))
    _, report, _ = api.check_gates(project, manifest, "production")
    approvals = next(g for g in report.results if g.name == "approvals")
    assert not approvals.passed and "edited after" in approvals.reason


def ansible_playbook(
    project: Project, env: str, manifest: Path, ledger_callback: bool = True, key: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """deploy.yml run directly, the way an AWX job or an operator bypassing relkit would
    (without ``ledger_callback``: like a run killed before its callback could record anything;
    ``key``: the deployer's signing key, ``-e relkit_key``)."""
    argv = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(project.inventory(env)),
        "deploy.yml",
        "-e",
        f"relkit_manifest={manifest}",
        "-e",
        f"relkit_env={env}",
        "-e",
        f"relkit_project_dir={project.root}",
        *(["-e", f"relkit_key={key}"] if key else []),
    ]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RELKIT_")}
    environ["RELKIT_STATE_DIR"] = str(project.state_dir)
    if not ledger_callback:
        environ["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.builtin.minimal"  # not relkit_ledger
    return subprocess.run(
        argv, cwd=PLAYBOOKS, env=environ, capture_output=True, text=True, timeout=300, check=False
    )


def test_plain_ansible_playbook_is_gated_and_recorded(sop) -> None:
    project, stage, prod, keys = sop
    manifest = project.root / "releases" / "1.0.0.yml"
    unsigned = ansible_playbook(project, "production", manifest)
    assert unsigned.returncode != 0 and "must be signed by the person doing it" in unsigned.stdout
    assert api.ledger_entries(project, kind="gate.evaluated", env="production") == []
    refused = ansible_playbook(project, "production", manifest, key=keys["ops"])
    assert refused.returncode != 0
    assert "blocked by the gates" in refused.stdout and "promoted_from" in refused.stdout
    assert prod.ssh("test -e /opt/webapp/current; echo $?").stdout.strip() == "1"
    evaluated = api.ledger_entries(project, kind="gate.evaluated", env="production")
    assert len(evaluated) == 1 and evaluated[0].data["passed"] is False

    done = ansible_playbook(project, "staging", manifest)
    assert done.returncode == 0, done.stdout[-2000:]
    assert stage.ssh("readlink /opt/webapp/current").stdout.strip() == "releases/1.0.0"
    switched = api.ledger_entries(project, kind="host.switched", env="staging")
    assert [(e.host, e.data["version"]) for e in switched] == [("web1", "1.0.0")]
    smoke = api.ledger_entries(project, kind="smoke.result", env="staging")
    assert smoke[-1].data["passed"] is True and smoke[-1].data["sha256"]
    finished = api.ledger_entries(project, kind="run.finished", env="staging")
    assert finished[-1].data["direct"] is True and finished[-1].data["status"] == "successful"
    assert api.ledger_verify(project).ok
    # the staging smoke recorded by the plain run counts for promotion
    assert "promoted_from" not in blocked_gates(project, keys, manifest)

    # a plain run whose records never reached the ledger switched web1 to 2.0.0; the next plain
    # run finds the host live on it and records that, naming the run that switched it
    upgrade = project.root / "releases" / "2.0.0.yml"
    unrecorded = ansible_playbook(project, "staging", upgrade, ledger_callback=False)
    assert unrecorded.returncode == 0, unrecorded.stdout[-2000:]
    assert api.status(project).live["staging"]["web1"].version == "1.0.0"  # the ledger's view
    history = stage.ssh("tail -n 1 /opt/webapp/.relkit/history.jsonl").stdout
    assert ansible_playbook(project, "staging", upgrade).returncode == 0
    found = api.ledger_entries(project, kind="host.switched", env="staging")[-1]
    assert (found.host, found.data["version"], found.data["found_live"]) == ("web1", "2.0.0", True)
    assert found.data["previous"] == "1.0.0"
    assert found.data["switched_by_run"] == json.loads(history)["run_id"]
    assert api.status(project).live["staging"]["web1"].version == "2.0.0"
    assert api.ledger_verify(project).ok
