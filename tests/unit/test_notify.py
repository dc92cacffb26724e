"""Notifications (relkit.notify, ``relkit notify``): real webhook and SMTP receivers on loopback.

Every test that configures a secret plants a canary value and checks that no file written
under tmp_path (ledger, WAL, run artifacts) and no terminal output contains it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from relkit.cli import main
from relkit.config import ProjectConfig
from relkit.errors import BadInput
from relkit.loading import validate_data
from relkit.notify import announcement_context, notify
from relkit.project import Project
from relkit.store.sqlite import Ledger
from relkit.usecases import procedure
from relkit.usecases.notices import send_notice
from tests.support import notifysinks
from tests.support.clirunner import payload
from tests.support.factories import config_data, manifest_data, problems_of
from tests.support.fixtures import SshKeys
from tests.support.notifysinks import Hook, Mailbox, files_containing, free_port

webhook = notifysinks.webhook
smtp_server = notifysinks.smtp_server

CANARY = "canary-5ecret-7c1d9e"


def write_project(root: Path, channels: dict[str, Any], templates: dict[str, str] | None = None) -> Project:
    """relkit.yml with ``channels`` and a valid 1.2.3 manifest (releases/1.2.3.yml) in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    config = config_data(notifications={"channels": channels})
    (root / "relkit.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    manifest = manifest_data(
        owners={"po": "dewi", "comms": "rina"},
        changes=[
            {"id": "WEB-1", "type": "feature", "title": "Notes"},
            {"id": "WEB-2", "type": "fix", "title": "Search is case-insensitive"},
        ],
    )
    manifest["schedule"]["expected_downtime_minutes"] = 15
    (root / "releases").mkdir(exist_ok=True)
    (root / "releases" / "1.2.3.yml").write_text(yaml.safe_dump(manifest))
    for name, text in (templates or {}).items():
        path = root / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Project.load(root)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]):
    """``run(project, *args)``: exit code, stdout, stderr of ``relkit -C P notify releases/1.2.3.yml``."""

    def call(project: Project, *args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["-C", str(project.root), "notify", str(project.root / "releases" / "1.2.3.yml"), *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def sent(project: Project) -> list[Any]:
    return list(project.ledger.entries(kind="notify.sent"))


def assert_no_secret(root: Path, secret: str, *outputs: str) -> None:
    assert files_containing(root, secret) == []
    for text in outputs:
        assert secret not in text


# -- configuration ---------------------------------------------------------------------


def test_no_notifications_section_means_no_channels() -> None:
    config = validate_data(ProjectConfig, config_data(), "relkit.yml")
    assert config.notifications.channels == {}


def test_channels_validate() -> None:
    config = validate_data(
        ProjectConfig,
        config_data(
            notifications={
                "channels": {
                    "chat": {
                        "type": "webhook",
                        "url": "https://chat.example.org/hooks/x",
                        "token_env": "TOK",
                    },
                    "mail": {
                        "type": "email",
                        "host": "smtp.example.org",
                        "port": 587,
                        "starttls": True,
                        "from": "relkit@example.org",
                        "to": ["ops@example.org", "users@example.org"],
                        "user": "relkit",
                        "password_env": "SMTP_PASSWORD",
                        "events": ["announcement", "rollback"],
                    },
                }
            }
        ),
        "relkit.yml",
    )
    chat, mail = config.notifications.channels["chat"], config.notifications.channels["mail"]
    assert chat.wants("deploy.started") and chat.wants("announcement")
    assert mail.sender == "relkit@example.org" and mail.wants("rollback") and not mail.wants("deploy.started")


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ({"type": "irc", "url": "http://x"}, "notifications.channels.c.type: expected a channel with type"),
        (
            {"url": "http://x"},
            "notifications.channels.c.type: expected a channel with type 'webhook' or 'email'",
        ),
        ("http://x", "notifications.channels.c: expected a channel with type 'webhook' or 'email'"),
        ({"type": "webhook"}, "notifications.channels.c: give exactly one of 'url' or 'url_env'"),
        ({"type": "webhook", "url": "ftp://x"}, "notifications.channels.c.url: String should match"),
        (
            {"type": "webhook", "url": "http://x", "token": "abc"},
            "notifications.channels.c.token: unknown key",
        ),
        (
            {"type": "webhook", "url": "http://x", "token_env": "A B"},
            "notifications.channels.c.token_env: String should match",
        ),
        (
            {"type": "webhook", "url": "http://x", "events": ["deploy"]},
            "notifications.channels.c.events.0: Input should be",
        ),
        (
            {"type": "email", "host": "h", "from": "a@b", "to": ["c@d"], "user": "u"},
            "notifications.channels.c.password_env: required with 'user'",
        ),
        (
            {"type": "email", "host": "h", "to": ["c@d"]},
            "notifications.channels.c.from: required field",
        ),
        (
            {"type": "email", "host": "h", "from": "a@b", "to": []},
            "notifications.channels.c.to: List should",
        ),
        (
            {"type": "email", "host": "h", "from": "a@b", "to": ["nobody"]},
            "notifications.channels.c.to.0: String should match",
        ),
    ],
)
def test_bad_channel_names_the_field(channel: dict[str, Any], expected: str) -> None:
    """Each problem at the exact field of the channel (no union member's tag such as 'webhook' in it)."""
    problems = problems_of(ProjectConfig, config_data(notifications={"channels": {"c": channel}}))
    assert [p for p in problems if p.startswith(expected)] == problems, problems


