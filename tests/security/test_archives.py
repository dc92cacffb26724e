"""An artifact is unpacked on a host only when every member stays inside its release directory.

Each attack is carried out for real: a crafted tarball is installed by the real host module
(``playbooks/library/relkit_release.py``, its ``install()`` called directly) on a host where
1.0.0 is live, with a ``flag`` file planted outside the deploy path. Every attack must be
refused with a message naming the member, leave the flag and the whole host tree exactly as
they were (no file written outside or inside, no ``.partial`` directory, 1.0.0 still live),
on this Python's tarfile and on a host Python whose tarfile has no extraction filter (or one
without the CVE-2025-4517 fix, as this repository's 3.11 venv may well be).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from relkit import api
from relkit.config import ProjectConfig
from relkit.project import Project
from relkit.usecases.playing import PROJECT_VARS
from tests.support.factories import config_data
from tests.support.hostmodules import library
from tests.support.hostmodules import release_params as params

release = library("relkit_release")

REPO = Path(__file__).resolve().parents[2]
FLAG = b"the host's own file, outside the deploy path\n"
PWNED = b"written by the artifact\n"

Member = tuple[tarfile.TarInfo, bytes | None]


# -- crafting tarballs ---------------------------------------------------------------------


def reg(name: str, data: bytes = b"x\n", mode: int = 0o644) -> Member:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def dir_(name: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info, None


def sym(name: str, target: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, None


def hard(name: str, target: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, target
    return info, None


def special(name: str, kind: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


def build(path: Path, members: list[Member]) -> str:
    """Write the members, in order, to a .tar.gz (PAX: names of any length); its sha256."""
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- a host Python without tarfile's extraction filter -------------------------------------


def without_extraction_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this process's tarfile look like a host Python's that predates extraction filters
    (< 3.11.4): no ``tarfile.data_filter``, ``extractall``/``extract`` without ``filter``."""
    for name in ("data_filter", "tar_filter", "fully_trusted_filter"):
        monkeypatch.delattr(tarfile, name, raising=False)
    extractall, extract = tarfile.TarFile.extractall, tarfile.TarFile.extract

    def old_extractall(self, path=".", members=None, *, numeric_owner=False):
        return extractall(self, path, members, numeric_owner=numeric_owner, filter="fully_trusted")

    def old_extract(self, member, path="", set_attrs=True, *, numeric_owner=False):
        return extract(self, member, path, set_attrs, numeric_owner=numeric_owner, filter="fully_trusted")

    monkeypatch.setattr(tarfile.TarFile, "extractall", old_extractall)
    monkeypatch.setattr(tarfile.TarFile, "extract", old_extract)


