"""The quick check (relkit.live_check): host cards, their fingerprint, and the check itself run
for real on local-connection "hosts" (a deploy path laid out by hand, a real flock, real smoke
commands). Over real SSH it is covered by tests/integration/test_deploy_ssh.py."""

from __future__ import annotations

import fcntl
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from relkit import live_check
from relkit.project import Project
from relkit.results import PlayResult, TaskOutcome
from relkit.status import LiveRelease
from tests.support.factories import unreachable_ssh_card

SHA = "a" * 64


def layout(root: Path, version: str = "2.0.0", sha: str = SHA, live: bool = True) -> Path:
    """A deploy path with ``version`` installed (and ``current`` on it when ``live``)."""
    release = root / "releases" / version
    release.mkdir(parents=True)
    (release / ".relkit-release.json").write_text(json.dumps({"version": version, "sha256": sha}))
    (root / ".relkit").mkdir()
    (root / ".relkit" / "lock").write_text("")
    if live:
        (root / "current").symlink_to(release)
    return root


def card(root: Path, checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    checks = checks if checks is not None else [{"name": "ok", "command": "test -d current"}]
    return {
        "connection": "local",
        "python": sys.executable,
        "deploy_path": str(root),
        "smoke": {"checks": checks},
    }


def probe_result(cards: dict[str, dict[str, Any]]) -> PlayResult:
    outcomes = [
        TaskOutcome.of(h, "Probe release 2.0.0", "relkit_release", "ok", False, "", {"relkit": {"card": c}})
        for h, c in cards.items()
    ]
    return PlayResult("successful", 0, outcomes, Path())


def live(*hosts: str, version: str = "2.0.0", sha: str = SHA) -> dict[str, LiveRelease]:
    return {h: LiveRelease("staging", h, version, sha, "", "ops", "deploy", "r1") for h in hosts}


@pytest.fixture
def project(example_project: Path) -> Project:
    return Project.load(example_project)


@pytest.fixture
def hosts(tmp_path: Path, project: Project) -> dict[str, Path]:
    roots = {"stage1": layout(tmp_path / "stage1"), "stage2": layout(tmp_path / "stage2")}
    reason = live_check.save(
        project, "staging", probe_result({h: card(r) for h, r in roots.items()}), "2.0.0", SHA
    )
    assert reason == ""
    return roots


def test_every_host_live_is_verified_without_a_play(project: Project, hosts: dict[str, Path]) -> None:
    verdict = live_check.verify(project, "staging", "2.0.0", SHA, live("stage1", "stage2"))
    assert verdict.result is not None, verdict.reason
    assert verdict.result.ok and verdict.result.all_hosts == ["stage1", "stage2"]
    for outcome in verdict.result.outcomes:
        assert outcome.status == "ok"
        assert [c["name"] for c in outcome.result["checks"]] == ["ok"]
        assert all(c["ok"] for c in outcome.result["checks"])


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("current", "stage2: current is 1.0.0"),
        ("marker", "stage2: 2.0.0 is not installed from this artifact"),
        ("smoke", "stage2: smoke: ok: exit 1"),
        ("layout", "stage2: no relkit deploy path here"),
    ],
)
def test_any_host_not_live_means_the_full_play(
    project: Project, hosts: dict[str, Path], breakage: str, expected: str
) -> None:
    root = hosts["stage2"]
    if breakage == "current":
        (root / "releases" / "1.0.0").mkdir()
        (root / "current").unlink()
        (root / "current").symlink_to(root / "releases" / "1.0.0")
    elif breakage == "marker":
        (root / "releases" / "2.0.0" / ".relkit-release.json").write_text(json.dumps({"sha256": "b" * 64}))
    elif breakage == "smoke":
        failing = card(root, [{"name": "ok", "command": "false"}])
        result = probe_result({"stage1": card(hosts["stage1"]), "stage2": failing})
        assert live_check.save(project, "staging", result, "2.0.0", SHA) == ""
    else:
        (root / ".relkit" / "lock").unlink()
    verdict = live_check.verify(project, "staging", "2.0.0", SHA, live("stage1", "stage2"))
    assert verdict.result is None
    assert verdict.reason.startswith(expected), verdict.reason


