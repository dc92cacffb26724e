"""Notifications: tell people about a release (SOP 4.3.1 announcement, 4.4.2 rollback notice).

:func:`notify` renders the event's message from a Jinja2 template (overridable per project,
see :mod:`relkit.templating`), sends it to every channel of ``relkit.yml`` subscribed to the
event (JSON webhook or SMTP email) and records each send in the ledger as ``notify.sent``.
It never raises: a failed send must not break a deploy or a rollback. Secrets (bearer
tokens, SMTP passwords, secret webhook URLs) are read from environment variables at send
time and never written to the ledger, messages or errors: each value read is registered with
the redactor (:mod:`relkit.secrets`), error texts are scrubbed with it, and errors about a header
or a URL that cannot be sent are worded without the value. Webhooks are http(s) only; SMTP uses
STARTTLS unless told not to, and never logs in without TLS unless explicitly allowed.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from relkit.config import NOTIFY_EVENTS, EmailChannel, WebhookChannel
from relkit.errors import BadInput
from relkit.manifest import Manifest
from relkit.project import Project
from relkit.secrets import known, redact, redact_text, register

ALWAYS_RECORDED = ("announcement", "rollback")
"""Notices the procedure needs even with no channel: rendered and recorded (channel ``record``)."""

TEMPLATES = {event: f"notify/{event}.txt.j2" for event in NOTIFY_EVENTS} | {
    "announcement": "announcement.txt.j2"
}
"""Template of each event, relative to ``templates/`` (the project's first, then relkit's)."""

MAX_ERROR = 500


@dataclass(frozen=True)
class Delivery:
    """One send of one event to one channel."""

    event: str
    channel: str
    type: str
    ok: bool
    target: str
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Message:
    """A rendered message: its first line is the subject."""

    text: str
    subject: str
    template_error: str = ""


@dataclass
class Notice:
    """What ``relkit notify`` produced: the message and where it went."""

    kind: str
    version: str
    env: str
    message: Message
    deliveries: list[Delivery] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What the sender should know (an announcement of a window already over, …)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "version": self.version,
            "env": self.env,
            "subject": self.message.subject,
            "text": self.message.text,
            "deliveries": [d.to_dict() for d in self.deliveries],
            "warnings": list(self.warnings),
        }


# -- the one entry point ---------------------------------------------------------------


def notify(
    project: Project, event: str, context: dict[str, Any], run_id: str = "", env: str = ""
) -> list[Delivery]:
    """Send ``event`` to every subscribed channel and record each send; never raises."""
    return dispatch(project, event, context, run_id, env)[1]


def dispatch(
    project: Project, event: str, context: dict[str, Any], run_id: str, env: str
) -> tuple[Message | None, list[Delivery]]:
    try:
        return _notify(project, event, context, run_id, env)
    except Exception as exc:  # the last line of defence: notifying must not break a run
        error = _scrub(f"notification failed: {_describe(exc)}", ())
        return None, [Delivery(event, "relkit", "record", False, "", error)]


def _notify(
    project: Project, event: str, context: dict[str, Any], run_id: str, env: str
) -> tuple[Message | None, list[Delivery]]:
    configured = project.config.notifications.channels
    channels = {name: channel for name, channel in configured.items() if channel.wants(event)}
    if not channels and event not in ALWAYS_RECORDED:
        return None, []
    ctx = {"event": event, "app": project.config.app, "env": env, "run_id": run_id, **context}
    if isinstance(ctx.get("manifest"), Manifest):
        ctx.setdefault("version", ctx["manifest"].version)
    message = render_message(project.root, event, ctx)
    # what leaves for a channel holds no secret value (relkit.secrets)
    message = Message(redact_text(message.text), redact_text(message.subject), message.template_error)
    facts = redact(_facts(ctx))
    deliveries = [_send(name, channel, event, message, facts) for name, channel in channels.items()]
    if not channels:
        deliveries.append(Delivery(event, "record", "record", True, "ledger"))
    for delivery in deliveries:
        _record(project, delivery, message, facts, run_id, env)
    return message, deliveries


def _record(
    project: Project, delivery: Delivery, message: Message, facts: dict[str, Any], run_id: str, env: str
) -> None:
    data = {
        **facts,
        **delivery.to_dict(),
        "subject": message.subject,
        "text": message.text,
    }
    if message.template_error:
        data["template_error"] = message.template_error
    try:
        project.ledger.append("notify.sent", run_id=run_id, env=env, data=data)
    except Exception:  # a ledger failure shows up in the run itself; never here
        return


# -- messages --------------------------------------------------------------------------


def render_message(project_root: Path | None, event: str, context: dict[str, Any]) -> Message:
    """Render ``event``'s template; on a broken template fall back to a one-line message."""
    try:
        from relkit.templating import environment  # jinja2: loaded only when a notice is sent

        text = environment(project_root).get_template(TEMPLATES[event]).render(**context)
        error = ""
    except Exception as exc:
        text = _fallback(event, context)
        error = _short(f"{TEMPLATES.get(event, event)}: {exc}")
    text = "\n".join(line.rstrip() for line in text.strip().splitlines()) + "\n"
    subject = next((line.strip() for line in text.splitlines() if line.strip()), event)[:200]
    return Message(text, subject, error)


