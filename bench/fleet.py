"""Fleet benchmark: relkit on 3 and on 50 loopback SSH hosts (tests/sshhosts.py).

Prints, for each fleet size, the medians of: a full deploy (1.0.0 → 2.0.0 after a first
deploy), a redeploy of the live release (the quick check), a rollback, a health run, and the
app's restart on every host with no tool at all (plain ssh: the hosts' own share of a rollback)
— and the 50/3 ratio of each; with ``--rollout``, the same again with the environment's
``rollout: {batches: [1, 25%, 100%]}`` (canary, a quarter, the rest; no pause, no analysis).
Where the time goes at 50 hosts: ``--profile`` also prints the slowest tasks of the 50-host
deploy (ansible's ``profile_tasks`` callback).

Run as root from the repo root: ``.venv/bin/python bench/fleet.py`` (``--sizes 3,50``,
``--rounds 3``). A 50-host round takes minutes on a 2-core machine.
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
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.deploy import RELKIT, fresh_deploy, reset_hosts
from bench.timing import timed
from tests.sshhosts import SshHost, SshHostPool
from tests.sshproject import APP_PORT, write_project

STEPS = ("deploy", "redeploy", "rollback", "health", "restart")
LABELS = {"restart": "restart*"}
FLOOR = (
    "cd /opt/webapp && python3 current/app.py stop --pidfile shared/app.pid >/dev/null && "
    "(nohup python3 current/app.py serve --bind {address} --port {port} --db shared/data/app.db "
    "--pidfile shared/app.pid >> shared/log/app.log 2>&1 &) && "
    "until curl -fs http://{address}:{port}/health >/dev/null; do sleep 0.02; done"
)
"""The app's restart alone, as a rollback does it on each host (stop, start, answering)."""
ROLLOUT = {"batches": [1, "25%", "100%"]}
"""The rollout ``--rollout`` measures: the batches alone (no pause, no analysis)."""


def with_rollout(project: Path, rollout: dict[str, object]) -> None:
    """Give the project's staging environment ``rollout``."""
    path = project / "relkit.yml"
    config = yaml.safe_load(path.read_text())
    config["environments"]["staging"]["rollout"] = rollout
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def restart_floor(pool: SshHostPool, forks: int) -> float:
    """Seconds to restart the example app on every host at once over warm multiplexed ssh, with
    no tool at all: the part of a rollback's time (and a deploy's) that is the hosts' own work."""

    def one(host: SshHost) -> None:
        control = [
            "-o",
            "ControlMaster=auto",
            "-o",
            "ControlPersist=60s",
            "-o",
            f"ControlPath={host.control_dir}/%h-%p-%r",
        ]
        argv = host.ssh_argv(FLOOR.format(address=host.address, port=APP_PORT))
        subprocess.run([argv[0], *control, *argv[1:]], check=True, capture_output=True, timeout=120)

    for host in pool.hosts:  # warm the connections, as relkit's come warm from the deploy
        one(host)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=forks) as threads:
        list(threads.map(one, pool.hosts))
    return time.perf_counter() - start


def one_size(
    work: Path, hosts: int, rounds: int, profile: bool, forks: int | None, rollout: bool = False
) -> dict[str, float]:
    """Medians of each step on a fleet of ``hosts`` (with :data:`ROLLOUT` when ``rollout``)."""
    figures: dict[str, list[float]] = {step: [] for step in STEPS}
    with SshHostPool(work / f"hosts-{hosts}", hosts) as pool:
        config = {"ansible": {"forks": forks}} if forks else None
        project = write_project(
            work / f"project-{hosts}{'-rollout' if rollout else ''}", {"staging": pool.hosts}, config=config
        )
        if rollout:
            with_rollout(project, ROLLOUT)
        env = dict(os.environ, RELKIT_PROJECT=str(project), RELKIT_USER="bench")
        if profile:
            env["ANSIBLE_CALLBACKS_ENABLED"] = "relkit_ledger,ansible.posix.profile_tasks"
        relkit = [str(RELKIT), "--output", "json"]
        releases = project / "releases"
        for _ in range(rounds):
            figures["deploy"].append(fresh_deploy(pool, project, relkit, env))
            figures["redeploy"].append(
                timed([*relkit, "deploy", str(releases / "2.0.0.yml"), "--env", "staging"], env)
            )
            figures["health"].append(timed([*relkit, "health", "--env", "staging"], env))
            figures["restart"].append(restart_floor(pool, forks or 20))
            figures["rollback"].append(
                timed([*relkit, "rollback", "--env", "staging", "--by", "bench", "--reason", "bench"], env)
            )
        reset_hosts(pool)
    return {step: statistics.median(values) for step, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,50", help="fleet sizes, comma-separated (default 3,50)")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions; medians are printed")
    parser.add_argument("--profile", action="store_true", help="time each task (profile_tasks)")
    parser.add_argument("--forks", type=int, help="relkit.yml's ansible.forks (default: relkit's, 20)")
    parser.add_argument("--rollout", action="store_true", help="also measure with rollout: [1, 25%%, 100%%]")
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    args = parser.parse_args()
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",")})
    except ValueError:
        parser.error(f"--sizes: expected numbers separated by commas, got {args.sizes!r}")
    if not sizes or sizes[0] < 1 or sizes[-1] > 200:
        parser.error("--sizes: each between 1 and 200")
    work = Path(tempfile.mkdtemp(prefix="relkit-fleet-"))
    modes = {"one step": False, **({"rollout [1, 25%, 100%]": True} if args.rollout else {})}
    try:
        results = {
            mode: {n: one_size(work, n, args.rounds, args.profile, args.forks, rollout) for n in sizes}
            for mode, rollout in modes.items()
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(
            json.dumps({mode: {str(n): r for n, r in got.items()} for mode, got in results.items()}, indent=2)
        )
        return
    small, large = sizes[0], sizes[-1]
    print(f"relkit fleet benchmark: medians of {args.rounds} rounds, ansible.forks {args.forks or 20}")
    for mode, got in results.items():
        print(f"  {mode}")
        print(f"  {'step':<10}" + "".join(f"{f'{n} hosts':>12}" for n in sizes) + f"{f'{large}/{small}':>10}")
        for step in STEPS:
            cells = "".join(f"{got[n][step]:>10.2f} s" for n in sizes)
            ratio = got[large][step] / got[small][step] if got[small][step] else float("nan")
            print(f"  {LABELS.get(step, step):<10}{cells}{ratio:>9.1f}x")
    print("  * the app's restart on every host at once over warm ssh, no relkit: the hosts' own work")


if __name__ == "__main__":
    main()