# -- webhook ---------------------------------------------------------------------------


def test_announcement_to_webhook_with_bearer_token(
    tmp_path: Path,
    webhook: Hook,
    run: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELKIT_HOOK_TOKEN", CANARY)
    project = write_project(
        tmp_path / "p",
        {"ops-chat": {"type": "webhook", "url": webhook.url, "token_env": "RELKIT_HOOK_TOKEN"}},
    )
    code, out, err = run(project, "--kind", "announcement", "--env", "production")
    assert code == 0, err
    [request] = webhook.requests
    assert request["path"] == "/hooks/relkit"
    assert request["headers"]["Authorization"] == f"Bearer {CANARY}"
    payload = request["json"]
    assert payload["text"].startswith(
        "[webapp] Release 1.2.3 is scheduled for Tuesday 10 November 2026, 22:00\u201323:30 (Asia/Jakarta)."
    )
    assert "Expected downtime: up to 15 minutes." in payload["text"]
    assert "[WEB-2] Search is case-insensitive (fix)" in payload["text"]
    assert payload["event"] == "announcement"
    assert payload["relkit"]["version"] == "1.2.3"
    assert payload["relkit"]["sha256"] == "a" * 64
    assert payload["relkit"]["env"] == "production"
    assert CANARY not in json.dumps(payload)
    assert f"sent: announcement 1.2.3 → ops-chat (webhook {webhook.url})" in out

    [entry] = sent(project)
    assert entry.env == "production"
    assert entry.data["ok"] is True and entry.data["channel"] == "ops-chat" and entry.data["error"] == ""
    assert entry.data["version"] == "1.2.3" and entry.data["sha256"] == "a" * 64
    start = datetime.fromisoformat(entry.data["window_start"])
    assert start.tzinfo is not None and start.isoformat() == "2026-11-10T22:00:00+07:00"
    assert entry.data["target"] == webhook.url
    assert_no_secret(tmp_path, CANARY, out, err)


def test_webhook_500_is_recorded_and_the_command_still_succeeds(
    tmp_path: Path,
    webhook: Hook,
    run: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELKIT_HOOK_TOKEN", CANARY)
    webhook.status = 500
    project = write_project(
        tmp_path / "p",
        {"ops-chat": {"type": "webhook", "url": webhook.url, "token_env": "RELKIT_HOOK_TOKEN"}},
    )
    code, out, err = run(project, "--kind", "announcement")
    assert code == 0
    assert len(webhook.requests) == 1
    assert "not sent: announcement 1.2.3 → ops-chat" in err and "HTTP 500" in err
    [entry] = sent(project)
    assert entry.data["ok"] is False and entry.data["error"].startswith("HTTP 500")
    assert_no_secret(tmp_path, CANARY, out, err)


def test_closed_port_is_recorded_as_failed(tmp_path: Path, run: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    project = write_project(tmp_path / "p", {"chat": {"type": "webhook", "url": url, "timeout": 2}})
    code, _, err = run(project, "--kind", "announcement")
    assert code == 0
    [entry] = sent(project)
    assert entry.data["ok"] is False
    assert "cannot reach the webhook" in entry.data["error"] and "refused" in entry.data["error"]
    assert "not sent" in err


def test_missing_token_variable_sends_nothing(
    tmp_path: Path,
    webhook: Hook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RELKIT_HOOK_TOKEN", raising=False)
    project = write_project(
        tmp_path / "p", {"chat": {"type": "webhook", "url": webhook.url, "token_env": "RELKIT_HOOK_TOKEN"}}
    )
    [delivery] = notify(project, "deploy.started", {"version": "1.2.3"}, "r1", "staging")
    assert delivery.ok is False and delivery.error == "environment variable RELKIT_HOOK_TOKEN is not set"
    assert webhook.requests == []
    assert sent(project)[0].data["error"] == delivery.error


def test_secret_url_from_environment_is_never_recorded(
    tmp_path: Path,
    webhook: Hook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret_url = f"{webhook.url}/{CANARY}"
    monkeypatch.setenv("RELKIT_HOOK_URL", secret_url)
    project = write_project(tmp_path / "p", {"slack": {"type": "webhook", "url_env": "RELKIT_HOOK_URL"}})
    [delivery] = notify(
        project, "deploy.finished", {"version": "1.2.3", "status": "successful"}, "r1", "staging"
    )
    assert delivery.ok and delivery.target == "$RELKIT_HOOK_URL"
    assert webhook.requests[0]["path"] == f"/hooks/relkit/{CANARY}"
    webhook.status = 404
    [failed] = notify(project, "deploy.finished", {"version": "1.2.3", "status": "failed"}, "r2", "staging")
    assert failed.ok is False and CANARY not in failed.error
    assert_no_secret(tmp_path, CANARY)


def test_redirect_is_not_followed_so_the_token_stays_put(
    tmp_path: Path,
    webhook: Hook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RELKIT_HOOK_TOKEN", CANARY)
    webhook.status, webhook.location = 307, webhook.url + "/elsewhere"
    project = write_project(
        tmp_path / "p", {"chat": {"type": "webhook", "url": webhook.url, "token_env": "RELKIT_HOOK_TOKEN"}}
    )
    [delivery] = notify(project, "deploy.started", {"version": "1.2.3"}, "r1", "staging")
    assert delivery.ok is False and delivery.error.startswith("HTTP 307")
    assert [r["path"] for r in webhook.requests] == ["/hooks/relkit"]


def test_channel_gets_only_its_events(tmp_path: Path, webhook: Hook) -> None:
    project = write_project(
        tmp_path / "p",
        {
            "users": {
                "type": "webhook",
                "url": webhook.url + "/users",
                "events": ["announcement", "rollback"],
            },
            "ops": {"type": "webhook", "url": webhook.url + "/ops"},
        },
    )
    started = notify(project, "deploy.started", {"version": "1.2.3"}, "r1", "staging")
    assert [(d.channel, d.ok) for d in started] == [("ops", True)]
    notify(
        project,
        "rollback",
        {"ok": True, "reason": "login broken", "rolled_back": {"web1": "1.2.2"}},
        "r2",
        "prod",
    )
    assert [(r["path"], r["json"]["event"]) for r in webhook.requests] == [
        ("/hooks/relkit/ops", "deploy.started"),
        ("/hooks/relkit/users", "rollback"),
        ("/hooks/relkit/ops", "rollback"),
    ]
    assert "[webapp] prod was rolled back to 1.2.2" in webhook.requests[1]["json"]["text"]
    assert "Reason: login broken" in webhook.requests[1]["json"]["text"]


# -- email -----------------------------------------------------------------------------


def test_announcement_by_email_with_smtp_auth(
    tmp_path: Path,
    smtp_server: Mailbox,
    run: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp_server.password = CANARY
    monkeypatch.setenv("RELKIT_SMTP_PASSWORD", CANARY)
    project = write_project(
        tmp_path / "p",
        {
            "mail": {
                "type": "email",
                "host": "127.0.0.1",
                "port": smtp_server.port,
                "starttls": False,  # the loopback server has no TLS: AUTH in plaintext, allowed explicitly
                "allow_plaintext_auth": True,
                "from": "relkit@example.org",
                "to": ["users@example.org", "ops@example.org"],
                "user": "relkit",
                "password_env": "RELKIT_SMTP_PASSWORD",
            }
        },
    )
    code, out, err = run(project, "--kind", "announcement", "--env", "production")
    assert code == 0, err
    assert smtp_server.logins == [("relkit", CANARY)]
    assert smtp_server.envelopes == [("relkit@example.org", ["users@example.org", "ops@example.org"])]
    [message] = smtp_server.messages
    assert message["Subject"].startswith("[webapp] Release 1.2.3 is scheduled for Tuesday 10 November 2026")
    assert message["X-Relkit-Event"] == "announcement"
    body = message.get_content()
    assert "Expected downtime: up to 15 minutes." in body and "[WEB-1] Notes (feature)" in body
    [entry] = sent(project)
    assert entry.data["ok"] is True and entry.data["type"] == "email"
    assert entry.data["target"] == f"smtp://127.0.0.1:{smtp_server.port} → users@example.org, ops@example.org"
    assert "sent: announcement 1.2.3 → mail (email" in out
    assert_no_secret(tmp_path, CANARY, out, err)


def test_wrong_smtp_password_is_a_failed_delivery(
    tmp_path: Path,
    smtp_server: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp_server.password = "the-right-one"
    monkeypatch.setenv("RELKIT_SMTP_PASSWORD", CANARY)
    project = write_project(
        tmp_path / "p",
        {
            "mail": {
                "type": "email",
                "host": "127.0.0.1",
                "port": smtp_server.port,
                "starttls": False,  # the loopback server has no TLS: AUTH in plaintext, allowed explicitly
                "allow_plaintext_auth": True,
                "from": "relkit@example.org",
                "to": ["ops@example.org"],
                "user": "relkit",
                "password_env": "RELKIT_SMTP_PASSWORD",
            }
        },
    )
    [delivery] = notify(project, "smoke.failed", {"version": "1.2.3", "failed": ["web1"]}, "r1", "staging")
    assert delivery.ok is False and delivery.error.startswith("SMTP 535")
    assert smtp_server.messages == []
    assert_no_secret(tmp_path, CANARY, delivery.error)


# -- without channels, templates, never raising ----------------------------------------


def test_without_channels_the_announcement_is_rendered_and_recorded(tmp_path: Path, run: Any) -> None:
    project = write_project(tmp_path / "p", {})
    code, out, _ = run(project, "--kind", "announcement")
    assert code == 0
    assert "[webapp] Release 1.2.3 is scheduled" in out
    assert "recorded: announcement 1.2.3 in the ledger; no notification channel is configured" in out
    [entry] = sent(project)
    assert (entry.data["channel"], entry.data["type"], entry.data["ok"]) == ("record", "record", True)
    assert entry.data["text"].startswith("[webapp] Release 1.2.3 is scheduled")
    assert entry.data["window_start"] == "2026-11-10T22:00:00+07:00"


def test_without_channels_routine_events_are_not_recorded(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {})
    assert notify(project, "deploy.started", {"version": "1.2.3"}, "r1", "staging") == []
    assert sent(project) == []


def test_project_template_overrides_relkits(tmp_path: Path, webhook: Hook) -> None:
    project = write_project(
        tmp_path / "p",
        {"chat": {"type": "webhook", "url": webhook.url}},
        templates={
            "announcement.txt.j2": "Pengumuman: {{ manifest.app }} {{ manifest.version }} pada "
            "{{ window_start.strftime('%d-%m-%Y %H:%M') }}\n",
            "notify/deploy.started.txt.j2": "mulai {{ version }} di {{ env }}\n",
        },
    )
    manifest = send_notice(project, project.root / "releases" / "1.2.3.yml", "announcement").message
    assert manifest.text == "Pengumuman: webapp 1.2.3 pada 10-11-2026 22:00\n"
    notify(project, "deploy.started", {"version": "1.2.3"}, "r1", "staging")
    assert [r["json"]["text"] for r in webhook.requests] == [manifest.text, "mulai 1.2.3 di staging\n"]


def test_broken_template_falls_back_and_is_recorded(tmp_path: Path, webhook: Hook) -> None:
    project = write_project(
        tmp_path / "p",
        {"chat": {"type": "webhook", "url": webhook.url}},
        templates={"notify/deploy.started.txt.j2": "{% if %}broken\n"},
    )
    [delivery] = notify(project, "deploy.started", {"version": "1.2.3"}, "r1", "staging")
    assert delivery.ok
    assert webhook.requests[0]["json"]["text"] == "[webapp] deploy.started 1.2.3 staging\n"
    entry = sent(project)[0]
    assert entry.data["template_error"].startswith("notify/deploy.started.txt.j2:")


def test_notify_never_raises_when_the_ledger_cannot_be_written(
    tmp_path: Path,
    webhook: Hook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("RELKIT_STATE_DIR", str(blocker / "state"))
    project = write_project(tmp_path / "p", {"chat": {"type": "webhook", "url": webhook.url}})
    [delivery] = notify(project, "rollback", {"ok": False, "reason": "x"}, "r1", "production")
    assert delivery.ok and webhook.events() == ["rollback"]


def test_notify_never_raises_on_an_unrenderable_context(tmp_path: Path, webhook: Hook) -> None:
    project = write_project(tmp_path / "p", {"chat": {"type": "webhook", "url": webhook.url}})

    class Weird:
        def __str__(self) -> str:
            raise RuntimeError("no string for you")

    deliveries = notify(project, "deploy.started", {"version": Weird()}, "r1", "staging")
    assert len(deliveries) == 1 and isinstance(deliveries[0].ok, bool)


# -- relkit notify: bad input ----------------------------------------------------------


def test_unknown_kind_is_bad_input(tmp_path: Path, run: Any) -> None:
    code, _, err = run(write_project(tmp_path / "p", {}), "--kind", "party")
    assert code == 2 and "--kind: expected one of announcement, rollback, got 'party'" in err


def test_rollback_notice_needs_env_and_a_recorded_rollback(tmp_path: Path, run: Any) -> None:
    project = write_project(tmp_path / "p", {})
    code, _, err = run(project, "--kind", "rollback")
    assert code == 2 and "--env: the rollback notice is about one environment" in err
    code, _, err = run(project, "--kind", "rollback", "--env", "production")
    assert code == 2 and "no rollback of production is recorded" in err


def test_rollback_notice_from_the_recorded_rollback(tmp_path: Path, run: Any) -> None:
    project = write_project(tmp_path / "p", {})
    ledger = Ledger(project.state_dir / "ledger.db")
    ledger.append(
        "rollback.requested", run_id="rb1", env="production", data={"by": "dewi", "reason": "login broken"}
    )
    for host in ("web1", "web2"):
        ledger.append(
            "host.switched",
            run_id="rb1",
            env="production",
            host=host,
            data={"version": "1.2.2", "previous": "1.2.3", "action": "rollback", "by": "dewi"},
        )
    code, out, _ = run(project, "--kind", "rollback", "--env", "production")
    assert code == 0
    assert "[webapp] production was rolled back to 1.2.2" in out
    assert "The release 1.2.3 was withdrawn." in out and "Decided by: dewi" in out
    [entry] = sent(project)
    assert entry.run_id == "rb1" and entry.data["event"] == "rollback" and entry.data["ok"] is True


def test_unknown_env_is_bad_input(tmp_path: Path, run: Any) -> None:
    code, _, err = run(write_project(tmp_path / "p", {}), "--kind", "announcement", "--env", "moon")
    assert code == 2 and "--env: unknown environment 'moon'" in err


def test_announcement_needs_a_schedule(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {})
    manifest = manifest_data()
    del manifest["schedule"]
    path = project.root / "releases" / "no-schedule.yml"
    path.write_text(yaml.safe_dump(manifest))
    with pytest.raises(BadInput, match="schedule: the announcement needs the release window"):
        send_notice(project, path, "announcement")


def test_announcement_context_is_in_the_release_timezone() -> None:
    from relkit.manifest import Manifest

    manifest = validate_data(Manifest, manifest_data(), "m.yml")
    context = announcement_context(manifest)
    assert context["window_start"].isoformat() == "2026-11-10T22:00:00+07:00"
    assert context["window_end"].isoformat() == "2026-11-10T23:30:00+07:00"


# -- release.closed --------------------------------------------------------------------


def test_closing_a_release_sends_release_closed(
    example_project: Path, ssh_keys: SshKeys, webhook: Hook, tmp_path: Path
) -> None:
    config_path = example_project / "relkit.yml"
    config = yaml.safe_load(config_path.read_text())
    config["notifications"] = {
        "channels": {"users": {"type": "webhook", "url": webhook.url, "events": ["release.closed"]}}
    }
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    project = Project.load(example_project)
    ssh_keys.allowed_signers(project.root / project.config.approvals.allowed_signers)
    manifest = project.root / "releases" / "2.0.0.yml"
    switched = project.ledger.append("host.switched", run_id="r1", env="production", host="web1",
                                     data={"version": "2.0.0"})  # fmt: skip
    since = datetime.fromisoformat(switched.ts)
    procedure.verify(
        project, manifest, "production", ssh_keys.key("dewi"), "dewi", now=since + timedelta(hours=1)
    )
    retro = tmp_path / "retro.md"
    retro.write_text("Went well: staged rollout.\n")
    # closing production is the PO's signed act: who closed is the principal of dewi's key
    procedure.close(
        project,
        manifest,
        "production",
        retro,
        None,
        now=since + timedelta(hours=25),
        key=ssh_keys.key("dewi"),
    )
    [request] = webhook.requests
    assert request["json"]["event"] == "release.closed"
    assert request["json"]["text"] == (
        "[webapp] Release 2.0.0 is closed (by dewi)\n\nRetrospective:\nWent well: staged rollout.\n"
    )
    [entry] = sent(project)
    assert (entry.env, entry.data["version"], entry.data["ok"]) == ("production", "2.0.0", True)


def test_announcement_names_the_release_and_a_rebuilt_artifact_needs_its_own(
    tmp_path: Path, run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """``relkit notify --kind announcement`` records the release's version and artifact sha256; the
    notice_sent gate counts it for that artifact only: a rebuild under the same version is announced again."""
    root = tmp_path / "p"
    write_project(root, {})
    config = yaml.safe_load((root / "relkit.yml").read_text())
    config["policy"] = {"gates": {"deploy": ["notice_sent"]}}
    (root / "relkit.yml").write_text(yaml.safe_dump(config))
    released = root / "releases" / "1.2.3.yml"
    data = yaml.safe_load(released.read_text())
    data["schedule"] = {
        "window_start": "2030-01-10T22:00:00",
        "window_end": "2030-01-10T23:00:00",
        "timezone": "UTC",
    }
    released.write_text(yaml.safe_dump(data))
    project = Project.load(root)
    assert run(project, "--kind", "announcement")[0] == 0
    [entry] = sent(project)
    assert (entry.data["version"], entry.data["sha256"]) == ("1.2.3", data["artifact"]["sha256"])

    capsys.readouterr()
    assert main(["-C", str(root), "gates", str(released), "--env", "staging"]) == 0
    rebuilt = root / "releases" / "1.2.3-rebuilt.yml"
    rebuilt.write_text(yaml.safe_dump({**data, "artifact": {**data["artifact"], "sha256": "c" * 64}}))
    capsys.readouterr()
    assert main(["-C", str(root), "-o", "json", "gates", str(rebuilt), "--env", "staging"]) == 3
    [notice] = payload(capsys.readouterr().out)["gates"][1:]
    assert (notice["name"], notice["passed"]) == ("notice_sent", False)
    assert "it announced another build" in notice["reason"]