@pytest.fixture(params=["this-python", "no-filter"])
def host_python(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "no-filter":
        without_extraction_filter(monkeypatch)
    return str(request.param)


def test_the_no_filter_host_is_simulated(monkeypatch: pytest.MonkeyPatch) -> None:
    without_extraction_filter(monkeypatch)
    assert not hasattr(tarfile, "data_filter")
    assert "filter" not in tarfile.TarFile.extractall.__code__.co_varnames


# -- the host ------------------------------------------------------------------------------


def tree(top: Path) -> dict[str, object]:
    """Every path under ``top`` (symlinks not followed) with its content or link target."""
    found: dict[str, object] = {}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(folder, name)
            rel = str(path.relative_to(top))
            try:
                if path.is_symlink():
                    found[rel] = ("symlink", str(path.readlink()))
                elif path.is_dir():
                    found[rel] = "dir"
                else:
                    found[rel] = (path.read_bytes(), path.stat().st_nlink)
            except OSError as exc:  # e.g. a path longer than PATH_MAX, which an attack may leave
                found[rel] = ("unreadable", exc.errno)
    return found


@dataclass
class Host:
    """A deploy path (``tmp/app``) with 1.0.0 live, and a flag file outside it (``tmp/flag``)."""

    top: Path
    root: Path
    flag: Path

    def staging(self, version: str) -> Path:
        """Where install() unpacks ``version`` (releases/.partial-<version>-<pid>)."""
        return self.root / "releases" / f".partial-{version}-{os.getpid()}"

    def install(self, members: list[Member], version: str = "2.0.0", **extra: object) -> tuple[bool, dict]:
        upload = self.root / ".relkit" / "incoming" / f"{version}.artifact"
        sha = build(upload, members)
        return release.install(params(self.root, version=version, sha256=sha, upload=str(upload), **extra))

    def refuse(self, members: list[Member], **extra: object) -> str:
        """Install ``members`` as 2.0.0; assert it is refused and changed nothing; the message."""
        before = tree(self.top)
        with pytest.raises(release.ReleaseError) as refused:
            self.install(members, **extra)
        assert self.flag.read_bytes() == FLAG, "the file outside the deploy path was overwritten"
        after = tree(self.top)
        assert after == before, f"the host changed: {sorted(set(after) ^ set(before))}"
        assert children(self.root / "releases") == ["1.0.0"], "a partial release is left"
        assert link(self.root / "current") == "releases/1.0.0"
        assert not children(self.root / ".relkit" / "incoming"), "the refused artifact is left"
        return str(refused.value)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    root = tmp_path / "app"
    flag = tmp_path / "flag"
    flag.write_bytes(FLAG)
    found = Host(tmp_path, root, flag)
    release.make_layout(str(root))
    found.install([reg("app.py", b"VERSION = '1.0.0'\n")], version="1.0.0")
    release.activate(params(root, version="1.0.0"), "deploy")
    return found


def children(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def link(path: Path) -> str:
    return str(path.readlink())


def refused_member(message: str, name: str) -> None:
    assert repr(name) in message, message


# -- the attacks ---------------------------------------------------------------------------


def hardlink_from_the_archive_root() -> tuple[list[Member], str]:
    """relkit resolved a hardlink's target from the member's folder (x/y/z/../../../flag =
    flag: inside); tar resolves it from the archive root (<dest>/../../../flag = tmp/flag).
    The regular file of the same name then writes through the hardlink into the flag."""
    return [dir_("x/y/z"), hard("x/y/z/h", "../../../flag"), reg("x/y/z/h", PWNED)], "x/y/z/h"


def two_step_symlink_chain() -> tuple[list[Member], str]:
    """a/b -> .. (the release root) and a/b/c -> .. (made THROUGH a/b: <dest>/c -> ..), each
    inside on its own; a/b/c/f then lands in releases/, outside the release."""
    return [sym("a/b", ".."), sym("a/b/c", ".."), reg("a/b/c/f", PWNED)], "a/b/c"


def symlink_chain_to_the_flag() -> tuple[list[Member], str]:
    """The same chain, two steps longer: a/b/c/d/e is tmp/, a/b/c/d/e/flag the flag."""
    members = [sym("a/b", ".."), sym("a/b/c", ".."), sym("a/b/c/d", ".."), sym("a/b/c/d/e", "..")]
    return [*members, reg("a/b/c/d/e/flag", PWNED)], "a/b/c"


def symlink_through_an_inner_symlink() -> tuple[list[Member], str]:
    """e -> p/q/r/s/../../../flag is p/flag written out, but p/q/r/s is a symlink to the release
    root, so the '..' after it climb out of it: e is tmp/flag; the file e is written through it."""
    members = [dir_("p/q/r"), sym("p/q/r/s", "../../.."), sym("e", "p/q/r/s/../../../flag"), reg("e", PWNED)]
    return members, "e"


def outward_symlink_made_before_its_step() -> tuple[list[Member], str]:
    """The same symlink e made while p/q/r/s does not exist yet (a check at that moment sees
    p/flag), then p/q/r/s: the release ships a symlink to tmp/flag."""
    return [dir_("p/q/r"), sym("e", "p/q/r/s/../../../flag"), sym("p/q/r/s", "../../..")], "e"


def cve_2025_4517_chain(host: Host) -> tuple[list[Member], str]:
    """CVE-2025-4517: symlinks that expand past PATH_MAX, so os.path.realpath (and the 'data'
    filter built on it, before the fix) stops resolving them; a hardlink through them reaches
    the flag and the regular file of the same name overwrites it, another file is created."""
    steps = "abcdefghijklmnop"
    dest = host.staging("2.0.0")
    max_path = os.pathconf(host.top, "PC_PATH_MAX")
    component = "d" * ((max_path - len(str(dest)) - 1) // (len(steps) + 1))
    members: list[Member] = []
    path = ""
    for step in steps:
        members += [dir_(path + component), sym(path + step, component)]
        path += component + "/"
    linkpath = "/".join([*steps, "l" * 254])
    members.append(sym(linkpath, "/".join([".."] * len(steps))))
    # <dest>/.. is releases/, ../.. the deploy path, ../../.. the folder holding the flag
    members.append(sym("escape", linkpath + "/../../.."))
    members += [hard("flaglink", "escape/flag"), reg("flaglink", PWNED), reg("escape/newfile", PWNED)]
    return members, linkpath


ATTACKS: dict[str, Callable[[], tuple[list[Member], str]]] = {
    "hardlink resolved from the archive root": hardlink_from_the_archive_root,
    "two-step symlink chain": two_step_symlink_chain,
    "symlink chain to the flag": symlink_chain_to_the_flag,
    "symlink through an inner symlink": symlink_through_an_inner_symlink,
    "outward symlink made before its step": outward_symlink_made_before_its_step,
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_is_refused_and_changes_nothing(host: Host, host_python: str, attack: str) -> None:
    members, name = ATTACKS[attack]()
    message = host.refuse(members)
    refused_member(message, name)


def test_cve_2025_4517_chain_is_refused_and_changes_nothing(host: Host, host_python: str) -> None:
    members, name = cve_2025_4517_chain(host)
    message = host.refuse(members)
    refused_member(message, name)
    assert not (host.top / "newfile").exists()


@pytest.mark.parametrize(
    ("members", "name", "reason"),
    [
        ([reg("ok"), reg("../evil", PWNED)], "../evil", "'..'"),
        ([reg("ok"), reg("a/../../evil", PWNED)], "a/../../evil", "'..'"),
        ([reg("/tmp/evil", PWNED)], "/tmp/evil", "absolute"),
        ([reg("ok"), sym("link", "/etc/passwd")], "link", "absolute"),
        ([reg("ok"), sym("link", "../../../flag")], "link", "outside"),
        ([hard("h", "/etc/passwd")], "h", "absolute"),
        ([reg("ok"), hard("h", "missing")], "h", "not a regular file"),
        ([sym("s", "."), reg("f"), hard("h", "s/f")], "h", "symlink"),
        ([special("fifo", tarfile.FIFOTYPE)], "fifo", "not a regular file, directory or link"),
        ([special("dev", tarfile.CHRTYPE)], "dev", "not a regular file, directory or link"),
        ([special("disk", tarfile.BLKTYPE)], "disk", "not a regular file, directory or link"),
        ([reg("a/f"), reg("a", PWNED)], "a", "directory"),
    ],
)
def test_unsafe_members_are_refused(
    host: Host, host_python: str, members: list[Member], name: str, reason: str
) -> None:
    message = host.refuse(members)
    refused_member(message, name)
    assert reason in message, message


# -- limits --------------------------------------------------------------------------------


def test_more_members_than_allowed_is_refused(host: Host, host_python: str) -> None:
    message = host.refuse([reg(f"f{i:02d}") for i in range(11)], max_members=10)
    refused_member(message, "f10")
    assert "max_members" in message and "10" in message


def test_more_bytes_than_allowed_is_refused(host: Host, host_python: str) -> None:
    half = b"\0" * (512 * 1024)
    message = host.refuse([reg("a", half), reg("b", half), reg("c", b"!")], max_unpacked_mb=1)
    refused_member(message, "c")
    assert "max_unpacked_mb" in message and "1 MiB" in message


def test_hardlinks_count_as_members(host: Host) -> None:
    message = host.refuse([reg("f")] + [hard(f"h{i}", "f") for i in range(5)], max_members=5)
    refused_member(message, "h4")


def test_the_limits_have_defaults(host: Host) -> None:
    assert (release.DEFAULT_MAX_UNPACKED_MB, release.DEFAULT_MAX_MEMBERS) == (2048, 100_000)
    spec = yaml.safe_load(release.DOCUMENTATION)["options"]
    assert spec["max_unpacked_mb"]["default"] == 2048 and spec["max_members"]["default"] == 100_000


# -- what an artifact may hold -------------------------------------------------------------


def test_a_normal_artifact_installs_whole(host: Host, host_python: str) -> None:
    members = [
        dir_("./"),
        reg("./app.py", b"VERSION = '2.0.0'\n", mode=0o4755),
        dir_("./lib/pkg"),
        reg("./lib/pkg/__init__.py", b""),
        reg("./share/lib/util.py", b"X = 1\n", mode=0o600),
        sym("./lib/util", "../share/lib"),
        sym("./lib/pkg/self", "."),
        sym("./dangling", "not/there/yet"),
        hard("./bin/app", "app.py"),
        reg("./VERSION", b"1\n"),
        reg("./VERSION", b"2.0.0\n"),  # a later member of the same name replaces it, as tar does
    ]
    changed, info = host.install(members, max_members=len(members), max_unpacked_mb=1)
    assert changed and info == {"installed": "2.0.0"}
    rel = host.root / "releases" / "2.0.0"
    assert (rel / "app.py").read_bytes() == b"VERSION = '2.0.0'\n"
    assert (rel / "app.py").stat().st_mode & 0o7777 == 0o755, "no setuid bits from an artifact"
    assert (rel / "share" / "lib" / "util.py").stat().st_mode & 0o777 == 0o600
    assert link(rel / "lib" / "util") == "../share/lib"
    assert (rel / "lib" / "util" / "util.py").read_bytes() == b"X = 1\n"
    assert link(rel / "dangling") == "not/there/yet"
    assert (rel / "bin" / "app").read_bytes() == (rel / "app.py").read_bytes()
    assert (rel / "VERSION").read_bytes() == b"2.0.0\n"
    assert json.loads((rel / release.MARKER).read_text())["version"] == "2.0.0"
    assert (rel / "data").resolve() == (host.root / "shared" / "data").resolve()
    assert children(host.root / "releases") == ["1.0.0", "2.0.0"]
    assert host.flag.read_bytes() == FLAG


def test_an_artifact_at_the_limits_installs(host: Host, host_python: str) -> None:
    members = [reg("a", b"\0" * (1024 * 1024 - 1)), reg("b", b"!")]
    assert host.install(members, max_members=2, max_unpacked_mb=1)[0]


# -- relkit.yml's limits reach the host ------------------------------------------------------


def test_relkit_yml_limits_are_validated_and_default() -> None:
    cfg = ProjectConfig.model_validate(config_data())
    assert (cfg.artifacts.max_unpacked_mb, cfg.artifacts.max_members) == (2048, 100_000)
    cfg = ProjectConfig.model_validate(config_data(artifacts={"max_unpacked_mb": 10, "max_members": 50}))
    assert (cfg.artifacts.max_unpacked_mb, cfg.artifacts.max_members) == (10, 50)
    for bad in ({"max_members": 0}, {"max_unpacked_mb": 0}, {"max_members": "many"}):
        with pytest.raises(ValueError):
            ProjectConfig.model_validate(config_data(artifacts=bad))
    assert "artifacts" in PROJECT_VARS, "plays receive relkit.yml's artifacts section"


def _install_task() -> dict:
    [task] = yaml.safe_load((REPO / "roles" / "relkit_deploy" / "tasks" / "install.yml").read_text())
    return dict(task["relkit_release"])


def test_the_deploy_role_passes_the_limits_to_the_module() -> None:
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    defaults = yaml.safe_load((REPO / "roles" / "relkit_deploy" / "defaults" / "main.yml").read_text())
    task = _install_task()
    assert task["max_unpacked_mb"] == "{{ relkit_max_unpacked_mb }}"
    assert task["max_members"] == "{{ relkit_max_members }}"
    for project, expected in [
        ({"artifacts": {"max_unpacked_mb": 7, "max_members": 9}}, (7, 9)),
        ({}, (2048, 100_000)),  # a relkit.yml loaded by the play itself, without the section
    ]:
        templar = Templar(loader=DataLoader(), variables={"relkit_project": project})
        got = tuple(
            int(templar.template(trust_as_template(defaults[k])))
            for k in ("relkit_max_unpacked_mb", "relkit_max_members")
        )
        assert got == expected
    specs = yaml.safe_load((REPO / "roles" / "relkit_deploy" / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    for name in ("relkit_max_unpacked_mb", "relkit_max_members"):
        assert options[name]["type"] == "int" and isinstance(options[name]["description"], str)


@pytest.fixture
def limited_staging(local_staging: Project) -> Iterator[tuple[Project, Path]]:
    """The local staging project with 1.0.0 deployed and relkit.yml's ``artifacts.max_members``
    set just below the 2.0.0 artifact's member count; a flag beside the host's deploy path."""
    project = local_staging
    releases = project.root / "releases"
    assert api.deploy(project, releases / "1.0.0.yml", "staging", by="ops").ok
    data = yaml.safe_load((releases / "2.0.0.yml").read_text())
    artifact = (releases / data["artifact"]["path"]).resolve()
    with tarfile.open(artifact) as archive:
        count = len(archive.getmembers())
    config = yaml.safe_load((project.root / "relkit.yml").read_text())
    config["artifacts"] = {"max_members": count - 1, "max_unpacked_mb": 64}
    (project.root / "relkit.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    with Project.load(project.root) as limited:
        yield limited, artifact


def _host_of(project: Project) -> Path:
    return Path(os.environ["RELKIT_DEMO_ROOT"]) / "staging" / "stage1"


def test_a_deploy_of_a_refused_artifact_fails_before_the_switch(
    limited_staging: tuple[Project, Path],
) -> None:
    project, artifact = limited_staging
    host = _host_of(project)
    flag = host.parent / "flag"
    flag.write_bytes(FLAG)
    releases = project.root / "releases"

    # relkit.yml's artifacts.max_members reaches the module: the real 2.0.0 is one member too many
    with pytest.raises(api.PlayFailed) as failed:
        api.deploy(project, releases / "2.0.0.yml", "staging", by="ops")
    assert "artifacts.max_members" in str(failed.value), str(failed.value)

    # a crafted 2.0.0: the hardlink attack (few members, so only the attack can stop it)
    crafted = artifact.with_name("webapp-2.0.0-crafted.tar.gz")
    members, name = [reg("app.py", b"VERSION = '2.0.0'\n")], "x/y/z/h"
    # <dest> is <host>/releases/.partial-*: three '..' from the archive root is the flag's folder
    members += [dir_("x/y/z"), hard(name, "../../../flag"), reg(name, PWNED)]
    sha = build(crafted, members)
    data = yaml.safe_load((releases / "2.0.0.yml").read_text())
    data["artifact"] = {"path": str(crafted), "sha256": sha}
    manifest = releases / "2.0.0-crafted.yml"
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(api.PlayFailed) as failed:
        api.deploy(project, manifest, "staging", by="ops")
    assert repr(name) in str(failed.value), str(failed.value)

    assert flag.read_bytes() == FLAG
    assert children(host / "releases") == ["1.0.0"]
    assert link(host / "current") == "releases/1.0.0"
    assert api.status(project).live["staging"]["stage1"].version == "1.0.0"
