"""Prepare the demo's copy of the example project under $RELKIT_DEMO_ROOT.

The copy differs from examples/project in what a live demo cannot have: the release
windows are moved to "now" (in the manifests' own timezone), artifact paths point at the
freshly built examples/webapp/dist, and throwaway SSH keys for the QA (sari, who also
operates), the PO (dewi, also the signers admin) and the operator (ops-demo) are generated with an
allowed_signers file naming the roles (signature namespaces) each may sign for; rina, who joins
QA during the demo, gets a key but is not in the file yet.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the demo's throwaway directory")
    root = parser.parse_args().root.resolve()
    project = root / "project"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(HERE / "project", project, ignore=shutil.ignore_patterns(".relkit", "*.approvals"))
    config = yaml.safe_load((project / "relkit.yml").read_text())
    for env in config["environments"].values():
        env["inventory"] = str((HERE / "project" / env["inventory"]).resolve())
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
