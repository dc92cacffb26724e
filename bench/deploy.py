"""Deploy benchmark on 3 real SSH test hosts (loopback sshd, see tests/sshhosts.py).

Prints: full deploy time, redeploy of the same release (the quick check over SSH, and with
``--full-play`` the whole play), rollback time (over the host cards, and with ``--full-play``
the rollback play), the ratio of ``relkit deploy`` to the
same playbook run by plain ``ansible-playbook`` in the same run, and what signing the deploy
with the deployer's SSH key (``--key``) adds.
The artifacts are the bundled example app's (about 10 KiB); ``--artifact-mb N`` pads each with
N MiB of incompressible files (64 KiB each) to time a heavier app.
Run as root from the repo root: ``make bench`` or ``.venv/bin/python bench/deploy.py``.
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
from tests.sshhosts import SshHostPool
from tests.sshproject import pad_artifacts, write_project

REPO = Path(__file__).resolve().parent.parent
RELKIT = Path(sys.executable).parent / "relkit"


def reset_hosts(pool: SshHostPool) -> None:
    """Stop the apps and empty every host's deploy path (a fresh first deploy)."""
    for host in pool.hosts:
        host.ssh(
            "[ -f /opt/webapp/shared/app.pid ] && kill $(cat /opt/webapp/shared/app.pid); rm -rf /opt/webapp"
        )


def fresh_deploy(pool: SshHostPool, project: Path, relkit: list[str], env: dict[str, str]) -> float:
    """From empty hosts and an empty state: prepare, deploy 1.0.0, then time deploying 2.0.0."""
    reset_hosts(pool)
    shutil.rmtree(project / "state", ignore_errors=True)
    releases = project / "releases"
    timed([*relkit, "prepare", "--env", "staging"], env)
    timed([*relkit, "deploy", str(releases / "1.0.0.yml"), "--env", "staging"], env)
    return timed([*relkit, "deploy", str(releases / "2.0.0.yml"), "--env", "staging"], env)


def raw_ansible(project: Path, env: dict[str, str], version: str) -> float:
    """The deploy playbook under plain ansible-playbook, with the extravars relkit passed."""
    runs = sorted((project / "state" / "runs").glob("*-deploy"))
    extravars = runs[-1] / "env" / "extravars"
    argv = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(project / "staging.yml"),
        "-e",
        f"@{extravars}",
        "deploy.yml",
    ]
    raw_env = dict(env, ANSIBLE_CONFIG=str(REPO / "playbooks" / "ansible.cfg"))
    return timed(argv, raw_env, cwd=REPO / "playbooks")


