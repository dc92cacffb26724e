"""Hardening: each test carries out the attack for real against relkit as shipped.

1. the debug log of an unexpected error: fixed name in /tmp, 0644, followed a planted symlink;
2. the Markdown report printed user text raw (HTML, links, fake headings);
3. a manifest that is /dev/zero (MemoryError) or a FIFO (hang);
4. a stray file among a manifest's approval records made every gate check an unexpected error;
5. ``relkit report -o /dev/full`` (as root) replaced the device with a file;
6. the quick check ran the ssh command line of a host-card file anyone could have written.
"""

from __future__ import annotations

import json
import os
import re
import resource
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

from relkit import api, live_check
from relkit.project import Project
from relkit.report import SECTIONS
from relkit.report_labels import LABELS
from relkit.report_render import render_report
from relkit.results import PlayResult, TaskOutcome
from relkit.status import LiveRelease
from relkit.usecases.reports import release_report
from tests.support.clirunner import Cli, make_cli, payload
from tests.support.factories import SHA_A, manifest_data

RELKIT = Path(sys.executable).with_name("relkit")
"""The console script of the venv the tests run in (a subprocess: a hang fails on its timeout)."""


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return make_cli(capsys)


def _limited() -> None:
    """A subprocess's memory cap: relkit before the fix read /dev/zero until MemoryError."""
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def relkit(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real ``relkit`` console script; a hang raises TimeoutExpired (the test fails)."""
    return subprocess.run(
        [str(RELKIT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=_limited,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "240"},
    )


# -- 1. the debug log ---------------------------------------------------------------------


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A file an attacker wants overwritten, and symlinks to it at every place a log could go:
    the old fixed name in the temporary directory, the project's state directory and the
    per-user state directory ($XDG_STATE_HOME/relkit)."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    tmp = tmp_path / "tmp"
    xdg = tmp_path / "xdg"
    state = tmp_path / "state"  # RELKIT_STATE_DIR (tests/support/fixtures.py)
    for folder in (tmp, xdg / "relkit", state):
        folder.mkdir(parents=True)
        (folder / "relkit-debug.log").symlink_to(victim)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("XDG_STATE_HOME", str(xdg))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return {"victim": victim, "tmp": tmp, "xdg": xdg / "relkit", "state": state}


def _explode(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom: not a RelkitError")


def _logged_at(err: str) -> Path:
    found = re.search(r"traceback in (\S+?)\)", err)
    assert found, err
    return Path(found.group(1))


def _check_private_log(log: Path) -> None:
    info = log.lstat()
    assert stat.S_ISREG(info.st_mode), f"{log} is not a regular file"
    assert stat.S_IMODE(info.st_mode) == 0o600, oct(info.st_mode)
    assert info.st_uid == os.geteuid()
    assert "RuntimeError: boom: not a RelkitError" in log.read_text()


def test_debug_log_of_a_project_command_never_follows_a_symlink(
    cli: Cli, example_project: Path, planted: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "status", _explode)  # `relkit status` loads the project, then fails
    done = cli("-C", example_project, "status")
    assert done.code == 1, done.err
    assert "unexpected error" in done.err and "boom" in done.err
    assert planted["victim"].read_text() == "precious\n", "the planted symlink was followed"
    assert stat.S_IMODE(planted["victim"].stat().st_mode) == 0o644
    log = _logged_at(done.err)
    assert log.parent == planted["state"], "the project's state directory is known: the log goes there"
    _check_private_log(log)
    assert (planted["tmp"] / "relkit-debug.log").is_symlink()  # nothing written to the old place


def test_debug_log_without_a_project_goes_to_the_users_state_dir(
    cli: Cli, planted: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(api, "validate_release", _explode)  # `relkit validate` here loads no project
    done = cli("validate", tmp_path / "m.yml")
    assert done.code == 1, done.err
    assert planted["victim"].read_text() == "precious\n", "the planted symlink was followed"
    log = _logged_at(done.err)
    assert log.parent == planted["xdg"]
    _check_private_log(log)


# -- 2. the report: user text is escaped for its format ------------------------------------

SCRIPT = "<script>alert(1)</script>"
JS_LINK = "[click me](javascript:alert(1))"
FAKE_HEADING = "Harmless\n## Approvals (verified)\n\n| forged | row |"
RETRO = "went well\n## Approvals (verified)\n[WEB-1]: javascript:alert(1)\n<img src=x onerror=alert(1)>\n---"


@pytest.fixture
def hostile_project(example_project: Path) -> Iterator[tuple[Project, Path]]:
    changes = [
        {"id": "WEB-1", "type": "feature", "title": SCRIPT},
        {"id": "WEB-2", "type": "fix", "title": JS_LINK},
        {"id": "WEB-3", "type": "feature", "title": FAKE_HEADING},
        {"id": "WEB-4", "type": "docs", "title": FAKE_HEADING + " <javascript:alert(1)>"},
        {"id": "WEB-5", "type": "docs", "title": "`code` *bold* _it_ ~~x~~ & &lt;b&gt; \\ | end"},
    ]
    data = manifest_data(
        changes=changes,
        rollback_plan="relkit rollback\n## Approvals (verified)\n" + JS_LINK,
        requirements={"os": [{"distribution": "Debian" + SCRIPT, "versions": ["12"]}]},
        tests={"functional": {"result": "passed", "link": "javascript:alert(1)"}},
    )
    path = example_project / "releases" / "hostile.yml"
    path.write_text(yaml.safe_dump(data))
    with Project.load(example_project) as project:
        project.ledger.append(
            "release.closed",
            env="staging",
            data={
                "version": data["version"],
                "sha256": SHA_A,
                "by": "mallory\n## Approvals (verified)",
                "retro": RETRO,
            },
        )
        yield project, path


def _markdown_renderer() -> MarkdownIt:
    """A permissive renderer: raw HTML passes, every link is accepted (as many renderers do)."""
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


class _Html(HTMLParser):
    """The tags, link targets and headings of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.headings: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [v or "" for k, v in attrs if k in ("href", "src")]
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._in = tag
            self.headings.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.headings[-1] += data


def _assert_safe_html(page: str, what: str) -> None:
    seen = _Html()
    seen.feed(page)
    assert "script" not in seen.tags and "img" not in seen.tags, f"{what}: injected HTML tags {seen.tags}"
    assert not [h for h in seen.hrefs if not h.startswith(("#", "https://", "http://"))], seen.hrefs
    h2 = [h for h in seen.headings if "Approvals" in h]
    assert len(h2) == 1 and "(verified)" not in h2[0], f"{what}: injected heading: {seen.headings}"
    # the title, the report's sections and the contents: no heading from user text
    assert len([h for h in seen.headings if h]) == 1 + len(SECTIONS) + 1 + _subheadings(page), seen.headings


def _subheadings(page: str) -> int:
    """The h5 headings of the HTML report's own (lists and tables inside its sections)."""
    return page.count("<h5>")


def _expected_md_headings() -> list[str]:
    """The Markdown report's headings after its title: the outcome, the contents, seed 003's
    sections (as deep as their numbers) and the appendices."""
    words = LABELS["en"]
    out = []
    for s in SECTIONS:
        number = f"Appendix {s.number} " if s.appendix else f"{s.number} " if s.number else ""
        out.append(f"{'#' * (s.level + 1)} {number}{words['sections'][s.key]}")
        if s.key == "outcome":
            out.append(f"## {words['contents']}")
    return out


def test_markdown_report_escapes_user_text(hostile_project: tuple[Project, Path]) -> None:
    project, path = hostile_project
    text = release_report(project, path, "md").text
    assert not re.search(r"(?<!\\)<", text), "a raw < (an HTML tag or an autolink)"
    assert not re.search(r"(?<!\\)&(lt|gt|amp|quot|#\d+);", text), "an HTML entity in Markdown"
    assert not re.search(r"(?<!\\)\]\(javascript:", text), "a Markdown link to javascript:"
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [headings[0], *_expected_md_headings()]
    assert not [line for line in text.splitlines() if re.match(r"\s*(> )?\[.*\]:", line)], "a link definition"
    # rendered by a permissive CommonMark renderer: no tag, no javascript: link, no extra heading
    page = _markdown_renderer().render(text)
    _assert_safe_html(page, "Markdown")
    # the text is still all there, shown as typed
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "[click me](javascript:alert(1))" in page
    assert "<code>code</code>" not in page and "<em>bold" not in page and "<em>it" not in page
    assert "<li>[WEB-5] `code` *bold* _it_ ~~x~~ &amp; &amp;lt;b&amp;gt; \\ | end (docs)</li>" in page


def test_html_report_escapes_user_text(hostile_project: tuple[Project, Path]) -> None:
    project, path = hostile_project
    page = release_report(project, path, "html").text
    _assert_safe_html(page, "HTML")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # autoescape is on for the HTML report, also for a project's own override of it
    override = project.root / "templates"
    override.mkdir()
    (override / "report.html.j2").write_text("<p>{{ r.features[0].title }}</p>\n")
    written = release_report(project, path, "html")
    assert (
        render_report(written.report, "html", "en", project.root)
        == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    )


# -- 3. manifests, config and retro notes that are not regular files ----------------------


def test_validate_dev_zero_is_bad_input() -> None:
    done = relkit("validate", "/dev/zero")
    assert done.returncode == 2, done.stderr
    assert "/dev/zero" in done.stderr and "not a regular file" in done.stderr, done.stderr


def test_a_fifo_as_manifest_config_or_retro_note_is_refused_not_waited_on(
    example_project: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "manifest.yml"
    os.mkfifo(fifo)
    done = relkit("validate", fifo, timeout=30)
    assert done.returncode == 2, done.stderr
    assert f"{fifo}: cannot read release manifest: not a regular file (a FIFO)" in done.stderr, done.stderr

    config_dir = tmp_path / "project"
    config_dir.mkdir()
    os.mkfifo(config_dir / "relkit.yml")
    done = relkit("-C", config_dir, "status", timeout=30)
    assert done.returncode == 2 and f"{config_dir / 'relkit.yml'}: cannot read project config" in done.stderr

    manifest = example_project / "releases" / "1.0.0.yml"
    done = relkit(
        "-C", example_project, "--as", "dewi", "close", manifest, "--env", "staging", "--retro", fifo
    )
    assert done.returncode == 2 and f"{fifo}: cannot read retrospective note" in done.stderr, done.stderr


def test_a_manifest_linked_to_a_device_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "m.yml"
    link.symlink_to("/dev/zero")
    done = relkit("validate", link)
    assert done.returncode == 2 and f"{link}: cannot read release manifest" in done.stderr, done.stderr


# -- 4. stray files among the approval records --------------------------------------------

STRAYS = [
    ("[1]", "[1]"),
    ("[1].json", "[1]"),
    ("notes.json", '"just a string"'),
    ("list.json", '{"payload": [1], "signature": 7}'),
    ("number.json", "42"),
    ("fifo.json", None),
    ("zero.json", "/dev/zero"),
    ("folder.json", "/"),
]


@pytest.mark.parametrize(("name", "content"), STRAYS, ids=[n for n, _ in STRAYS])
def test_a_stray_approval_record_is_never_an_unexpected_error(
    example_project: Path, name: str, content: str | None
) -> None:
    manifest = example_project / "releases" / "1.0.0.yml"
    folder = manifest.with_name("1.0.0.approvals")
    folder.mkdir()
    stray = folder / name
    if content is None:
        os.mkfifo(stray)
    elif content.startswith("/"):
        stray.symlink_to(content)
    else:
        stray.write_text(content)
    done = relkit("-C", example_project, "-o", "json", "gates", manifest, "--env", "production", timeout=60)
    assert done.returncode in (0, 3), done.stderr
    gates = {g["name"]: g for g in payload(done.stdout)["gates"]}
    if name.endswith(".json"):  # a record that is not relkit's is named as a gate reason
        assert name in gates["approvals"]["reason"], gates["approvals"]


# -- 5. report -o: never replace what is not a regular file --------------------------------


@pytest.fixture
def dev_full() -> Iterator[Path]:
    """/dev/full; restored should relkit replace it (the tests run as root)."""
    full = Path("/dev/full")
    assert stat.S_ISCHR(full.stat().st_mode), "/dev/full is not a character device before the test"
    yield full
    info = full.lstat()
    if not stat.S_ISCHR(info.st_mode):
        full.unlink()
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
        full.chmod(0o666)
        pytest.fail("relkit replaced /dev/full with a file (restored)")


def test_report_refuses_to_replace_a_device(cli: Cli, example_project: Path, dev_full: Path) -> None:
    manifest = example_project / "releases" / "1.0.0.yml"
    done = cli("-C", example_project, "report", manifest, "-o", dev_full)
    assert done.code == 2, done.err
    # refused for its name (a report file ends in .md or .html); through a link named *.md the
    # device itself is refused (test_report_refuses_other_non_regular_targets)
    assert "--out: /dev/full: relkit writes Markdown (.md) or HTML (.html)" in done.err, done.err
    info = dev_full.lstat()
    assert stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(1, 7)


def test_health_prom_file_refuses_to_replace_a_device(
    cli: Cli, example_project: Path, dev_full: Path
) -> None:
    done = cli("-C", example_project, "health", "--env", "staging", "--always", "--prom-file", dev_full)
    assert done.code == 2, done.err
    assert "/dev/full" in done.err and "not a regular file" in done.err, done.err
    info = dev_full.lstat()
    assert stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(1, 7)


@pytest.mark.parametrize("kind", ["fifo", "socket", "symlink to /dev/full"])
def test_report_refuses_other_non_regular_targets(
    cli: Cli, example_project: Path, tmp_path: Path, dev_full: Path, kind: str
) -> None:
    target = tmp_path / "out.md"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "socket":
        import socket

        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(target))
        sock.close()
    else:
        target.symlink_to(dev_full)
    before = target.lstat()
    done = cli("-C", example_project, "report", example_project / "releases" / "1.0.0.yml", "-o", target)
    assert done.code == 2 and str(target) in done.err and "not a regular file" in done.err, done.err
    after = target.lstat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)


