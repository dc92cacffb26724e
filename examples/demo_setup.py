"""Prepare a self-contained copy of the example project under ROOT (the demo's, or the README tour's).

The copy differs from examples/project in what a live demo cannot have: the release
windows are moved to "now" (in the manifests' own timezone), artifact paths point at the
freshly built examples/webapp/dist, and throwaway SSH keys for the QA (sari, who also
operates), the PO (dewi, also the signers admin) and the operator (ops-demo) are generated with an
allowed_signers file naming the roles (signature namespaces) each may sign for; rina, who joins
QA during the demo, gets a key but is not in the file yet.

Everything the copy needs is written into it, so any relkit command run in it (or with
``-C ROOT/project``) finds the same record from any shell, without environment variables:
``state_dir`` is ROOT/state, and the inventories are copied into ROOT/project/inventory/ with
each host's deploy path fixed to ROOT/<env>/<host> (the repository's inventories read it from
$RELKIT_DEMO_ROOT instead). Prints the project directory.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

HERE = Path(__file__).resolve().parent
SIGNERS = {"sari": ("qa", "ops"), "dewi": ("po", "admin"), "ops-demo": ("ops",), "rina": ()}


def own_inventory(source: Path, hosts_dir: Path) -> str:
    """``source`` (a local inventory) with every host's deploy path fixed to ``hosts_dir/<host>``."""
    inventory = yaml.safe_load(source.read_text())
    for group in inventory.values():
        group.setdefault("vars", {})["relkit_deploy_path"] = f"{hosts_dir}/{{{{ inventory_hostname }}}}"
    header = f"# The demo's copy of {source.name}: deploy paths under {hosts_dir}.\n"
    return header + yaml.safe_dump(inventory, sort_keys=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the demo's throwaway directory")
    root = parser.parse_args().root.resolve()
    project = root / "project"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(HERE / "project", project, ignore=shutil.ignore_patterns(".relkit", "*.approvals"))
    config = yaml.safe_load((project / "relkit.yml").read_text())
    config["state_dir"] = str(root / "state")
    (project / "inventory").mkdir()
    for name, env in config["environments"].items():
        source = (HERE / "project" / env["inventory"]).resolve()
        env["inventory"] = f"inventory/{name}.yml"
        (project / env["inventory"]).write_text(own_inventory(source, root / name))
    (project / "relkit.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    for manifest_path in sorted((project / "releases").glob("*.yml")):
        manifest = yaml.safe_load(manifest_path.read_text())
        zone = ZoneInfo(manifest["schedule"]["timezone"])
        now = datetime.now(zone).replace(second=0, microsecond=0, tzinfo=None)
        manifest["schedule"]["window_start"] = (now - timedelta(minutes=10)).isoformat()
        manifest["schedule"]["window_end"] = (now + timedelta(hours=2)).isoformat()
        artifact = (HERE / "project" / "releases" / manifest["artifact"]["path"]).resolve()
        manifest["artifact"]["path"] = str(artifact)
        manifest_path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    keys = root / "keys"
    keys.mkdir(exist_ok=True)
    lines = []
    for name, roles in SIGNERS.items():
        key = keys / name
        if not key.exists():
            keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)]
            subprocess.run(keygen, check=True)
        public = key.with_suffix(".pub").read_text().split()
        namespaces = ",".join(f"relkit-{role}" for role in roles)
        if roles:
            lines.append(f'{name} namespaces="{namespaces}" {public[0]} {public[1]}')
    (project / "allowed_signers").write_text("\n".join(lines) + "\n")
    print(project)


if __name__ == "__main__":
    main()