def test_a_host_busy_with_another_relkit_operation_is_not_checked(
    project: Project, hosts: dict[str, Path]
) -> None:
    with (hosts["stage1"] / ".relkit" / "lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        verdict = live_check.verify(project, "staging", "2.0.0", SHA, live("stage1", "stage2"))
    assert verdict.result is None
    assert verdict.reason == "stage1: another relkit operation holds this host's lock"


def test_the_ledger_must_agree_before_any_host_is_asked(project: Project, hosts: dict[str, Path]) -> None:
    assert live_check.verify(project, "staging", "2.0.0", SHA, live("stage1")).reason == (
        "the ledger has stage2 on another release"
    )
    other = live("stage1", "stage2", version="1.0.0")
    assert live_check.verify(project, "staging", "2.0.0", SHA, other).result is None
    verdict = live_check.verify(project, "staging", "3.0.0", SHA, live("stage1", "stage2", version="3.0.0"))
    assert verdict.reason == "the host cards are for 2.0.0"


def test_cards_are_kept_only_when_every_host_has_one(project: Project, tmp_path: Path) -> None:
    root = layout(tmp_path / "stage1")
    result = probe_result({"stage1": card(root), "stage2": {"unavailable": "become (...)"}})
    assert live_check.save(project, "staging", result, "2.0.0", SHA) == "stage2: become (...)"
    assert not live_check.cards_path(project, "staging").exists()
    verdict = live_check.verify(project, "staging", "2.0.0", SHA, live("stage1", "stage2"))
    assert verdict.reason.startswith("no host cards yet")


def test_the_cards_file_holds_no_secret_and_is_written_whole(
    project: Project, hosts: dict[str, Path]
) -> None:
    record = json.loads(live_check.cards_path(project, "staging").read_text())
    assert set(record) == {"fingerprint", "version", "sha256", "saved", "hosts"}
    assert sorted(record["hosts"]) == ["stage1", "stage2"]
    assert not list(live_check.cards_path(project, "staging").parent.glob("*.tmp-*"))


def _fingerprint_after(
    project: Project, change: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str | None:
    inventory = project.inventory("staging")
    if change == "inventory":
        inventory.write_text(inventory.read_text() + "\n# a comment changes the file\n")
    elif change == "group_vars":
        (inventory.parent / "group_vars").mkdir()
        (inventory.parent / "group_vars" / "all.yml").write_text("app_port: 9999\n")
    elif change == "named env":
        monkeypatch.setenv("RELKIT_DEMO_ROOT", str(tmp_path / "elsewhere"))  # the inventory names it
    elif change == "ansible env":
        monkeypatch.setenv("ANSIBLE_REMOTE_PORT", "2222")
    elif change == "relkit.yml":
        config = project.config.model_copy(update={"app": project.config.app + "-renamed"})
        project = Project(config, project.root)
    elif change == "script":
        inventory.chmod(0o755)
    elif change == "plugin":
        inventory.write_text("plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n")
    return live_check.fingerprint(project, "staging")


@pytest.mark.parametrize(
    "change", ["inventory", "group_vars", "named env", "ansible env", "relkit.yml", "script", "plugin"]
)
def test_the_fingerprint_follows_what_shapes_the_play(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    monkeypatch.delenv("RELKIT_DEMO_ROOT", raising=False)
    monkeypatch.delenv("ANSIBLE_REMOTE_PORT", raising=False)
    before = live_check.fingerprint(project, "staging")
    assert before is not None and before == live_check.fingerprint(project, "staging")
    monkeypatch.setenv("UNRELATED_VARIABLE", "x")
    assert live_check.fingerprint(project, "staging") == before
    after = _fingerprint_after(project, change, tmp_path, monkeypatch)
    if change in ("script", "plugin"):
        assert after is None  # a dynamic inventory: never a quick check
    else:
        assert after is not None and after != before


def test_an_unreachable_ssh_host_gives_a_reason_not_an_error(tmp_path: Path) -> None:
    ssh_card = unreachable_ssh_card(tmp_path, smoke={})
    answer = live_check.ask(ssh_card, "2.0.0", SHA, live_check.host_script(), timeout=20)
    assert answer["live"] is False and answer["reason"].startswith("no answer (exit 255")


def test_the_host_script_is_plain_python_without_ansible() -> None:
    script = live_check.host_script()
    assert "ansible" not in "\n".join(
        line for line in script.splitlines() if line.startswith(("import", "from"))
    )
    compile("ARGS = '{}'\n" + script, "relkit-live-check", "exec")


HEALTH = {
    "checks": [
        {"name": "ok", "command": "test -d current", "severity": "critical", "source": "smoke"},
        {"name": "sick", "command": "test ! -e sick", "severity": "warning", "source": "health"},
        {"name": "errors", "log": "app.log", "pattern": "ERROR", "severity": "critical", "source": "health"},
    ],
    "timeout": 5,
}


def health_cards(project: Project, roots: dict[str, Path], **extra: dict[str, Any]) -> None:
    cards = {h: {**card(r), "health": HEALTH, **extra.get(h, {})} for h, r in roots.items()}
    assert live_check.save(project, "staging", probe_result(cards), "2.0.0", SHA) == ""


def test_health_runs_the_cards_checks_with_the_modules_code(project: Project, hosts: dict[str, Path]) -> None:
    health_cards(project, hosts)
    (hosts["stage2"] / "sick").write_text("")
    verdict = live_check.health(project, "staging", live("stage1", "stage2"))
    assert verdict.result is not None, verdict.reason
    first = {o.host: o for o in verdict.result.outcomes}
    assert [o.health.status for o in first.values() if o.health] == ["ok", "warning"]
    assert {o.status for o in first.values()} == {"ok"} and verdict.result.ok
    assert first["stage1"].task == live_check.HEALTH_TASK and first["stage1"].action == "relkit_health"
    assert [(c["name"], c["source"], c["status"]) for c in first["stage2"].health.checks] == [  # type: ignore[union-attr]
        ("ok", "smoke", "ok"),
        ("sick", "health", "warning"),
        ("errors", "health", "ok"),
    ]
    assert first["stage1"].health and first["stage1"].health.version == "2.0.0"
    # the log offsets live on the host, as with the module: the second run counts new lines
    (hosts["stage1"] / "app.log").write_text("ERROR it broke\n")
    again = live_check.health(project, "staging", live("stage1", "stage2"))
    assert again.result is not None and not again.result.ok and again.result.hosts("failed") == ["stage1"]
    [failed] = [o for o in again.result.outcomes if o.host == "stage1"]
    assert failed.msg == "critical: errors: 1 matching line(s) since last run, max 0: ERROR it broke"
    assert failed.result["failed"] is True and failed.health and failed.health.status == "critical"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("no cards", "no host cards yet"),
        ("tampered", "host cards "),
        ("rolled back", "the ledger has stage1, stage2 on another release than the cards' 2.0.0"),
        ("no health", "no health checks in the cards of stage2 (kept without health checks)"),
        ("secret", "no health checks in the cards of stage1, stage2 (the health checks carry a secret"),
        ("host down", "stage2: deploy path"),
        ("run id", "the checks use relkit_run_id"),
    ],
)
def test_health_without_usable_cards_is_the_plays(
    project: Project, hosts: dict[str, Path], change: str, expected: str
) -> None:
    known = live("stage1", "stage2")
    health_cards(project, hosts)
    if change == "no cards":
        live_check.cards_path(project, "staging").unlink()
    elif change == "tampered":
        path = live_check.cards_path(project, "staging")
        path.write_text(path.read_text().replace("test -d current", "touch /tmp/x"))
    elif change == "rolled back":
        known = live("stage1", "stage2", version="1.0.0")
    elif change == "no health":
        cards = {"stage1": {**card(hosts["stage1"]), "health": HEALTH}, "stage2": card(hosts["stage2"])}
        assert live_check.save(project, "staging", probe_result(cards), "2.0.0", SHA) == ""
    elif change == "secret":  # masked by the redactor on its way: the controller's own test
        masked = {"checks": [{"name": "token", "command": f"test {live_check.REDACTED}"}], "timeout": 5}
        cards = {h: {**card(r), "health": masked} for h, r in hosts.items()}
        assert live_check.save(project, "staging", probe_result(cards), "2.0.0", SHA) == ""
        # the quick check keeps the cards: only their health part is left out
        assert live_check.verify(project, "staging", "2.0.0", SHA, known).result is not None
    elif change == "host down":
        (hosts["stage2"] / "releases").rename(hosts["stage2"].parent / "moved")
        hosts["stage2"].rename(hosts["stage2"].parent / "gone")
    else:  # a check each play renders anew: the run id
        config = project.root / "relkit.yml"
        config.write_text(
            config.read_text()
            .replace("max_matches: 0", "max_matches: 0\n      name: errors-{{ relkit_run_id }}", 1)
            .replace(
                "    - name: errors            # lines written to the log since the previous health run\n",
                "    -\n",
            )
        )
        project = Project.load(project.root)
        health_cards(project, hosts)
    verdict = live_check.health(project, "staging", known)
    assert verdict.result is None
    assert verdict.reason.startswith(expected), verdict.reason


def _probe_card(args: dict[str, Any], template: Any = None) -> dict[str, Any]:
    """The relkit_release action plugin's card for a local-connection probe with ``args`` (its
    ``health``: the play's ``relkit_health``, rendered by ``template``, default as it is)."""
    from types import SimpleNamespace

    from tests.support.hostmodules import PLAYBOOKS, load

    plugin = load("relkit_release_action", PLAYBOOKS / "action_plugins" / "relkit_release.py")
    action = object.__new__(plugin.ActionModule)
    args = dict(args)
    task_vars = {"ansible_python_interpreter": "/usr/bin/python3", "relkit_health": args.pop("health", None)}
    action._task = SimpleNamespace(args=args)
    action._connection = SimpleNamespace(transport="local")
    action._play_context = SimpleNamespace(become=False)
    action._templar = SimpleNamespace(template=template or (lambda value: value))
    return action._card(task_vars, {"ansible_facts": {}})


def test_the_probe_card_carries_the_health_checks_unless_they_hold_a_secret() -> None:
    smoke = {"checks": [{"name": "up", "command": "true"}]}
    health = {"checks": [{"name": "api", "command": "curl -H 'token: s3cr3t' x"}], "timeout": 5}
    args = {"deploy_path": "/opt/app", "smoke": smoke, "health": health, "secrets": []}
    assert _probe_card(args)["health"] == health
    kept = _probe_card({**args, "secrets": ["s3cr3t"]})
    assert "health" not in kept and kept["health_unavailable"] == "the health checks carry a secret"
    assert kept["smoke"] == smoke and kept["deploy_path"] == "/opt/app", "the quick check keeps its card"
    assert "health" not in _probe_card({**args, "health": None})
    # a check this host cannot render (a variable it lacks): only the health part is left out,
    # the probe and its card stand (the deploy goes on; relkit health runs its play)

    def undefined(value: Any) -> Any:
        if value == health:
            raise ValueError("'health_port' is undefined\nmore")
        return value

    lacking = _probe_card(args, template=undefined)
    assert (
        lacking["health_unavailable"]
        == "cannot render the health checks for this host: 'health_port' is undefined"
    )
    assert "health" not in lacking and lacking["smoke"] == smoke
    assert _probe_card({**args, "smoke": {"checks": [{"name": "s3cr3t"}]}, "secrets": ["s3cr3t"]}) == {
        "unavailable": "the smoke checks or the connection carry a secret"
    }