def test_report_still_replaces_a_regular_file(cli: Cli, example_project: Path, tmp_path: Path) -> None:
    target = tmp_path / "r.md"
    target.write_text("old\n")
    done = cli("-C", example_project, "report", example_project / "releases" / "1.0.0.yml", "-o", target)
    assert done.code == 0, done.err
    assert target.read_text().startswith("# Release and Deployment Report")


# -- 6. the quick check trusts only host cards relkit itself kept --------------------------

SHA = "a" * 64


def _layout(root: Path) -> Path:
    release = root / "releases" / "2.0.0"
    release.mkdir(parents=True)
    (release / ".relkit-release.json").write_text(json.dumps({"version": "2.0.0", "sha256": SHA}))
    (root / ".relkit").mkdir()
    (root / ".relkit" / "lock").write_text("")
    (root / "current").symlink_to(release)
    return root


def _probe(cards: dict[str, dict[str, Any]]) -> PlayResult:
    outcomes = [
        TaskOutcome.of(h, "Probe release 2.0.0", "relkit_release", "ok", False, "", {"relkit": {"card": c}})
        for h, c in cards.items()
    ]
    return PlayResult("successful", 0, outcomes, Path())


SMOKE = {"checks": [{"name": "ok", "command": "test -d current"}]}
LIVE = {"stage1": LiveRelease("staging", "stage1", "2.0.0", SHA, "", "ops", "deploy", "r1")}


