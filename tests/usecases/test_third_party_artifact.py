"""A third-party artifact (published by someone else: no build info inside) reaches production
when the environment accepts signed provenance — the QA and PO approvals of its manifest, which
sign its sha256, provenance, source and code freeze — and is refused, naming why and what to do,
where production requires build info. The real plays, local connection, the relkit CLI in-process.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from relkit import api
from relkit.project import Project
from tests.support.clirunner import Cli, make_cli
from tests.support.fixtures import SshKeys, stop_app
from tests.support.notifysinks import free_port

SOURCE = "https://downloads.example.org/webapp/webapp-2.0.0.tar.gz"


def third_party_tarball(built: Path, out: Path) -> str:
    """Repack the example's 2.0.0 as an outside publisher would: under their own names and times,
    and with their release.json, which names no commit (no relkit build info). Returns its sha256."""
    with tarfile.open(built) as source, tarfile.open(out, "w:gz") as target:
        for member in source.getmembers():
            member.mtime, member.uname, member.gname = 1_700_000_000, "upstream", "upstream"
            data = source.extractfile(member) if member.isfile() else None
            if member.name.lstrip("./") == "release.json":
                meta = json.load(data)  # type: ignore[arg-type]
                del meta["commit"]
                raw = json.dumps(meta).encode()
                member.size, data = len(raw), io.BytesIO(raw)
            target.addfile(member, data)
    return hashlib.sha256(out.read_bytes()).hexdigest()


@pytest.fixture
def project_dir(
    example_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ssh_keys: SshKeys
) -> Iterator[Path]:
    """The example project on this machine (staging and production, free ports, under tmp_path),
    its 2.0.0 manifest naming a third-party tarball, its window open now."""
    hosts = tmp_path / "hosts"
    monkeypatch.setenv("RELKIT_DEMO_ROOT", str(hosts))
    for env in ("staging", "production"):
        inventory = tmp_path / "inventory" / "local" / f"{env}.yml"
        data = yaml.safe_load(inventory.read_text())
        for host in data[env]["hosts"].values():
            host["app_port"] = free_port()
        inventory.write_text(yaml.safe_dump(data))
    ssh_keys.allowed_signers(example_project / "allowed_signers")
    tarball = tmp_path / "upstream" / "webapp-2.0.0.tar.gz"
    tarball.parent.mkdir()
    sha = third_party_tarball(tmp_path / "examples" / "webapp" / "dist" / "webapp-2.0.0.tar.gz", tarball)
    path = example_project / "releases" / "2.0.0.yml"
    manifest = yaml.safe_load(path.read_text())
    manifest["artifact"] = {
        "path": str(tarball),
        "sha256": sha,
        "provenance": "third_party",
        "source": SOURCE,
    }
    now = datetime.now(ZoneInfo(manifest["schedule"]["timezone"])).replace(microsecond=0, tzinfo=None)
    manifest["schedule"]["window_start"] = (now - timedelta(minutes=10)).isoformat()
    manifest["schedule"]["window_end"] = (now + timedelta(hours=2)).isoformat()
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    yield example_project
    for deploy_path in hosts.glob("*/*/"):
        stop_app(deploy_path)


def _provenance(project_dir: Path, proof: str | None) -> None:
    """Set (or, with None, remove) environments.production.provenance in relkit.yml."""
    path = project_dir / "relkit.yml"
    config = yaml.safe_load(path.read_text())
    config["environments"]["production"].pop("provenance", None)
    if proof:
        config["environments"]["production"]["provenance"] = proof
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _ready_for_production(cli: Cli, project_dir: Path, keys: SshKeys) -> Path:
    manifest = project_dir / "releases" / "2.0.0.yml"
    steps = [
        ("deploy", manifest, "--env", "staging"),
        ("--as", "sari", "approve", manifest, "--role", "qa", "--key", keys.key("sari")),
        ("--as", "dewi", "approve", manifest, "--role", "po", "--key", keys.key("dewi")),
        ("prepare", "--env", "production", "--manifest", manifest),
        ("notify", manifest, "--kind", "announcement", "--env", "production"),
        ("override", manifest, "--env", "production", "--gate", "notice_sent", "--key", keys.key("dewi"),
         "--reason", "same-day release"),
    ]  # fmt: skip
    for step in steps:
        result = cli("-C", project_dir, *step)
        assert result.code == 0, f"{step}: {result.out}{result.err}"
    return manifest


def test_a_third_party_artifact_reaches_production_on_signed_provenance_only(
    project_dir: Path, tmp_path: Path, ssh_keys: SshKeys, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = make_cli(capsys)
    manifest = _ready_for_production(cli, project_dir, ssh_keys)
    deploy = ("-C", project_dir, "deploy", manifest, "--env", "production", "--key", ssh_keys.key("ops-demo"))

    refused = cli(*deploy)  # the default policy: production requires build info
    assert refused.code == 3, refused.out + refused.err
    row = next(line for line in refused.out.splitlines() if "artifact_checksum" in line)
    assert "artifact.provenance is third_party (no build info), but production requires build info" in row
    assert "signed or either" in refused.out
    production = tmp_path / "hosts" / "production"
    assert sorted(p.name for p in production.iterdir()) == ["prod1", "prod2"], "prepared"
    assert not list(production.glob("*/current")) and not list(production.glob("*/releases/*")), (
        "nothing reached a production host"
    )

    _provenance(project_dir, "signed")
    done = cli(*deploy)
    assert done.code == 0, done.out + done.err
    with Project.load(project_dir) as project:
        status = api.status(project).live["production"]
        assert {h: r.version for h, r in status.items()} == {"prod1": "2.0.0", "prod2": "2.0.0"}
        passed = [
            g
            for e in project.ledger.entries(kind="gate.evaluated", env="production")
            if e.data["passed"]
            for g in e.data["gates"]
            if g["name"] == "artifact_checksum"
        ][-1]
    assert passed["passed"] and not passed["overridden_by"]
    assert (
        f"third-party artifact from {SOURCE} attested by the signed approvals of QA (sari) and PO (dewi)"
        in (passed["reason"])
    )
