"""Health-check benchmark on 3 real SSH test hosts (loopback sshd, see tests/sshhosts.py).

Deploys the example app once with the relkit CLI (which keeps the host cards), then times
``relkit health --env staging --prom-file ...`` end to end (process start to exit), N times
each, the series interleaved round by round (A/B in the same window):

- warm: the direct check over the host cards (no play), right after another run, the SSH
  control masters still up (ControlPersist),
- play: the same with ``--full-play`` (the health play), warm,
- ansible: a bare ``ansible all -m command -a true`` round trip to the same hosts (warm), the
  floor a play-based health run cannot beat,
- cold: the direct check with the control masters closed first, as for a scheduled run every
  few minutes,
- raw: the health play under plain ``ansible-playbook`` (warm), for relkit's own overhead.

Run as root from the repo root: ``.venv/bin/python bench/health.py [--rounds 7] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timing import timed
from tests.sshhosts import SshHost, SshHostPool
from tests.sshproject import write_project

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET_S = 1.5


def close_masters(hosts: list[SshHost]) -> None:
    """Close Ansible's multiplexed SSH connections, so the next run connects afresh."""
    for host in hosts:
        subprocess.run(
            ["ssh", "-O", "exit", "-o", f"ControlPath={host.control_path}", f"root@{host.address}"],
            capture_output=True,
            check=False,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7, help="runs per series; medians are printed")
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="relkit-bench-health-"))
    figures: dict[str, list[float]] = {"warm": [], "play": [], "ansible": [], "cold": [], "raw": []}
    try:
        with SshHostPool(work / "hosts", args.hosts) as pool:
            project = write_project(work / "project", {"staging": pool.hosts})
            env = dict(os.environ, RELKIT_PROJECT=str(project), RELKIT_USER="bench")
            relkit = [str(BIN / "relkit"), "--output", "json"]
            health = [*relkit, "health", "--env", "staging", "--prom-file", str(work / "relkit.prom")]
            timed([*relkit, "deploy", str(project / "releases" / "1.0.0.yml"), "--env", "staging"], env)
            timed([*health, "--full-play"], env)  # first run: log baselines
            extravars = sorted((project / "state" / "runs").glob("*-health"))[-1] / "env" / "extravars"
            raw = [str(BIN / "ansible-playbook"), "-i", str(project / "staging.yml"), "-e", f"@{extravars}"]
            raw_env = dict(env, ANSIBLE_CONFIG=str(REPO / "playbooks" / "ansible.cfg"), RELKIT_CLI="1")
            bare = [
                str(BIN / "ansible"),
                "all",
                "-i",
                str(project / "staging.yml"),
                "-m",
                "command",
                "-a",
                "true",
            ]
            timed(health, env)
            for _ in range(args.rounds):
                figures["warm"].append(timed(health, env))
                figures["play"].append(timed([*health, "--full-play"], env))
                figures["ansible"].append(timed(bare, raw_env, cwd=REPO / "playbooks"))
                figures["raw"].append(timed([*raw, "health.yml"], raw_env, cwd=REPO / "playbooks"))
            for _ in range(args.rounds):
                close_masters(pool.hosts)
                figures["cold"].append(timed(health, env))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: round(statistics.median(v), 2) for k, v in figures.items()}
    result = {
        "hosts": args.hosts,
        "rounds": args.rounds,
        "health_warm_s": med["warm"],
        "health_cold_s": med["cold"],
        "health_full_play_s": med["play"],
        "bare_ansible_command_s": med["ansible"],
        "raw_ansible_playbook_s": med["raw"],
        "direct_over_bare_ansible": round(med["warm"] / med["ansible"], 2),
        "full_play_over_bare_ansible": round(med["play"] / med["ansible"], 2),
        "full_play_over_raw": round(med["play"] / med["raw"], 2),
        "target_s": TARGET_S,
        "all_s": {k: [round(x, 3) for x in v] for k, v in figures.items()},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"relkit health benchmark: {args.hosts} SSH hosts, median of {args.rounds} runs each")
    print(f"  relkit health, direct, SSH warm            {med['warm']:5.2f} s   target < {TARGET_S} s")
    print(f"  relkit health, direct, SSH cold            {med['cold']:5.2f} s   (a run every few minutes)")
    print(f"  relkit health --full-play (warm)           {med['play']:5.2f} s")
    print(f"  bare ansible all -m command -a true        {med['ansible']:5.2f} s")
    print(
        f"  direct/bare ansible = {result['direct_over_bare_ansible']:.2f}   "
        f"full play/bare ansible = {result['full_play_over_bare_ansible']:.2f}"
    )
    print(
        f"  health play, plain ansible-playbook (warm) {med['raw']:5.2f} s   "
        f"full play/raw = {result['full_play_over_raw']:.2f}"
    )


if __name__ == "__main__":
    main()