def _fallback(event: str, context: dict[str, Any]) -> str:
    parts = [f"[{context.get('app', 'relkit')}] {event}", context.get("version"), context.get("env")]
    return " ".join(str(p) for p in parts if p)


def announcement_context(manifest: Manifest) -> dict[str, Any]:
    """Variables of the announcement template (SOP 4.3.1): the window in the release's timezone."""
    schedule = manifest.schedule
    if schedule is None:
        raise BadInput("schedule: the announcement needs the release window (manifest field 'schedule')")
    start = schedule.aware(schedule.window_start).astimezone(schedule.zone)
    end = schedule.aware(schedule.window_end).astimezone(schedule.zone)
    return {
        "manifest": manifest,
        "window_start": start,
        "window_end": end,
        "downtime_minutes": schedule.expected_downtime_minutes,
    }


def _facts(ctx: dict[str, Any]) -> dict[str, Any]:
    """What the ledger and the webhook's structured fields say about the event (no message text)."""
    facts: dict[str, Any] = {"event": ctx["event"], "app": ctx["app"]}
    manifest = ctx.get("manifest")
    if isinstance(manifest, Manifest):
        facts |= {"app": manifest.app, "version": manifest.version, "sha256": manifest.artifact.sha256}
    for key, value in ctx.items():
        if key in ("manifest", "event", "app") or key in facts:
            continue
        if isinstance(value, datetime):
            facts[key] = value.isoformat()
        elif _jsonable(value):
            facts[key] = value
    return facts


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


# -- channels --------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: it would carry the bearer token to another address."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _send(
    name: str, channel: WebhookChannel | EmailChannel, event: str, message: Message, facts: dict[str, Any]
) -> Delivery:
    secrets: list[str] = []
    target = _target(channel)
    try:
        if isinstance(channel, WebhookChannel):
            _send_webhook(channel, message, facts, secrets)
        else:
            _send_email(channel, event, message, secrets)
    except Exception as exc:
        return Delivery(event, name, channel.type, False, target, _scrub(_describe(exc), secrets))
    return Delivery(event, name, channel.type, True, target)


def _secret(var: str, secrets: list[str]) -> str:
    value = os.environ.get(var, "")
    if not value:
        raise _NotSent(f"environment variable {var} is not set")
    secrets.append(value)
    register([value])  # whatever echoes it from now on (ledger, output) has it redacted
    return value


class _NotSent(Exception):
    """A channel could not be used (its secret is missing, or unfit to send); the message
    never holds a secret value."""


_UNSENDABLE = re.compile(r"[^\x21-\x7e]")
"""Whitespace, control and non-ASCII characters: a URL or a bearer token holding one cannot be
sent as it is (Python's error would quote the value: it is refused here, in other words)."""


