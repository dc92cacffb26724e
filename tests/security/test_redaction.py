"""Redaction by meaning: a secret is recognised however relkit's outputs may encode it.

A secret reaches text relkit writes URL-quoted (a ``DATABASE_URL`` built with
``urllib.parse.quote``, whatever its ``safe`` set), shell-quoted (``shlex.quote``, Ansible's
``| quote``), JSON-escaped (once or twice), one line of a multi-line value at a time, or
trimmed. Each of these used to pass the redactor, and from there the play's environment (the
``command`` artifact), the ledger, the terminal, ``--output json``, webhooks, e-mails and
reports. Notification errors echoed secrets too (Python's "Invalid header value" and "URL
can't contain control characters"), SMTP logged in over plaintext by default and a ``url_env``
of ``file:///...`` was "sent" by reading the local file.

The property test drives the redactor alone; every other test goes through the real path: a
real ansible-runner play, a real HTTP webhook and SMTP server on loopback, the real ledger and
the real report.
"""

from __future__ import annotations

import datetime as dt
import html
import ipaddress
import json
import re
import shlex
import ssl
import string
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from functools import partial
from pathlib import Path
from secrets import token_hex
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from relkit import secrets as relkit_secrets
from relkit.cli import main
from relkit.cli.output import Output
from relkit.config import EmailChannel, ProjectConfig
from relkit.engines import local as local_engine
from relkit.engines.request import PlayRequest
from relkit.loading import validate_data
from relkit.notify import notify
from relkit.project import Project
from relkit.report_render import md_cell
from relkit.secrets import MIN_LENGTH, MIN_LINE_LENGTH, REDACTED, Redactor
from relkit.store.sqlite import Ledger
from relkit.usecases.playing import register_secrets
from relkit.usecases.reports import release_report
from tests.support import notifysinks
from tests.support.clirunner import payload
from tests.support.factories import config_data, manifest_data
from tests.support.notifysinks import Hook, Mailbox, files_containing, free_port

webhook = notifysinks.webhook
smtp_server = notifysinks.smtp_server


# -- (a) the redactor, property-tested over every encoding --------------------------------


def ansible_quote(value: str) -> str:
    """Ansible's ``| quote`` filter (shlex.quote, spelled out: ``'`` becomes ``'"'"'``)."""
    return "'" + value.replace("'", "'\"'\"'") + "'"


SAFE_SETS = ("/", "", ":@/", "!$&'()*+,;=:@/", " \"'<>\\{}|^`[]", string.punctuation.replace("%", ""))
"""``quote``'s ``safe`` sets tried: its default, none, URL userinfo, RFC 3986 sub-delims, the
characters a URL must not hold raw, every punctuation mark. (A ``safe`` keeping ``%`` itself
makes the result ambiguous: ``%41`` may be the text or an ``A``; no such set is tried.)"""

ENCODERS: dict[str, Callable[[str], str]] = {
    **{f"quote(safe={safe!r})": partial(urllib.parse.quote, safe=safe) for safe in SAFE_SETS},
    "quote_plus": urllib.parse.quote_plus,
    "quote_plus(safe=':/')": partial(urllib.parse.quote_plus, safe=":/"),
    "quote lowercase hex": lambda s: re.sub(
        r"%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote(s)
    ),
    "shlex.quote": shlex.quote,
    "ansible quote": ansible_quote,
    "json": json.dumps,
    "json unicode": partial(json.dumps, ensure_ascii=False),
    "json twice": lambda s: json.dumps(json.dumps(s)),
    "json twice unicode": lambda s: json.dumps(json.dumps(s, ensure_ascii=False), ensure_ascii=False),
    "repr": repr,
    "json of quote()": lambda s: json.dumps(urllib.parse.quote(s, safe="\"'\\ /")),
    "json twice of quote()": lambda s: json.dumps(json.dumps(urllib.parse.quote(s))),
    "ansible quote of a URL": lambda s: ansible_quote(urllib.parse.quote(s, safe="'/:@")),
    "json of ansible quote": lambda s: json.dumps(ansible_quote(s)),
    "html": html.escape,
    "markdown cell (report)": md_cell,
    "whitespace squashed": lambda s: " ".join(s.split()),
    "html of quote()": lambda s: html.escape(urllib.parse.quote(s, safe="&'<>\" /")),
    "markdown cell of json of quote()": lambda s: md_cell(json.dumps(urllib.parse.quote(s, safe="&|*_"))),
}
SQUASHING = {"markdown cell (report)", "whitespace squashed", "markdown cell of json of quote()"}
"""Encoders that squash runs of white space: below MIN_LENGTH once squashed, a value is not redacted."""