@pytest.fixture
def kept(example_project: Path, tmp_path: Path) -> Iterator[tuple[Project, Path]]:
    """The example project with host cards relkit kept after a deploy (a local-connection host)."""
    root = _layout(tmp_path / "stage1")
    card = {"connection": "local", "python": sys.executable, "deploy_path": str(root), "smoke": SMOKE}
    with Project.load(example_project) as project:
        assert live_check.save(project, "staging", _probe({"stage1": card}), "2.0.0", SHA) == ""
        verdict = live_check.verify(project, "staging", "2.0.0", SHA, LIVE)
        assert verdict.result is not None, verdict.reason  # the cards as relkit kept them are used
        yield project, root


TAMPERING = ["world-writable", "group-writable", "edited", "other owner", "symlink", "key readable by others"]


@pytest.mark.parametrize("how", TAMPERING)
def test_tampered_host_cards_are_never_run(kept: tuple[Project, Path], tmp_path: Path, how: str) -> None:
    project, root = kept
    pwned = tmp_path / "PWNED"
    evil = tmp_path / "evil-ssh"
    evil.write_text(f"#!/bin/sh\ntouch {pwned}\n")
    evil.chmod(0o755)
    path = live_check.cards_path(project, "staging")
    record = json.loads(path.read_text())
    record["hosts"]["stage1"] = {
        "connection": "ssh",
        "argv": [str(evil)],  # the "ssh" command line: touch PWNED
        "address": "stage1",
        "python": "python3",
        "deploy_path": str(root),
        "smoke": {},
    }
    forged = json.dumps(record, indent=1, sort_keys=True)
    if how == "symlink":
        elsewhere = tmp_path / "forged.json"
        elsewhere.write_text(forged)
        path.unlink()
        path.symlink_to(elsewhere)
    else:
        path.write_text(forged)
    if how == "world-writable":
        path.chmod(0o666)
    elif how == "group-writable":
        path.chmod(0o620)
    elif how == "other owner":
        os.chown(path, 65534, 65534)
    elif how == "key readable by others":
        for key in path.parent.iterdir():
            if not key.name.startswith("staging"):  # the key of the cards' HMAC, whatever its name
                key.chmod(0o644)
    verdict = live_check.verify(project, "staging", "2.0.0", SHA, LIVE)
    assert not pwned.exists(), "the quick check ran a command line it should not have trusted"
    assert verdict.result is None
    assert str(path) in verdict.reason or str(path.parent) in verdict.reason, verdict.reason
    assert "full play" in verdict.reason, verdict.reason