def _webhook_url(channel: WebhookChannel, secrets: list[str]) -> str:
    """The channel's URL, refused (without showing it) unless it is a sendable http(s) URL."""
    url = channel.url or _secret(channel.url_env or "", secrets)
    where = f"the webhook URL in ${channel.url_env}" if channel.url_env else "the webhook URL"
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise _NotSent(f"{where} must be an http:// or https:// URL")
    if _UNSENDABLE.search(url):
        raise _NotSent(f"{where} holds whitespace, a control character or a non-ASCII character")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise _NotSent(f"{where} is not a valid URL") from None
    if not parts.hostname:
        raise _NotSent(f"{where} names no host")
    return url


def _bearer(var: str, secrets: list[str]) -> str:
    """``Bearer <token>``, refused (without showing it) when no HTTP header can carry it."""
    token = _secret(var, secrets)
    if _UNSENDABLE.search(token):
        raise _NotSent(
            f"the token in ${var} holds a character an HTTP header cannot carry as a bearer token "
            "(whitespace, a line break, a control character or a non-ASCII character)"
        )
    return f"Bearer {token}"


def _send_webhook(
    channel: WebhookChannel, message: Message, facts: dict[str, Any], secrets: list[str]
) -> None:
    url = _webhook_url(channel, secrets)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "relkit"}
    if channel.token_env:
        headers["Authorization"] = _bearer(channel.token_env, secrets)
    body = {"text": message.text, "event": facts["event"], "relkit": {"subject": message.subject, **facts}}
    request = urllib.request.Request(
        url, data=json.dumps(body, default=str).encode(), headers=headers, method="POST"
    )
    with _OPENER.open(request, timeout=channel.timeout) as response:
        response.read(65536)


def _send_email(channel: EmailChannel, event: str, message: Message, secrets: list[str]) -> None:
    password = _secret(channel.password_env, secrets) if channel.password_env else ""
    if channel.user and not channel.starttls and not channel.allow_plaintext_auth:
        raise _NotSent(
            "refusing to send the SMTP password without TLS: use STARTTLS ('starttls: true', the "
            "default) or, on a network you trust, set 'allow_plaintext_auth: true'"
        )
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.to)
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = make_msgid(domain=channel.sender.rpartition("@")[2])
    mail["X-Relkit-Event"] = event
    mail.set_content(message.text)
    with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout) as smtp:
        if channel.starttls:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise _NotSent(
                    f"the SMTP server {channel.host}:{channel.port} does not offer STARTTLS: nothing "
                    "sent (set 'starttls: false' to send without TLS)"
                )
            smtp.starttls(context=ssl.create_default_context())
        if channel.user:
            smtp.login(channel.user, password)
        smtp.send_message(mail)


def _target(channel: WebhookChannel | EmailChannel) -> str:
    """Where a channel sends, safe to print and record (no credentials, no secret URL)."""
    if isinstance(channel, EmailChannel):
        return f"smtp://{channel.host}:{channel.port} → {', '.join(channel.to)}"
    if channel.url_env:
        return f"${channel.url_env}"
    parts = urlsplit(channel.url or "")
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def _describe(exc: BaseException) -> str:
    """What went wrong, in words that never quote a header value or a URL: Python's own
    messages for those ("Invalid header value b'Bearer ...'", "URL can't contain control
    characters. '/path/secret'", "unknown url type: '...'", a codec error naming a character of
    a password) repeat the value, so they are replaced here."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot reach the webhook: {exc.reason}"
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error  # bytes from a server's reply, str when raised by smtplib itself
        text = error.decode(errors="replace") if isinstance(error, bytes) else error
        return f"SMTP {exc.smtp_code}: {text}"
    if isinstance(exc, http.client.InvalidURL):
        return "the URL cannot be sent (its text is not shown: it may hold a secret)"
    if isinstance(exc, UnicodeError):
        return f"a value to send cannot be encoded ({type(exc).__name__}; the value is not shown)"
    if isinstance(exc, ValueError) and ("header" in str(exc).lower() or "url" in str(exc).lower()):
        return "a header or the URL cannot be sent (its text is not shown: it may hold a secret)"
    return str(exc) or type(exc).__name__


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any secret value (the channel's own and every one registered), in any
    form the redactor knows: raw, quoted, escaped, trimmed, a line of it."""
    return _short(known().union(secrets).text(text))


def _short(text: str) -> str:
    return " ".join(text.split())[:MAX_ERROR]