CONTEXTS = (
    "DATABASE_URL=postgresql://app:{}@db.internal:5432/app",
    'fatal: [web1]: FAILED! => {{"msg": {}, "rc": 1}}',
    "echo {} | psql -h db\n",
    "{}",
)

CHARACTERS = st.one_of(
    st.sampled_from(" '\"/\\%+&=?@:#~!$()[]{}<>|;,`^-_.\t"),
    st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Zs"), exclude_characters="*"),
)
"""Printable text with spaces, quotes, slashes, percent signs and any letter of any script. No
``*``: the redacted text is full of them."""

SECRETS = st.text(CHARACTERS, min_size=MIN_LENGTH, max_size=40).filter(lambda s: len(s.strip()) >= MIN_LENGTH)
LINES = st.text(CHARACTERS.filter(lambda c: c not in "\t"), min_size=MIN_LINE_LENGTH, max_size=24).filter(
    lambda s: len(s.strip()) >= MIN_LINE_LENGTH
)

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_hidden(red: Redactor, encoded: str) -> None:
    for context in CONTEXTS:
        text = context.format(encoded)
        assert red.found(text), (context, encoded)
        assert red.found(text.encode()), (context, encoded)
        redacted = red.text(text)
        assert encoded not in redacted, (context, encoded, redacted)
        assert REDACTED in redacted


@PROPERTY
@given(secret=SECRETS, encoder=st.sampled_from(sorted(ENCODERS)))
@example(secret="p@ss/w0rd:x y", encoder="quote(safe='/')")  # the DATABASE_URL of the issue
@example(secret="it's a secret", encoder="ansible quote")
@example(secret="bl\u00e5b\u00e6r-grød \u20ac", encoder="quote(safe=':@/')")
def test_every_encoding_of_a_secret_is_redacted(secret: str, encoder: str) -> None:
    assume(encoder not in SQUASHING or len(" ".join(secret.split())) >= MIN_LENGTH)
    encoded = ENCODERS[encoder](secret)
    assert_hidden(Redactor([secret]), encoded)


@PROPERTY
@given(secret=SECRETS, padding=st.sampled_from([" ", "  ", "\n", " \t", "\r\n"]))
@example(secret="trailing-secret", padding=" ")
def test_a_trimmed_secret_is_redacted(secret: str, padding: str) -> None:
    red = Redactor([secret + padding])  # the value as set; commands and parsers trim it
    trimmed = (secret + padding).strip()
    assert_hidden(red, trimmed)
    assert_hidden(red, urllib.parse.quote(trimmed))
    assert_hidden(red, json.dumps(trimmed))


@PROPERTY
@given(lines=st.lists(LINES, min_size=2, max_size=4), encoder=st.sampled_from(["raw", *sorted(ENCODERS)]))
@example(lines=["-----BEGIN KEY-----", "QUJDREVGR0hJSktMTU5PUA==", "-----END KEY-----"], encoder="raw")
def test_each_line_of_a_multiline_secret_is_redacted(lines: list[str], encoder: str) -> None:
    red = Redactor(["\n".join(lines)])
    for line in lines:
        stripped = line.strip()
        assume(encoder not in SQUASHING or len(" ".join(line.split())) >= MIN_LINE_LENGTH)
        assert_hidden(red, stripped if encoder == "raw" else ENCODERS[encoder](stripped))