def signing_key(work: Path, project: Path) -> Path:
    """A throwaway ed25519 key allowed to sign deploys (relkit-ops) as principal ``bench``."""
    key = work / "bench-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    (project / "allowed_signers").write_text(f'bench namespaces="relkit-ops" {public}\n')
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="repetitions; medians are printed")
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    parser.add_argument(
        "--artifact-mb",
        type=int,
        default=0,
        metavar="N",
        help="pad each artifact with N MiB of incompressible files (a heavier app); default 0: the example's",
    )
    args = parser.parse_args()
    if not 0 <= args.artifact_mb <= 2000:
        parser.error("--artifact-mb: expected 0 to 2000 (MiB)")
    work = Path(tempfile.mkdtemp(prefix="relkit-bench-"))
    artifact_bytes = 0
    figures: dict[str, list[float]] = {
        "deploy": [],
        "redeploy": [],
        "redeploy_full_play": [],
        "rollback": [],
        "rollback_full_play": [],
        "relkit": [],
        "raw": [],
        "signed": [],
    }
    try:
        with SshHostPool(work / "hosts", args.hosts) as pool:
            project = write_project(work / "project", {"staging": pool.hosts})
            artifact_bytes = pad_artifacts(project, args.artifact_mb) if args.artifact_mb else 0
            if not artifact_bytes:
                artifact_bytes = (project / "dist" / "webapp-2.0.0.tar.gz").stat().st_size
            key = signing_key(work, project)
            env = dict(os.environ, RELKIT_PROJECT=str(project), RELKIT_USER="bench")
            relkit = [str(RELKIT), "--output", "json"]
            releases = project / "releases"
            for _ in range(args.rounds):
                figures["deploy"].append(fresh_deploy(pool, project, relkit, env))
                figures["redeploy"].append(
                    timed([*relkit, "deploy", str(releases / "2.0.0.yml"), "--env", "staging"], env)
                )
                figures["redeploy_full_play"].append(
                    timed(
                        [*relkit, "deploy", str(releases / "2.0.0.yml"), "--env", "staging", "--full-play"],
                        env,
                    )
                )
                figures["rollback"].append(
                    timed(
                        [
                            *relkit,
                            "rollback",
                            "--env",
                            "staging",
                            "--by",
                            "bench",
                            "--reason",
                            "bench",
                        ],
                        env,
                    )
                )
                # relkit vs raw ansible-playbook on the same work: switch 1.0.0 → 2.0.0 again
                # (release already installed), alternating which goes first.
                figures["relkit"].append(
                    timed([*relkit, "deploy", str(releases / "2.0.0.yml"), "--env", "staging"], env)
                )
                back = [*relkit, "rollback", "--env", "staging", "--by", "bench", "--reason", "bench"]
                figures["rollback_full_play"].append(timed([*back, "--full-play"], env))
                figures["raw"].append(raw_ansible(project, env, "2.0.0"))
                timed(
                    [*relkit, "rollback", "--env", "staging", "--by", "bench", "--reason", "bench"],
                    env,
                )
                # the same switch deploy, signed with the deployer's key (sign, find the principal,
                # verify, record the act)
                switch = [*relkit, "deploy", str(releases / "2.0.0.yml"), "--env", "staging"]
                figures["signed"].append(timed([*switch, "--key", str(key)], env))
                timed(
                    [*relkit, "rollback", "--env", "staging", "--by", "bench", "--reason", "bench"],
                    env,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in figures.items()}
    result = {
        "hosts": args.hosts,
        "rounds": args.rounds,
        "artifact_mb": round(artifact_bytes / 2**20, 2),
        "full_deploy_s": round(med["deploy"], 2),
        "redeploy_s": round(med["redeploy"], 2),
        "redeploy_ratio": round(med["redeploy"] / med["deploy"], 2),
        "redeploy_full_play_s": round(med["redeploy_full_play"], 2),
        "rollback_s": round(med["rollback"], 2),
        "rollback_full_play_s": round(med["rollback_full_play"], 2),
        "relkit_switch_deploy_s": round(med["relkit"], 2),
        "raw_ansible_switch_deploy_s": round(med["raw"], 2),
        "relkit_over_raw": round(med["relkit"] / med["raw"], 2),
        "signed_switch_deploy_s": round(med["signed"], 2),
        "signing_adds_percent": round(100 * (med["signed"] / med["relkit"] - 1), 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"relkit deploy benchmark: {args.hosts} SSH hosts, median of {args.rounds} rounds, "
        f"artifact {result['artifact_mb']} MiB compressed"
    )
    print(
        f"  full deploy (upload+unpack+switch+restart+smoke) {result['full_deploy_s']:6.2f} s   target < 7 s"
    )
    print(
        f"  redeploy of the same release (quick check)       {result['redeploy_s']:6.2f} s   "
        f"= {result['redeploy_ratio']:.2f}x first deploy, target <= 0.30x"
    )
    print(
        f"  redeploy with --full-play (the whole play)       {result['redeploy_full_play_s']:6.2f} s   "
        "(no target: what the quick check saves)"
    )
    print(
        f"  rollback (switch back + restart + smoke)         {result['rollback_s']:6.2f} s   target <= 1.35 s"
    )
    print(
        f"  rollback with --full-play (the rollback play)    {result['rollback_full_play_s']:6.2f} s   "
        "(no target: what the host cards save)"
    )
    print(
        f"  relkit deploy vs plain ansible-playbook          {result['relkit_switch_deploy_s']:6.2f} s vs "
        f"{result['raw_ansible_switch_deploy_s']:.2f} s = {result['relkit_over_raw']:.2f}   target <= 1.10"
    )
    print(
        f"  the same deploy signed with --key                {result['signed_switch_deploy_s']:6.2f} s   "
        f"= {result['signing_adds_percent']:+.1f} %, target < 5 %"
    )


if __name__ == "__main__":
    main()
