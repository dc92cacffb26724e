"""A new user's first steps run as written: the README's five-minute tour, and the commands
``make demo`` prints at its end.

The tour's shell block is taken from README.md line by line and run, in order, by ``sh`` from a
checkout-like directory (``examples/`` and ``inventory/`` of this repository, ``.venv`` the
virtual environment running the tests) with nothing of relkit on PATH and no RELKIT_* variable
set: what a new user's shell has after ``make demo``. A line's expected exit code is 0 unless its
comment starts with ``exit N``. The tour uses the demo's fixed ports on 127.0.0.1, so it runs in a
network namespace of its own (``unshare --net``): other tests and a running demo cannot collide
with it, and the commands stay exactly as printed. The demo (examples/demo.sh, what ``make demo``
runs) runs the same way; the commands it prints are then run from another directory with no
RELKIT_* variable, as a user would paste them into a new shell.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.project import Project
from tests.support.fixtures import stop_app

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HEADING = "## A five-minute tour"
_EXIT = re.compile(r"^\s*exit (\d+)\b")


def tour_commands(readme: str) -> list[tuple[str, int]]:
    """The tour's commands with the exit code each is expected to end with."""
    section = readme.split(HEADING, 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        command, _, comment = line.partition("  #")
        found = _EXIT.match(comment)
        commands.append((command.strip(), int(found.group(1)) if found else 0))
    return commands


def tour_script(commands: list[tuple[str, int]]) -> str:
    """One sh script running each command in the same shell, stopping at the first surprise."""
    lines = []
    for number, (command, expected) in enumerate(commands, 1):
        quoted = command.replace("'", "'\\''")
        lines += [
            f"echo '>>> [{number}] {quoted}'",
            "{ " + command,
            f"}}; rc=$?; [ $rc -eq {expected} ] || {{ echo 'tour line {number}: expected exit {expected}, "
            f"got '$rc': {quoted}' >&2; exit 100; }}",
        ]
    return "\n".join(lines) + "\n"


def test_the_tour_block_is_what_this_test_reads() -> None:
    commands = tour_commands((REPO / "README.md").read_text())
    assert commands[0] == (". .venv/bin/activate", 0), "the tour starts by putting relkit on PATH"
    relkit = [c for c, _ in commands if c.startswith("relkit ")]
    assert len(relkit) >= 20
    assert ("relkit gates releases/2.0.0.yml --env production", 3) in commands
    assert not any(" -C examples" in c for c in relkit), "every command runs in the tour's copy"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """What a clone has after ``make demo``: examples/, inventory/local/ and .venv/."""
    if sys.prefix == sys.base_prefix or not (Path(sys.prefix) / "bin" / "activate").is_file():
        pytest.skip("the tour activates .venv: run the tests from a virtual environment (make test)")
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed to give the tour a network namespace")
    root = tmp_path / "checkout"
    skip = shutil.ignore_patterns(".relkit", "dist", "__pycache__", "*.pyc", "*.approvals")
    shutil.copytree(REPO / "examples", root / "examples", ignore=skip)
    shutil.copytree(REPO / "inventory" / "local", root / "inventory" / "local")
    (root / ".venv").symlink_to(Path(sys.prefix))
    return root


def _user_env(tmp_path: Path) -> dict[str, str]:
    """A new shell: no relkit on PATH, no RELKIT_* variable."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    if os.environ.get("PYTHONPATH"):  # a worktree's code over the installed one (tests only)
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def _in_own_network(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a new network namespace with its loopback up (the example's fixed ports)."""
    return subprocess.run(
        ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _stop_apps(root: Path) -> None:
    for deploy_path in root.glob("*/*/"):
        stop_app(deploy_path)


def test_the_commands_the_demo_prints_run_as_printed(checkout: Path, tmp_path: Path) -> None:
    demo_root = tmp_path / "demo"
    demo_root.mkdir()
    env = dict(_user_env(tmp_path), RELKIT_DEMO_ROOT=str(demo_root))
    try:
        proc = _in_own_network(["./examples/demo.sh"], checkout, env)
    finally:
        _stop_apps(demo_root)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    tail = proc.stdout.split("Look around", 1)[1]
    printed = [line.strip() for line in tail.splitlines() if " -C " in line]
    assert len(printed) == 4, tail
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outputs = {}
    for line in printed:
        ran = subprocess.run(
            line,
            shell=True,
            cwd=elsewhere,
            env=_user_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, f"{line}\n{ran.stdout}{ran.stderr}"
        outputs[line.split(" -C ", 1)[1].split(" ", 1)[1]] = ran.stdout
    status = outputs["status"]
    assert "nothing deployed" not in status
    assert re.search(r"production\s.*prod1\s.*2\.0\.0", status), status
    assert outputs["ledger show --kind 'host.*'"].count("host.switched") >= 6
    assert outputs["ledger verify"].startswith("ledger ok")
    assert "at-rollback-2.0.0" in outputs["snapshots --env production"]


def test_the_readme_tour_runs_as_written(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = tour_commands((REPO / "README.md").read_text())
    script = tmp_path / "tour.sh"
    script.write_text(tour_script(commands))
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = dict(_user_env(tmp_path), TMPDIR=str(temp))
    try:
        proc = _in_own_network(["sh", str(script)], checkout, env)
    finally:
        for root in temp.glob("relkit-tour.*"):
            _stop_apps(root)
    output = proc.stdout[-6000:] + proc.stderr[-6000:]
    assert proc.returncode == 0, output
    assert proc.stdout.count(">>> [") == len(commands), output

    [root] = temp.glob("relkit-tour.*")
    assert not list(root.glob("*/*/shared/app.pid")), "the tour's last line stopped its apps"
    project_dir = root / "project"
    config = yaml.safe_load((project_dir / "relkit.yml").read_text())
    assert config["state_dir"] == str(root / "state"), "the copy names its own state directory"
    monkeypatch.delenv("RELKIT_STATE_DIR", raising=False)
    with Project.load(project_dir) as project:
        live = api.status(project).live
        assert {h: r.version for h, r in live["production"].items()} == {"prod1": "2.0.0", "prod2": "2.0.0"}
        assert {h: r.version for h, r in live["staging"].items()} == {"stage1": "2.0.0"}
        assert [e.data["status"] for e in project.ledger.entries(kind="health.result")] == ["ok"]
        assert project.ledger.verify().ok
    assert (project_dir / "laporan.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert "relkit_health_status" in (project_dir / "relkit.prom").read_text()