def test_cards_kept_again_after_a_refusal_are_trusted(kept: tuple[Project, Path]) -> None:
    project, root = kept
    path = live_check.cards_path(project, "staging")
    path.chmod(0o666)
    assert live_check.verify(project, "staging", "2.0.0", SHA, LIVE).result is None
    card = {"connection": "local", "python": sys.executable, "deploy_path": str(root), "smoke": SMOKE}
    assert live_check.save(project, "staging", _probe({"stage1": card}), "2.0.0", SHA) == ""
    assert stat.S_IMODE(path.stat().st_mode) & 0o022 == 0
    assert live_check.verify(project, "staging", "2.0.0", SHA, LIVE).result is not None


def test_a_real_redeploy_still_uses_the_quick_check(local_staging: Project) -> None:
    manifest = local_staging.root / "releases" / "1.0.0.yml"
    first = api.deploy(local_staging, manifest, "staging", by="ops")
    assert first.details["quick_check"]["host_cards"] == "kept", first.details
    path = live_check.cards_path(local_staging, "staging")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(live_check.key_path(local_staging).stat().st_mode) == 0o600
    again = api.deploy(local_staging, manifest, "staging", by="ops")
    assert again.details["quick_check"]["used"] is True, again.details
    path.chmod(0o664)
    third = api.deploy(local_staging, manifest, "staging", by="ops")
    assert third.details["quick_check"]["used"] is False
    assert "writable by its group or others" in third.details["quick_check"]["why_not"]
    assert third.details["quick_check"]["host_cards"] == "kept"
