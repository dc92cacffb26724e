"""``relkit rollback`` over the host cards, without a play, on real SSH hosts.

After a deploy that kept the host cards, each host is switched back by the relkit_release
module's own code run over the card's ssh command line (relkit/live_rollback.py). Every
assertion reads the hosts' deploy paths, databases and served versions, and the ledger; the
same rollback done by the play (``--full-play``) is the reference.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from relkit import api
from relkit.cli import main
from relkit.errors import PlayFailed, RollbackFailed
from relkit.project import Project
from tests.hostcheck import app_version, db_state, deploy_dir, leftovers, live_release, post_note
from tests.sshhosts import SshHost
from tests.sshproject import write_project

pytestmark = pytest.mark.integration

TOKEN_VAR = "IT_ROLLBACK_TOKEN"
TOKEN = "tok-3c1f0e9a77d24b0c"


def deployed(tmp_path: Path, hosts: list[SshHost], config: dict[str, Any] | None = None) -> Project:
    """1.0.0, a note on each host, then 2.0.0 (its migration: schema 2) with another note."""
    root = write_project(tmp_path / "project", {"staging": hosts}, config=config)
    project = Project.load(root)
    api.deploy(project, root / "releases" / "1.0.0.yml", "staging", by="ops")
    for host in hosts:
        post_note(host, f"on 1.0.0 at {host.name}")
    api.deploy(project, root / "releases" / "2.0.0.yml", "staging", by="ops")
    for host in hosts:
        post_note(host, f"on 2.0.0 at {host.name}")
    return project


def observed(hosts: list[SshHost]) -> dict[str, tuple[Any, ...]]:
    """Host → (live release, schema version, notes, served version); a partial release fails."""
    found = {}
    for host in hosts:
        version, problems = live_release(host)
        assert not problems and not leftovers(host), (problems, leftovers(host))
        schema, notes, bad = db_state(host)
        assert not bad, bad
        found[host.name] = (version, schema, notes, app_version(host))
    return found


def run_dirs(project: Project, run_id: str) -> list[Path]:
    return list((project.state_dir / "runs").glob(f"{run_id}-*"))


def record_of(project: Project, run_id: str) -> list[tuple[Any, ...]]:
    """What a rollback run recorded, without ids, times and task names (a play has more tasks)."""
    keep = {
        "host.switched": ("version", "previous", "action", "by"),
        "snapshot.taken": ("purpose", "from"),
        "snapshot.restored": ("version", "replaced", "after_failed_migrate"),
        "smoke.result": ("passed", "hosts", "failed"),
        "run.finished": ("status", "rolled_back"),
    }
    return [
        (e.kind, e.host, {k: e.data.get(k) for k in keep[e.kind]})
        for e in api.ledger_entries(project, env="staging")
        if e.run_id == run_id and e.kind in keep
    ]


def host_history(host: SshHost) -> list[dict[str, Any]]:
    lines = (deploy_dir(host) / ".relkit" / "history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_a_rollback_over_the_cards_does_what_the_play_does(ssh_pool_factory, tmp_path, capsys) -> None:
    hosts = ssh_pool_factory(2).hosts
    project = deployed(tmp_path, hosts)
    before = observed(hosts)
    assert before == {h.name: ("2.0.0", 2, 2, "2.0.0") for h in hosts}

    code = main(["-C", str(project.root), "rollback", "--env", "staging", "--by", "dewi", "--reason", "bad"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "switched back over the host cards, without a play" in out.out
    run_id = api.ledger_entries(project, kind="run.finished", env="staging")[-1].run_id
    assert not run_dirs(project, run_id), "no play ran"
    # code and data: 1.0.0 serves again, its database as 1.0.0 left it (schema 1, one note)
    after_direct = observed(hosts)
    assert after_direct == {h.name: ("1.0.0", 1, 1, "1.0.0") for h in hosts}
    for host in hosts:
        last = host_history(host)[-1]
        assert (last["action"], last["version"], last["run_id"], last["by"]) == (
            "rollback",
            "1.0.0",
            run_id,
            "dewi",
        )
    tasks = [e for e in api.ledger_entries(project, kind="task.result") if e.run_id == run_id]
    assert {(e.host, e.data["status"], e.data["changed"]) for e in tasks} == {
        ("web1", "ok", True),
        ("web2", "ok", True),
    }
    assert all(e.data["task"].endswith("(direct, no play)") for e in tasks)
    direct_record = record_of(project, run_id)

    # the same rollback by the play: the same hosts, data and record
    api.deploy(project, project.root / "releases" / "2.0.0.yml", "staging", by="ops")
    assert observed(hosts) == {h.name: ("2.0.0", 2, 1, "2.0.0") for h in hosts}  # 1.0.0's note, migrated
    played = api.rollback(project, "staging", by="dewi", reason="bad", full_play=True)
    assert played.details["direct"] == {"used": False, "why_not": "not tried (--full-play)", "played": []}
    assert run_dirs(project, played.run_id), "the play ran"
    assert observed(hosts) == after_direct
    assert record_of(project, played.run_id) == direct_record
    assert [k for k, _, _ in direct_record].count("host.switched") == 2

    # the cards were kept for 2.0.0 and the ledger has 1.0.0 live: the play decides
    again = api.rollback(project, "staging", by="dewi", reason="bad", to="1.0.0")
    assert again.details["direct"]["used"] is False
    assert (
        again.details["direct"]["why_not"]
        == "the ledger has web1, web2 on another release than the cards' 2.0.0"
    )
    assert again.details["already_live"] == ["web1", "web2"]
    assert api.ledger_verify(project).ok


def test_untrusted_cards_run_the_play_and_a_host_without_answer_is_played(ssh_pool_factory, tmp_path) -> None:
    hosts = ssh_pool_factory(2).hosts
    project = deployed(tmp_path, hosts)

    # a cards file edited outside relkit (its start command): refused, the play rolls back
    cards = project.state_dir / "live-check" / "staging.json"
    cards.write_text(cards.read_text().replace("nohup python3", "nohup touch /opt/owned; python3"))
    tampered = api.rollback(project, "staging", by="ops", reason="bad")
    assert tampered.details["direct"]["used"] is False
    assert "HMAC does not match" in tampered.details["direct"]["why_not"]
    assert observed(hosts) == {h.name: ("1.0.0", 1, 1, "1.0.0") for h in hosts}
    assert not any((h.opt / "owned").exists() for h in hosts), "the edited command never ran"

    # web2 is down: web1 is switched back directly, web2 goes to the play, which cannot reach it;
    # the cards are those of a redeploy of the live release (--full-play): each host's probe
    # named the release its rollback goes to, as the host's history has it
    release = project.root / "releases" / "2.0.0.yml"
    api.deploy(project, release, "staging", by="ops")
    api.deploy(project, release, "staging", by="ops", full_play=True)
    card = json.loads(cards.read_text())["hosts"]["web1"]
    assert card["rollback"]["to"] == "1.0.0"
    hosts[1].stop_sshd()
    with pytest.raises(RollbackFailed) as failed:
        api.rollback(project, "staging", by="ops", reason="bad")
    assert "web2" in str(failed.value)
    report = failed.value.result
    assert report is not None
    assert report.details["direct"] == {"used": True, "why_not": None, "played": ["web2"]}
    assert report.rolled_back == {"web1": "1.0.0"}
    assert report.hosts == {"web1": "ok", "web2": "unreachable"}
    assert observed(hosts[:1]) == {"web1": ("1.0.0", 1, 1, "1.0.0")}
    version, problems = live_release(hosts[1])
    assert (version, problems) == ("2.0.0", []), "web2 was left on its complete release"
    switched = [
        e.host for e in api.ledger_entries(project, kind="host.switched") if e.run_id == report.run_id
    ]
    assert switched == ["web1"]


def test_a_secret_in_the_service_commands_keeps_the_rollback_out_of_the_cards(
    ssh_pool_factory, tmp_path, monkeypatch
) -> None:
    hosts = ssh_pool_factory(1).hosts
    monkeypatch.setitem(os.environ, TOKEN_VAR, TOKEN)
    base = write_project(tmp_path / "base", {"staging": hosts})
    service = dict(Project.load(base).config.service.model_dump(exclude_none=True))
    service["start"] = f"APP_TOKEN='{{{{ relkit_secrets.{TOKEN_VAR} }}}}' " + service["start"]
    project = deployed(tmp_path, hosts, {"secrets": [TOKEN_VAR], "service": service})

    cards = project.state_dir / "live-check" / "staging.json"
    assert TOKEN not in cards.read_text()
    card = json.loads(cards.read_text())["hosts"]["web1"]
    assert "rollback" not in card and card["rollback_unavailable"].startswith("the rollback")
    assert "smoke" in card, "the quick check keeps the card"
    back = api.rollback(project, "staging", by="ops", reason="bad")
    assert back.details["direct"]["used"] is False
    assert back.details["direct"]["why_not"].startswith("no rollback in the cards of web1 (the rollback")
    assert observed(hosts) == {"web1": ("1.0.0", 1, 1, "1.0.0")}


def test_a_deploy_failing_its_smoke_test_is_rolled_back_over_its_own_probe_cards(
    ssh_pool_factory, tmp_path
) -> None:
    hosts = ssh_pool_factory(2).hosts
    project = deployed(tmp_path, hosts)
    with pytest.raises(PlayFailed) as failed:
        api.deploy(project, project.root / "releases" / "3.0.0.yml", "staging", by="ops")
    assert "rolled back web1 to 2.0.0, web2 to 2.0.0" in str(failed.value)
    # back on 2.0.0 with its data (schema 2, both notes), serving it
    assert observed(hosts) == {h.name: ("2.0.0", 2, 2, "2.0.0") for h in hosts}
    report = failed.value.result
    assert report is not None and report.rolled_back == {"web1": "2.0.0", "web2": "2.0.0"}
    run_id = report.run_id
    assert [p.name for p in run_dirs(project, run_id)] == [f"{run_id}-deploy"], "no rollback play"
    tasks = [e for e in api.ledger_entries(project, kind="task.result") if e.run_id == run_id]
    back = [(e.host, e.data["status"]) for e in tasks if e.data["task"].endswith("(direct, no play)")]
    assert sorted(back) == [("web1", "ok"), ("web2", "ok")]
    switched = [e for e in api.ledger_entries(project, kind="host.switched") if e.run_id == run_id]
    assert [(e.host, e.data["version"], e.data["action"]) for e in switched[-2:]] == [
        ("web1", "2.0.0", "rollback"),
        ("web2", "2.0.0", "rollback"),
    ]
    started = [e for e in api.ledger_entries(project, kind="rollback.started") if e.run_id == run_id]
    assert started and started[0].data["automatic"] is True
    assert api.ledger_verify(project).ok