def test_short_values_and_short_lines_are_left_alone_and_so_is_unrelated_text() -> None:
    for value in ("abc", "a", " a ", "a\nb", "\u00e9\u00e9\u00e9"):  # shorter than MIN_LENGTH
        red = Redactor([value])
        text = f"x {value} {urllib.parse.quote(value)} y"
        assert not red and red.text(text) == text and not red.found(text)
    red = Redactor(["ok\nsecond-line-long-enough"])  # "ok" is shorter than MIN_LINE_LENGTH
    text = "ok: 200, second-line%2Dlong-enough, 100%25 done, a+b, %zz, \\u00zz"
    assert red.text(text) == f"ok: 200, {REDACTED}, 100%25 done, a+b, %zz, \\u00zz"


def test_bytes_and_files_are_matched_by_meaning_too(tmp_path: Path) -> None:
    secret = "p@ss w\u00f6rd/42"
    red = Redactor([secret])
    command = tmp_path / "command"
    command.write_bytes(
        b"\xff\xfe binary " + json.dumps({"env": {"DB": urllib.parse.quote(secret)}}).encode()
    )
    assert red.found(command.read_bytes())
    assert red.scrub_file(command)
    assert command.read_bytes() == b'\xff\xfe binary {"env": {"DB": "' + REDACTED.encode() + b'"}}'


# -- (b) the ledger and the terminal: a smoke check that prints the DATABASE_URL -------------


def test_a_quoted_secret_never_reaches_the_ledger_or_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password = f"s3cr\u00e9t p@ss/{token_hex(4)}"
    relkit_secrets.register([password])  # as a run does with relkit.yml's secrets
    detail = f"psql: cannot connect to postgresql://app:{urllib.parse.quote(password)}@db/app"
    ledger = Ledger(tmp_path / "ledger.db")
    entry = ledger.append("smoke.result", run_id="r1", env="staging", data={"checks": [{"detail": detail}]})
    assert entry.data["checks"][0]["detail"] == f"psql: cannot connect to postgresql://app:{REDACTED}@db/app"
    Output("text").out.print(f"[red]failed[/] db: {detail}")
    Output("json").document({"detail": detail, "shell": f"psql {shlex.quote(password)}"})
    out, _ = capsys.readouterr()
    assert out.count(REDACTED) == 3
    assert_nowhere(tmp_path, [urllib.parse.quote(password), password, password[-8:]], out)


# -- (b) the play's environment: a real ansible-runner play --------------------------------

ENV_PLAY = """\
- name: what the play's environment holds
  hosts: localhost
  gather_facts: false
  tasks:
    - name: no variable carrying the password, the others untouched
      ansible.builtin.assert:
        quiet: true
        that:
          - lookup('ansible.builtin.env', 'DATABASE_URL', default='<absent>') == '<absent>'
          - lookup('ansible.builtin.env', 'REPORTS_URL') == 'postgresql://reports@db.internal/reports'
"""


