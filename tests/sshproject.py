"""A relkit project wired to SSH test hosts: relkit.yml, inventories, manifests, artifacts.

Shared by integration tests and bench/: ``write_project(dir, {"staging": [h1], ...})``.
Every host runs the example web app bound to its own loopback address on APP_PORT.
``signing_keys(dir)`` gives the project signers (acts on production are signed: docs/procedure.md).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import yaml

from tests.sshhosts import SshHost

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "project"
APP_PORT = 18080
VERSIONS = ("1.0.0", "2.0.0", "3.0.0")


def build_artifacts(out: Path) -> dict[str, Path]:
    """Build the example app's artifacts into ``out``; return version → path."""
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "build_artifacts.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return {v: out / f"webapp-{v}.tar.gz" for v in VERSIONS}


SIGNERS: dict[str, tuple[str, ...]] = {"sari": ("qa",), "dewi": ("po",), "ops": ("ops",)}
"""Principal → the roles it signs for: QA approves, the PO approves, overrides and closes, ops
deploys, rolls back and unlocks (namespaces relkit-qa, relkit-po, relkit-ops)."""


def signing_keys(root: Path, signers: dict[str, tuple[str, ...]] | None = None) -> dict[str, Path]:
    """An ed25519 key per principal under ``root/keys`` and the project's ``root/allowed_signers``
    (relkit.yml's approvals.allowed_signers) giving each the namespaces of its roles; returns
    principal → private key file."""
    folder = root / "keys"
    folder.mkdir(parents=True, exist_ok=True)
    keys, lines = {}, []
    for name, roles in (signers or SIGNERS).items():
        key = folder / name
        if not key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
                check=True,
                capture_output=True,
            )
        kind, blob = (folder / f"{name}.pub").read_text().split()[:2]
        namespaces = ",".join(f"relkit-{role}" for role in roles)
        lines.append(f'{name} namespaces="{namespaces}" {kind} {blob}')
        keys[name] = key
    (root / "allowed_signers").write_text("\n".join(lines) + "\n")
    return keys


def write_project(
    root: Path,
    envs: dict[str, list[SshHost]],
    promote: dict[str, str] | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    """Write relkit.yml, one inventory per environment and the example manifests into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    artifacts = build_artifacts(root / "dist")
    base = yaml.safe_load((EXAMPLE / "relkit.yml").read_text())
    base["deploy_path"] = "/opt/webapp"
    base["state_dir"] = "state"
    base["environments"] = {}
    for env, hosts in envs.items():
        inventory = {
            env: {
                "hosts": {h.name: h.ansible_vars() for h in hosts},
                "vars": {"app_bind": "{{ ansible_host }}", "app_port": APP_PORT},
            }
        }
        (root / f"{env}.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
        base["environments"][env] = {"inventory": f"{env}.yml"}
        if promote and env in promote:
            base["environments"][env]["promote_from"] = promote[env]
    base.update(config or {})
    (root / "relkit.yml").write_text(yaml.safe_dump(base, sort_keys=False))
    releases = root / "releases"
    releases.mkdir(exist_ok=True)
    for version in VERSIONS:
        manifest = yaml.safe_load((EXAMPLE / "releases" / f"{version}.yml").read_text())
        manifest["artifact"]["path"] = str(artifacts[version])
        (releases / f"{version}.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return root


def add_release(
    root: Path, version: str, base: str = "2.0.0", features: tuple[str, ...] = ("authors",)
) -> Path:
    """Build a healthy ``version`` of the example app on top of ``base`` (its code and schema), the
    way examples/build_artifacts.py builds the others, into ``root/dist``; write its manifest
    ``root/releases/<version>.yml`` (``base``'s, renamed) and return it."""
    work = root / "build" / version
    skip = shutil.ignore_patterns("dist", "__pycache__", "*.pyc")
    shutil.copytree(REPO / "examples" / "webapp", work / "webapp", ignore=skip, dirs_exist_ok=True)
    shutil.copy(REPO / "examples" / "build_artifacts.py", work / "build_artifacts.py")
    layer = work / "webapp" / "versions" / version
    layer.mkdir(parents=True, exist_ok=True)
    (layer / "VERSION").write_text(version + "\n")
    commit = (version.replace(".", "") * 40)[:40]
    meta = {"version": version, "base": base, "features": list(features), "healthy": True, "commit": commit}
    (layer / "release.json").write_text(json.dumps(meta))
    built = subprocess.run(
        [sys.executable, str(work / "build_artifacts.py"), "--out", str(work / "dist")],
        check=True,
        capture_output=True,
        text=True,
    )
    sha = next(
        line.split()[0] for line in built.stdout.splitlines() if line.endswith(f"webapp-{version}.tar.gz")
    )
    manifest = yaml.safe_load((root / "releases" / f"{base}.yml").read_text())
    manifest["version"] = version
    manifest["artifact"] = {"path": str(work / "dist" / f"webapp-{version}.tar.gz"), "sha256": sha}
    manifest["code_freeze"]["commit"] = commit
    path = root / "releases" / f"{version}.yml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


PAD_FILE = 64 * 1024


def pad_artifacts(project: Path, mb: int, versions: tuple[str, ...] | None = None) -> int:
    """Rewrite each release's artifact (of ``versions``: default all) with ``mb`` MiB of
    incompressible files under padding/ (a different filler per release, as real releases
    differ) and its manifest's sha256; returns the padded size in bytes of the last artifact."""
    size = 0
    for manifest_path in sorted((project / "releases").glob("*.yml")):
        manifest = yaml.safe_load(manifest_path.read_text())
        if versions is not None and manifest["version"] not in versions:
            continue
        source = Path(manifest["artifact"]["path"])
        padded = source.with_name(source.name.replace(".tar.gz", f"-pad{mb}.tar.gz"))
        filler = random.Random(manifest["version"])
        with tarfile.open(source) as original, tarfile.open(padded, "w:gz", compresslevel=1) as out:
            for member in original.getmembers():
                out.addfile(member, original.extractfile(member) if member.isfile() else None)
            for index in range(mb * 1024 * 1024 // PAD_FILE):
                info = tarfile.TarInfo(f"padding/{index // 256:03d}/filler-{index:05d}.bin")
                info.size, info.mode = PAD_FILE, 0o644
                out.addfile(info, io.BytesIO(filler.randbytes(PAD_FILE)))
        sha256 = hashlib.sha256(padded.read_bytes()).hexdigest()
        manifest["artifact"] = {"path": str(padded), "sha256": sha256}
        manifest_path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        size = padded.stat().st_size
    return size
