"""examples/ci/: the GitLab CI pipeline and the GitHub Actions workflow parse, do what
examples/ci/README.md says (merge requests checked, main to staging, tags to production behind
a person), and every relkit command in them is one relkit's own command line accepts; the
script both call acts on the JSON envelope and the exit code of a real run."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.core import TyperGroup

from relkit.cli import hoist_global_options
from relkit.cli.app import resolve
from tests.support.fixtures import EXAMPLES, PYTHON

CI = EXAMPLES / "ci"
STEP = "relkit-step.sh"


def load(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((CI / name).read_text())
    return data


def gitlab_jobs() -> dict[str, dict[str, Any]]:
    """The jobs of the GitLab pipeline (the top-level keys that have a script)."""
    return {k: v for k, v in load("gitlab-ci.yml").items() if isinstance(v, dict) and "script" in v}


def shell_lines() -> Iterator[tuple[str, str]]:
    """(file, line) of every shell line the two files run."""
    for name, job in gitlab_jobs().items():
        default = load("gitlab-ci.yml")["default"]
        for key in ("before_script", "script"):
            for block in job.get(key) or (default.get(key, []) if key == "before_script" else []):
                for line in str(block).splitlines():
                    yield f"gitlab-ci.yml {name}", line
    for name, job in load("github-actions.yml")["jobs"].items():
        for step in job["steps"]:
            for line in str(step.get("run", "")).splitlines():
                yield f"github-actions.yml {name}", line


def relkit_commands() -> list[tuple[str, list[str]]]:
    """Each relkit invocation: the words after ``relkit`` or ``relkit-step.sh`` (run as a command)
    up to the end of the shell command; a word with a variable (``releases/${CI_COMMIT_TAG#v}.yml``)
    becomes ``x``."""
    found = []
    for where, line in shell_lines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for i, word in enumerate(words):
            at_start = i == 0 or words[i - 1] in {"|", "||", "&&", ";", "(", "do", "then", "else"}
            if at_start and (word == "relkit" or word.endswith("/" + STEP)):
                args = []
                for arg in words[i + 1 :]:
                    if arg in {"|", "||", "&&", ";", ">", ">>", "<", ")", "&"}:
                        break
                    args.append("x" if "$" in arg else arg)
                found.append((f"{where}: {line.strip()}", args))
    return found


COMMANDS = relkit_commands()


def test_the_examples_run_relkit_where_the_readme_says() -> None:
    names = {args[0] for _, args in COMMANDS if args}
    assert {"validate", "gates", "deploy", "health"} <= names
    assert len(COMMANDS) >= 16, COMMANDS


@pytest.mark.parametrize(("where", "args"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_every_relkit_command_in_the_examples_is_valid(where: str, args: list[str]) -> None:
    """Parsed by relkit's own command line (options, values, arguments), without running it."""
    argv = hoist_global_options(["--output", "json", "--yes", *args])  # what relkit-step.sh adds
    path, command, given = resolve(argv)
    assert command is not None and not isinstance(command, TyperGroup), f"{where}: names no command"
    assert given.get("output") == "json"
    rest = argv[argv.index(path[-1]) + 1 :]
    command.make_context(" ".join(path), rest)  # raises click's UsageError on anything wrong


def test_gitlab_pipeline_stages_and_the_manual_production_job() -> None:
    jobs = gitlab_jobs()
    on_mr = [n for n, j in jobs.items() if "merge_request_event" in json.dumps(j["rules"])]
    assert sorted(on_mr) == ["gates", "gates-production", "validate"]
    assert jobs["gates-production"]["allow_failure"] == {"exit_codes": [3]}  # shown, not required
    [staging] = jobs["deploy-staging"]["rules"]
    assert staging["if"] == "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
    [production] = jobs["deploy-production"]["rules"]
    assert "CI_COMMIT_TAG" in production["if"] and production["when"] == "manual"
    assert jobs["deploy-production"]["variables"]["RELKIT_KEY"] == "$RELKIT_SIGNING_KEY"
    assert "RELKIT_LEDGER_URL" in (CI / "gitlab-ci.yml").read_text()


def test_github_workflow_triggers_and_the_protected_production_job() -> None:
    workflow = load("github-actions.yml")
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"pull_request", "push"} and triggers["push"]["tags"] == ["v*.*.*"]
    assert workflow["env"]["RELKIT_LEDGER_URL"] == "${{ secrets.RELKIT_LEDGER_URL }}"  # every job
    jobs = workflow["jobs"]
    assert jobs["check"]["if"] == "github.event_name == 'pull_request'"
    assert "refs/heads/main" in jobs["staging"]["if"]
    assert jobs["production"]["environment"] == "production"  # its required reviewers approve
    assert "secrets." not in "".join(str(s.get("run", "")) for j in jobs.values() for s in j["steps"])


def test_the_step_script_says_what_blocked_and_exits_with_relkits_code(
    example_project: Path, tmp_path: Path
) -> None:
    """A real blocked gate through relkit-step.sh: exit 3, the blocking gates named on stderr,
    the envelope kept as relkit-gates.json."""
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    bin_dir = Path(PYTHON).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RELKIT_LOCK_TRIES": "1"}
    manifest = example_project / "releases" / "2.0.0.yml"
    done = subprocess.run(
        ["sh", str(CI / STEP), "gates", str(manifest), "--env", "production", "-C", str(example_project)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("blocked: deploy of 2.0.0 to production blocked by")
    assert "  promoted_from: " in done.stderr and " -> " in done.stderr
    kept = json.loads((tmp_path / "relkit-gates.json").read_text())
    assert (kept["command"], kept["exit_code"], kept["error"]["kind"]) == ("gates", 3, "GateBlocked")
    assert subprocess.run(["sh", "-n", str(CI / STEP)], timeout=30).returncode == 0
