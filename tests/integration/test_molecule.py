"""The molecule scenarios (molecule/): ``molecule test`` of each passes over real SSH test hosts.

Each scenario starts its own hosts (molecule/shared/create.yml runs ``tests.sshhosts up``),
applies relkit's roles, checks idempotence, verifies and stops the hosts again; here we also
check that every step of its test sequence ran and that nothing of its hosts is left.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sshhosts import port_open

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(path.parent.name for path in (REPO / "molecule").glob("*/molecule.yml"))
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\")
TIMEOUT = 300


def molecule_test(scenario: str, ephemeral: Path) -> subprocess.CompletedProcess[str]:
    """``molecule test -s scenario`` from the repository root with the project's virtualenv.

    ``ephemeral`` is the scenario's working directory (inventory, ansible.cfg, artifacts): a
    fresh one per test, so concurrent runs (another checkout, another engineer) never share it.
    """
    bindir = Path(sys.executable).parent  # molecule runs ansible-playbook and pytest from PATH
    env = dict(
        os.environ,
        PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        MOLECULE_EPHEMERAL_DIRECTORY=str(ephemeral),
        NO_COLOR="1",
        ANSIBLE_NOCOLOR="1",
        PY_COLORS="0",
    )
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [
            str(bindir / "molecule"),
            "-c",
            str(REPO / "molecule" / "config.yml"),
            "test",
            "--scenario-name",
            scenario,
        ],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(f"{cmdline.parent.name}: {args}")
    return found


def test_scenarios_found() -> None:
    assert {"default", "rollback", "health"} <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, tmp_path: Path) -> None:
    ephemeral = tmp_path / "molecule"
    started = time.monotonic()
    result = molecule_test(scenario, ephemeral)
    output = ANSI.sub("", result.stdout)
    tail = "\n".join(output.splitlines()[-150:])
    assert result.returncode == 0, f"molecule test -s {scenario} exited {result.returncode}:\n{tail}"
    print(f"molecule test -s {scenario}: {time.monotonic() - started:.1f} s")

    # every step of the sequence ran (molecule exits 0 on e.g. a verifier without tests)
    sequence = re.search(r"scenario test matrix: (.+)", output)
    assert sequence, tail
    for action in {a.strip() for a in sequence.group(1).split(",")}:
        assert re.search(rf"{scenario} \S+ {action}: Executed: Successful", output), (
            f"{action} did not run successfully:\n{tail}"
        )
    if "Executing Testinfra tests" in output:
        assert re.search(r"=+ \d+ passed in ", output), tail
        assert not re.search(r"\d+ (failed|skipped|error)", output), tail

    # destroy stopped the hosts: nothing listens on their addresses (sshd, the app) and
    # nothing runs from their work directory, which is gone
    addresses = set(re.findall(r"web\d+: ssh root@(127\.0\.0\.\d+)", output))
    assert len(addresses) >= 2, tail
    assert [a for a in sorted(addresses) if port_open(a, 22) or port_open(a, 18080)] == []
    digest = hashlib.sha1(str(ephemeral).encode()).hexdigest()[:8]  # molecule/shared/vars/sshhosts.yml
    workdir = Path(f"/tmp/relkit-molecule-{scenario}-{digest}")
    assert f"{workdir}" in output, "the scenario's hosts were not where this test looks"
    assert not workdir.exists()
    assert processes_mentioning(str(workdir)) == []