def test_env_var_carrying_a_quoted_password_never_reaches_the_play(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "s3cr\u00e9t p@ss/w0rd;1"
    database_url = f"postgresql://app:{urllib.parse.quote(password)}@db.internal:5432/app"
    assert password not in database_url  # quote()'s default keeps '/': not the safe='' form
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REPORTS_URL", "postgresql://reports@db.internal/reports")
    plays = tmp_path / "plays"
    plays.mkdir()
    (plays / "ansible.cfg").write_text("[defaults]\ngathering = explicit\nretry_files_enabled = False\n")
    (plays / "env.yml").write_text(ENV_PLAY)
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    monkeypatch.setattr(local_engine, "playbooks_dir", lambda: plays)
    request = PlayRequest(
        playbook="env.yml",
        inventory=inventory,
        run_dir=tmp_path / "run",
        run_id="env-check",
        extravars={},
        secret_values=(password,),
    )
    outcomes: list[Any] = []
    result = local_engine.run_play(request, outcomes.append)
    assert result.status == "successful", [o.msg for o in outcomes]
    command = json.loads((result.artifacts / "command").read_text())
    assert "DATABASE_URL" not in command["env"]  # dropped, not merely scrubbed afterwards
    assert command["env"]["REPORTS_URL"] == "postgresql://reports@db.internal/reports"
    assert files_containing(tmp_path / "run", urllib.parse.quote(password)) == []


# -- (b) notifications ------------------------------------------------------------------

CANARY = "canary-7d0c-5ecret"


def write_project(root: Path, channels: dict[str, Any], **config: Any) -> Project:
    """relkit.yml with ``channels`` (and ``config``) and the 1.2.3 manifest in releases/."""
    root.mkdir(parents=True, exist_ok=True)
    data = config_data(notifications={"channels": channels}, **config)
    (root / "relkit.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    (root / "releases").mkdir(exist_ok=True)
    (root / "releases" / "1.2.3.yml").write_text(yaml.safe_dump(manifest_data(owners={"comms": "rina"})))
    return Project.load(root)


def sent(project: Project) -> list[Any]:
    return list(project.ledger.entries(kind="notify.sent"))


def assert_nowhere(root: Path, fragments: list[str], *texts: str) -> None:
    for fragment in fragments:
        assert files_containing(root, fragment) == [], fragment
        for text in texts:
            assert fragment not in text, (fragment, text)


BAD_TOKENS = {
    "newline": ("tok-canary-kq4w\nsecond-line-zv9x", ["canary-kq4w", "second-line", "zv9x"]),
    "latin-1 and newline": ("t\u00f6k-canary-kq4w\nsecond-line-zv9x", ["canary-kq4w", "second-line", "zv9x"]),
    "not latin-1": ("tok-canary-\u20ac-kq4w-zv9x", ["canary-", "kq4w", "\u20ac", "u20ac"]),
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_a_token_no_header_can_carry_is_never_echoed(
    kind: str,
    tmp_path: Path,
    webhook: Hook,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token, fragments = BAD_TOKENS[kind]
    monkeypatch.setenv("RELKIT_HOOK_TOKEN", token)
    project = write_project(
        tmp_path / "p", {"chat": {"type": "webhook", "url": webhook.url, "token_env": "RELKIT_HOOK_TOKEN"}}
    )
    [delivery] = notify(project, "deploy.started", {"version": "1.2.3"}, "r1", "staging")
    assert delivery.ok is False
    assert "$RELKIT_HOOK_TOKEN" in delivery.error and "header" in delivery.error
    capsys.readouterr()
    manifest = str(project.root / "releases" / "1.2.3.yml")
    code = main(["-C", str(project.root), "--output", "json", "notify", manifest, "--kind", "announcement"])
    out, err = capsys.readouterr()
    assert code == 0, err
    [via_cli] = payload(out)["deliveries"]
    assert via_cli["ok"] is False and via_cli["error"] == delivery.error
    assert webhook.requests == []
    errors = [e.data["error"] for e in sent(project)]
    assert errors == [delivery.error, delivery.error]
    assert_nowhere(tmp_path, fragments, delivery.error, out, err, json.dumps(errors))


@pytest.mark.parametrize("tail", ["\nx-wq9k", " wq9k", "\twq9k", "\rwq9k", "\x7fwq9k"])
def test_a_secret_url_no_request_can_carry_is_never_echoed(
    tail: str, tmp_path: Path, webhook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELKIT_HOOK_URL", f"{webhook.url}/{CANARY}{tail}")
    project = write_project(tmp_path / "p", {"slack": {"type": "webhook", "url_env": "RELKIT_HOOK_URL"}})
    [delivery] = notify(project, "deploy.started", {"version": "1.2.3"}, "r1", "staging")
    assert delivery.ok is False and delivery.target == "$RELKIT_HOOK_URL"
    assert "$RELKIT_HOOK_URL" in delivery.error and "control character" in delivery.error
    assert webhook.requests == []
    [entry] = sent(project)
    assert entry.data["ok"] is False and entry.data["error"] == delivery.error
    assert_nowhere(tmp_path, [CANARY, "wq9k", "hooks/relkit"], delivery.error)


@pytest.mark.parametrize(
    "url", ["file:///etc/hostname", "ftp://127.0.0.1/hook", "data:,hello", "127.0.0.1/hook"]
)
def test_a_webhook_url_is_http_or_https_only(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELKIT_HOOK_URL", url)
    project = write_project(tmp_path / "p", {"slack": {"type": "webhook", "url_env": "RELKIT_HOOK_URL"}})
    [delivery] = notify(project, "deploy.started", {"version": "1.2.3"}, "r1", "staging")
    assert delivery.ok is False
    assert delivery.error == "the webhook URL in $RELKIT_HOOK_URL must be an http:// or https:// URL"
    [entry] = sent(project)
    assert (entry.data["ok"], entry.data["error"]) == (False, delivery.error)


@pytest.fixture
def db_password(monkeypatch: pytest.MonkeyPatch) -> str:
    """A canary password in RELKIT_DB_PASSWORD (relkit.yml ``secrets:`` lists it in the tests below)."""
    password = f"db-p@ss  w\u00f6rd/it's&zk7w|<*_-{token_hex(4)}"  # a canary, never registered before
    monkeypatch.setenv("RELKIT_DB_PASSWORD", password)
    return password


def leaked_forms(password: str) -> list[str]:
    """The password as a check or a reason would carry it, and a fragment of each form."""
    return [password, urllib.parse.quote(password), urllib.parse.quote_plus(password), "zk7w"]


def test_a_secret_in_a_notification_message_never_reaches_the_webhook_or_the_mailbox(
    db_password: str, tmp_path: Path, webhook: Hook, smtp_server: Mailbox
) -> None:
    database_url = f"postgresql://app:{urllib.parse.quote(db_password)}@db.internal/app"
    channels = {
        "chat": {"type": "webhook", "url": webhook.url},
        "mail": {
            "type": "email",
            "host": "127.0.0.1",
            "port": smtp_server.port,
            "starttls": False,
            "from": "relkit@example.org",
            "to": ["ops@example.org"],
        },
    }
    project = write_project(tmp_path / "p", channels, secrets=["RELKIT_DB_PASSWORD"])
    register_secrets(project)  # as every use case does when it starts
    failing = {"name": "db", "ok": False, "detail": f"cannot connect to {database_url}"}
    smoke = notify(
        project,
        "smoke.failed",
        {
            "version": "1.2.3",
            "failed": [f"web1 ({database_url})"],
            "checks": {f"web1 ({database_url})": [failing]},
        },
        "r1",
        "staging",
    )
    rollback = notify(
        project,
        "rollback",
        {
            "ok": True,
            "reason": f"db password {db_password} leaked in {database_url}",
            "rolled_back": {"web1": "1.2.2"},
        },
        "r2",
        "production",
    )
    assert [d.ok for d in smoke + rollback] == [True] * 4
    assert webhook.events() == ["smoke.failed", "rollback"]
    texts = [json.dumps(r["json"]) for r in webhook.requests]
    assert "cannot connect to postgresql://app:" + REDACTED in webhook.requests[0]["json"]["text"]
    assert "Reason: db password " + REDACTED in webhook.requests[1]["json"]["text"]
    mails = [m.get_content() for m in smtp_server.messages] + [m["Subject"] for m in smtp_server.messages]
    assert len(smtp_server.messages) == 2 and REDACTED in mails[0] and REDACTED in mails[1]
    mails += [m.as_string() for m in smtp_server.messages]
    assert_nowhere(tmp_path, leaked_forms(db_password), *texts, *mails)


def test_a_secret_in_the_ledger_never_reaches_a_report(db_password: str, tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {}, secrets=["RELKIT_DB_PASSWORD"])
    # written before the value was registered (an older relkit, another process): held as is
    quoted = urllib.parse.quote(db_password)
    project.ledger.append(
        "rollback.requested",
        run_id="rb1",
        env="production",
        data={"by": "dewi", "reason": f"login broken: {db_password} / postgresql://app:{quoted}@db/app"},
    )
    project.ledger.append(  # the rollback run moved web1 away from 1.2.3: the row is the release's
        "host.switched",
        run_id="rb1",
        env="production",
        host="web1",
        data={"version": "1.2.2", "previous": "1.2.3", "action": "rollback", "by": "dewi"},
    )
    assert quoted in json.dumps([e.data for e in project.ledger.entries()])
    for fmt in ("md", "html"):
        text = release_report(project, project.root / "releases" / "1.2.3.yml", fmt=fmt).text
        assert "login broken: " + REDACTED in text, fmt
        for form in leaked_forms(db_password):
            assert form not in text, (fmt, form)


# -- (b) SMTP: STARTTLS by default, never AUTH in plaintext unless allowed explicitly ------


def mail_channel(port: int, **overrides: Any) -> dict[str, Any]:
    return {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "from": "relkit@example.org",
        "to": ["ops@example.org"],
        "user": "relkit",
        "password_env": "RELKIT_SMTP_PASSWORD",
        **overrides,
    }


def test_the_default_email_channel_uses_starttls_and_no_plaintext_auth() -> None:
    config = validate_data(
        ProjectConfig, config_data(notifications={"channels": {"m": mail_channel(25)}}), "relkit.yml"
    )
    channel = config.notifications.channels["m"]
    assert isinstance(channel, EmailChannel)
    assert channel.starttls is True and channel.allow_plaintext_auth is False


def test_default_channel_refuses_a_server_without_starttls(
    tmp_path: Path, smtp_server: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.password = CANARY
    monkeypatch.setenv("RELKIT_SMTP_PASSWORD", CANARY)
    project = write_project(tmp_path / "p", {"mail": mail_channel(smtp_server.port)})
    [delivery] = notify(project, "deploy.started", {"version": "1.2.3"}, "r1", "staging")
    assert delivery.ok is False and "STARTTLS" in delivery.error
    assert smtp_server.logins == [] and smtp_server.messages == []
    assert_nowhere(tmp_path, [CANARY], delivery.error)


def test_plaintext_auth_is_refused_unless_allowed(
    tmp_path: Path, smtp_server: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.password = CANARY
    monkeypatch.setenv("RELKIT_SMTP_PASSWORD", CANARY)
    project = write_project(tmp_path / "p", {"mail": mail_channel(smtp_server.port, starttls=False)})
    [delivery] = notify(project, "deploy.started", {"version": "1.2.3"}, "r1", "staging")
    assert delivery.ok is False
    assert "without TLS" in delivery.error and "allow_plaintext_auth" in delivery.error
    assert smtp_server.logins == [] and smtp_server.messages == []
    [entry] = sent(project)
    assert (entry.data["ok"], entry.data["error"]) == (False, delivery.error)

    allowed = write_project(
        tmp_path / "q", {"mail": mail_channel(smtp_server.port, starttls=False, allow_plaintext_auth=True)}
    )
    [delivery] = notify(allowed, "deploy.started", {"version": "1.2.3"}, "r1", "staging")
    assert delivery.ok, delivery.error
    assert smtp_server.logins == [("relkit", CANARY)] and len(smtp_server.messages) == 1
    assert_nowhere(tmp_path, [CANARY])


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relkit test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls_smtp_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """An aiosmtpd server on 127.0.0.1 that demands STARTTLS before anything, AUTH included;
    its self-signed certificate is what the client trusts (SSL_CERT_FILE)."""
    cert_file, key_file = _self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    box = Mailbox(free_port(), "relkit", CANARY)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            assert session.ssl is not None
            box.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> AuthResult:
        box.logins.append((auth.login.decode(), auth.password.decode()))
        return AuthResult(success=(auth.login.decode(), auth.password.decode()) == (box.user, box.password))

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=box.port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    yield box
    controller.stop()


def test_the_default_email_channel_logs_in_over_starttls(
    tmp_path: Path, tls_smtp_server: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELKIT_SMTP_PASSWORD", CANARY)
    project = write_project(tmp_path / "p", {"mail": mail_channel(tls_smtp_server.port)})
    [delivery] = notify(project, "deploy.started", {"version": "1.2.3"}, "r1", "staging")
    assert delivery.ok, delivery.error
    assert tls_smtp_server.logins == [("relkit", CANARY)] and len(tls_smtp_server.messages) == 1
    assert_nowhere(tmp_path, [CANARY])
