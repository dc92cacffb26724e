"""Host/controller twins: each rule lives once in playbooks/module_utils, or a test pins the copies.

The host modules cannot import relkit, so what both sides need lives in
``playbooks/module_utils/relkit_rules.py``; the controller loads that same file through
:mod:`relkit.hostrules`. These tests check that both sides really use it (and behave alike
on tables of inputs), and pin the one copy that cannot move: the relkit_health role's Jinja
that makes the smoke checks critical, against :func:`relkit.health.health_checks`.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from relkit import hostrules, live_check
from relkit import names as controller_names
from relkit.artifacts import sha256_file as controller_sha256_file
from relkit.config import HEALTH_KINDS, DataItem, HealthCheck, ProjectConfig, SmokeCheck
from relkit.health import RANK, health_checks
from relkit.loading import validate_data
from relkit.store.sqlite import Ledger
from relkit.usecases import health as health_run
from relkit.usecases import reports
from tests.support.factories import config_data
from tests.support.hostmodules import PLAYBOOKS, library, module_utils

REPO = PLAYBOOKS.parent
rules = module_utils()["relkit_rules"]  # the host's copy: ansible.module_utils.relkit_rules
checks = module_utils()["relkit_checks"]
layout = module_utils()["relkit_layout"]
snapshots = module_utils()["relkit_snapshots"]
release = library("relkit_release")
health_module = module_utils()["relkit_health_checks"]  # the relkit_health module's checks
host_check = library("relkit_host_check")


def test_the_controller_loads_the_very_file_the_hosts_get() -> None:
    path = (PLAYBOOKS / "module_utils" / "relkit_rules.py").resolve()
    assert Path(hostrules.rules.__file__).resolve() == path
    assert Path(rules.__file__).resolve() == path


def test_relkit_rules_is_standard_library_only() -> None:
    tree = ast.parse((PLAYBOOKS / "module_utils" / "relkit_rules.py").read_text())
    nodes = list(ast.walk(tree))
    imported = {a.name.split(".")[0] for n in nodes if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in nodes if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def _sources() -> dict[str, str]:
    files = [*(REPO / "relkit").rglob("*.py"), *PLAYBOOKS.rglob("*.py")]
    return {str(p.relative_to(REPO)): p.read_text() for p in files}


@pytest.mark.parametrize(
    "signature",
    [
        "[A-Za-z0-9._+-]{0,63}",  # the safe-name pattern
        "f_bavail",  # free MiB
        '"warning": 1',  # health ranks
        '"port": 5432',  # PostgreSQL defaults
        '"memory_free_mb")',  # the kinds tuple
        'incoming"',  # the layout
        "os.fsync(handle",  # atomic writes
    ],
)
def test_no_second_copy_of_a_shared_rule(signature: str) -> None:
    """The rule's tell-tale spelling appears in relkit_rules.py only (relkit_snapshots' own
    directory-wide write of a snapshot manifest is not a file replace)."""
    found = sorted(path for path, text in _sources().items() if signature in text)
    allowed = {"playbooks/module_utils/relkit_rules.py", "playbooks/module_utils/relkit_snapshots.py"}
    assert "playbooks/module_utils/relkit_rules.py" in found
    assert set(found) <= (allowed if signature.startswith("os.fsync") else {found[0]}), found


# -- 1. safe names -------------------------------------------------------------------------

NAMES = [
    ("1.0.0", True),
    ("webapp", True),
    ("v2_rc+build-7", True),
    ("a" * 64, True),
    ("a" * 65, False),
    ("", False),
    (".hidden", False),
    ("-x", False),
    ("1..0", False),
    ("..", False),
    ("a/b", False),
    ("../etc", False),
    ("1.0.0\n", False),
    ("1.0 0", False),
    ("versión", False),
    (None, False),
    (7, False),
]


def _controller_accepts(value: Any) -> bool:
    try:
        controller_names.check_safe_name(value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(("value", "safe"), NAMES)
def test_safe_names_are_one_rule_on_both_sides(value: Any, safe: bool) -> None:
    assert rules.is_safe_name(value) is safe
    assert hostrules.is_safe_name(value) is safe
    assert _controller_accepts(value) is safe


def test_host_side_name_checks_use_the_rule(tmp_path: Path) -> None:
    assert release.is_safe_name is rules.is_safe_name  # the module's "unsafe version" refusal
    assert not hasattr(release, "SAFE")
    # releases/<name> counts as a release only under a safe name
    (tmp_path / "releases").mkdir()
    for name, _ in NAMES:
        if isinstance(name, str) and name and "/" not in name and name not in (".", ".."):
            folder = tmp_path / "releases" / name
            folder.mkdir(exist_ok=True)
            (folder / rules.MARKER).write_text(json.dumps({"installed_at": name}))
    found = release.complete_releases(str(tmp_path))
    assert sorted(found) == sorted(
        n for n, safe in NAMES if safe and isinstance(n, str) and (tmp_path / "releases" / n).is_dir()
    )
    # a data item's name names its snapshot file
    with pytest.raises(snapshots.SnapshotError, match="unsafe name"):
        snapshots.normalize({"name": "../x", "kind": "directory", "path": "shared/x"})


# -- 2. sha256 of a file -------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 5])
def test_sha256_of_a_file_is_one_rule(tmp_path: Path, size: int) -> None:
    path = tmp_path / "artifact"
    data = os.urandom(size)
    path.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    assert rules.sha256_file(str(path)) == want
    assert hostrules.sha256_file(path) == want
    assert controller_sha256_file(path) == want
    assert release.sha256_file is rules.sha256_file
    assert snapshots.sha256_file is rules.sha256_file


# -- 3. health ranks and check kinds ---------------------------------------------------------


def test_health_ranks_are_one_rule() -> None:
    assert RANK == hostrules.HEALTH_RANK == rules.HEALTH_RANK == {"ok": 0, "warning": 1, "critical": 2}
    assert health_module.HEALTH_RANK is rules.HEALTH_RANK
    assert not hasattr(health_module, "RANK")
    # the host's status is the worst check; the controller's environment status the worst host
    for statuses in (["ok"], ["ok", "warning"], ["warning", "critical", "ok"], []):
        host = max(statuses, key=rules.HEALTH_RANK.get, default="ok")
        assert host == max(statuses, key=RANK.__getitem__, default="ok")


KIND_VALUES: dict[str, Any] = {
    "http": "http://127.0.0.1:8080/health",
    "port": 8080,
    "command": "true",
    "log": "log/app.log",
    "disk_free_mb": 100,
    "memory_free_mb": 64,
}


def test_check_kinds_are_one_rule() -> None:
    assert HEALTH_KINDS == rules.HEALTH_KINDS == tuple(KIND_VALUES)
    assert HEALTH_KINDS[:3] == rules.SMOKE_KINDS
    assert set(rules.HEALTH_KINDS) <= set(HealthCheck.model_fields)
    assert set(rules.SMOKE_KINDS) <= set(SmokeCheck.model_fields)
    assert not set(rules.HEALTH_KINDS[3:]) & set(SmokeCheck.model_fields)
    assert health_module.check_kind is rules.check_kind and checks.check_kind is rules.check_kind


@pytest.mark.parametrize("kind", list(KIND_VALUES))
def test_host_and_controller_see_the_same_kind(kind: str) -> None:
    model = HealthCheck.model_validate({"name": "c", kind: KIND_VALUES[kind]})
    assert model.kind == kind
    assert rules.check_kind(model.model_dump(exclude_none=True)) == kind  # what relkit_health runs
    if kind in rules.SMOKE_KINDS:
        smoke = SmokeCheck.model_validate({"name": "c", kind: KIND_VALUES[kind]})
        assert rules.check_kind(smoke.model_dump(exclude_none=True), rules.SMOKE_KINDS) == kind
    else:
        with pytest.raises(ValidationError):
            SmokeCheck.model_validate({"name": "c", kind: KIND_VALUES[kind]})


def test_a_check_without_a_kind_is_a_command_on_the_host() -> None:
    assert rules.check_kind({"name": "x"}) == "command"
    assert checks.run_check({"name": "x", "command": "exit 3"}, 5, None)["ok"] is False


# -- 4. smoke checks run as critical (pinned: Jinja in the role, Python on the controller) ---


def _role_health_checks(project: dict[str, Any]) -> list[dict[str, Any]]:
    """The relkit_health role's default ``relkit_health.checks``, rendered by Ansible."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    defaults = yaml.safe_load((REPO / "roles" / "relkit_health" / "defaults" / "main.yml").read_text())
    templar = Templar(loader=DataLoader(), variables={"relkit_project": project})
    rendered = templar.template(trust_as_template(defaults["relkit_health"]["checks"]))
    return json.loads(json.dumps(rendered))


SMOKE = [
    {"name": "health", "http": "http://127.0.0.1:8080/health", "contains": "ok"},
    {"name": "port", "port": 8080, "host": "127.0.0.2"},
    {"name": "cli", "command": "true"},
]
HEALTH = [
    {"name": "errors", "log": "log/app.log", "pattern": "ERROR", "max_matches": 2, "severity": "warning"},
    {"name": "disk", "disk_free_mb": 100},
    {"name": "slow", "http": "http://127.0.0.1:8080/", "max_latency_ms": 500, "severity": "critical"},
    {"name": "memory", "memory_free_mb": 64, "severity": "warning"},
]


@pytest.mark.parametrize(
    ("smoke", "health"),
    [(SMOKE[:1], None), (SMOKE, []), (SMOKE[:1], HEALTH), (SMOKE, HEALTH[1:2]), (SMOKE[1:], HEALTH[::-1])],
)
def test_smoke_is_critical_alike_in_the_role_and_on_the_controller(
    smoke: list[dict[str, Any]], health: list[dict[str, Any]] | None
) -> None:
    overrides: dict[str, Any] = {"smoke": {"checks": smoke}}
    if health is not None:
        overrides["health"] = {"checks": health}
    config = validate_data(ProjectConfig, config_data(**overrides), "relkit.yml")
    controller = json.loads(json.dumps(health_checks(config)))
    project = config.model_dump(mode="json", exclude_none=True)
    if health is None:
        project.pop("health")  # relkit.yml without a health: section, as the role reads it
    assert _role_health_checks(project) == controller
    assert [c["severity"] for c in controller[: len(smoke)]] == ["critical"] * len(smoke)
    assert {c["source"] for c in controller[: len(smoke)]} <= {"smoke"}
    assert {c["source"] for c in controller[len(smoke) :]} <= {"health"}


# -- 5. PostgreSQL defaults ------------------------------------------------------------------

PG_ITEMS = [
    {"name": "pg", "kind": "postgresql", "database": "app"},
    {"name": "pg", "kind": "postgresql", "database": "app", "host": "/run/postgresql"},
    {"name": "pg", "kind": "postgresql", "database": "app", "port": 6543, "user": "deploy"},
    {"name": "pg", "kind": "postgresql", "database": "app", "hosts": "all"},
]


@pytest.mark.parametrize("raw", PG_ITEMS)
def test_postgresql_defaults_are_one_rule(raw: dict[str, Any]) -> None:
    """relkit.yml read by relkit (the model) and read raw by the role (the host fills it in)."""
    controller = DataItem.model_validate(raw)
    host = snapshots.normalize(raw)
    for key in ("host", "port", "user", "hosts"):
        assert host[key] == getattr(controller, key), key
    assert snapshots.PG_DEFAULTS is rules.PG_DEFAULTS
    want = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
    assert hostrules.PG_DEFAULTS == rules.PG_DEFAULTS == want


# -- 6. host layout and free MiB ------------------------------------------------------------


def test_the_layout_is_one_rule(tmp_path: Path) -> None:
    root = tmp_path / "app"
    assert rules.make_layout(str(root)) is True
    assert rules.make_layout(str(root)) is False
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == sorted(rules.LAYOUT_DIRS)
    assert release.make_layout is rules.make_layout and host_check.make_layout is rules.make_layout
    # the release module's probe lays it out and names the upload path inside it
    probed = tmp_path / "probed"
    _, info = release.probe({"deploy_path": str(probed), "version": "1.0", "sha256": "a" * 64, "smoke": None})
    assert sorted(str(p.relative_to(probed)) for p in probed.rglob("*")) == sorted(rules.LAYOUT_DIRS)
    assert Path(info["upload"]).parent == probed / rules.INCOMING
    assert layout.MARKER == release.MARKER == rules.MARKER


@pytest.mark.parametrize("name", ["releases", "snapshots", ".relkit", "current"])
def test_data_may_not_live_in_the_layouts_own_names(name: str) -> None:
    assert name in rules.RESERVED
    with pytest.raises(ValidationError, match=r"relkit's own|should match pattern"):
        DataItem.model_validate({"name": "d", "kind": "directory", "path": f"{name}/data"})
    assert DataItem.model_validate({"name": "d", "kind": "directory", "path": f"{rules.SHARED}/data"})


def test_free_mb_is_one_rule(tmp_path: Path) -> None:
    st = os.statvfs(tmp_path)
    want = st.f_bavail * st.f_frsize // (1024 * 1024)
    assert abs(rules.free_mb(str(tmp_path)) - want) <= 1
    assert release.free_mb is rules.free_mb
    assert health_module.free_mb is rules.free_mb
    assert host_check.free_mb is rules.free_mb


def test_the_quick_checks_host_script_carries_the_rules(tmp_path: Path) -> None:
    script = live_check.host_script()
    assert script.index("def is_safe_name") < script.index("def run_checks") < script.index("def live_state")
    card = {"connection": "local", "deploy_path": str(tmp_path / "none"), "python": sys.executable}
    assert "no relkit deploy path here" in live_check.ask(card, "1.0.0", "a" * 64, script)["reason"]
    root = tmp_path / "app"
    rules.make_layout(str(root))
    (root / rules.LOCK).touch()
    answer = live_check.ask(dict(card, deploy_path=str(root)), "1.0.0", "a" * 64, script)
    assert answer == {"live": False, "current": None}


# -- 7. atomic writes ----------------------------------------------------------------------


@pytest.mark.parametrize("data", ["text é\n", b"\x00bytes\xff"])
def test_atomic_write_replaces_whole(tmp_path: Path, data: str | bytes) -> None:
    target = tmp_path / "file"
    target.write_text("old\n")
    reader = target.open()
    rules.atomic_write(str(target), data)
    assert target.read_bytes() == (data.encode() if isinstance(data, str) else data)
    assert reader.read() == "old\n", "a reader of the old file still sees it whole"
    reader.close()
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_atomic_write_modes(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        rules.atomic_write(str(tmp_path / "default"), "x")
        hostrules.atomic_write(tmp_path / "given", "x", 0o644)
        hostrules.atomic_write(tmp_path / "private", "x", 0o600)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "default").stat().st_mode) == 0o640  # as open() would
    assert stat.S_IMODE((tmp_path / "given").stat().st_mode) == 0o644  # whatever the umask
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600


def test_atomic_write_leaves_nothing_behind_when_it_fails(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        rules.atomic_write(str(tmp_path / "dir"), "x")  # rename(2) over a directory fails
    with pytest.raises(FileNotFoundError):
        rules.atomic_write(str(tmp_path / "missing" / "file"), "x")
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]
    assert list((tmp_path / "dir").iterdir()) == []


def test_host_modules_write_atomically_with_the_rule() -> None:
    assert release.atomic_write is rules.atomic_write
    assert health_module.atomic_write is rules.atomic_write
    assert snapshots.atomic_write is rules.atomic_write
    assert not hasattr(release, "write_atomic")


def test_host_atomic_writes(tmp_path: Path) -> None:
    root = str(tmp_path)
    rules.make_layout(root)
    release.append_history(root, {"version": "1.0.0"})
    assert release.read_history(root) == [{"version": "1.0.0"}]
    health_module.save_state(root, {"at": 1.0})
    assert health_module.load_state(root) == {"at": 1.0}
    snapshots.mark_pending(root, {"action": "deploy"})
    assert json.loads((tmp_path / ".relkit" / "pending-data.json").read_text()) == {"action": "deploy"}
    assert not [p for p in (tmp_path / ".relkit").iterdir() if ".tmp-" in p.name]


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int | None]]:
    """Every controller write through the shared rule: (file name, mode)."""
    seen: list[tuple[str, int | None]] = []
    original = hostrules.rules.atomic_write

    def spy(path: Any, data: Any, mode: Any = None, replace: bool = True, sync: bool = True) -> None:
        seen.append((Path(path).name, mode))
        original(path, data, mode, replace, sync)

    monkeypatch.setattr(hostrules.rules, "atomic_write", spy)
    return seen


def test_controller_writes_go_through_the_rule(tmp_path: Path, writes: list[tuple[str, int | None]]) -> None:
    health_run.write_prom_file(tmp_path / "relkit.prom", "m 1\n")
    reports.write_file(tmp_path / "report.md", "# report\n")
    ledger = Ledger(tmp_path / "ledger.db")
    ledger.append("note")
    ledger.close()
    # the ledger's head file is the one exception: one fixed-size write in place, inside the
    # append's transaction (relkit.store.sqlite), cheaper than a file renamed over it per batch
    assert writes == [("relkit.prom", 0o644), ("report.md", 0o644)]
    for name in ("relkit.prom", "report.md"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
    head = (tmp_path / "ledger.db.head").read_text()
    assert json.loads(head)["seq"] == 1 and len(head) == 160


def test_report_write_keeps_its_bad_input_checks(
    tmp_path: Path, writes: list[tuple[str, int | None]]
) -> None:
    from relkit.errors import BadInput

    with pytest.raises(BadInput, match=r"-o/--out: directory .* does not exist"):
        reports.write_file(tmp_path / "missing" / "r.md", "x")
    with pytest.raises(BadInput, match="is a directory; name a file"):
        reports.write_file(tmp_path, "x")
    assert writes == []


# -- 8. the roles' secrets block -------------------------------------------------------------

SECRET_VARS = {"relkit_secret_names", "relkit_secrets", "relkit_secret_values"}


def test_the_secrets_block_is_one_role_the_others_depend_on() -> None:
    roles = REPO / "roles"
    shared = yaml.safe_load((roles / "relkit_secrets" / "defaults" / "main.yml").read_text())
    assert set(shared) == SECRET_VARS
    users = []
    for role in sorted(p for p in roles.iterdir() if p.is_dir() and p.name != "relkit_secrets"):
        defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
        assert not SECRET_VARS & set(defaults), f"{role.name} defines its own copy"
        tasks = "".join(p.read_text() for p in (role / "tasks").glob("*.yml"))
        meta = yaml.safe_load((role / "meta" / "main.yml").read_text())
        deps = [d["role"] if isinstance(d, dict) else d for d in meta.get("dependencies") or []]
        if any(name in tasks for name in SECRET_VARS):
            assert "relkit_secrets" in deps, f"{role.name} uses the secrets but lacks the dependency"
            users.append(role.name)
    assert users == ["relkit_deploy", "relkit_health", "relkit_rollback", "relkit_smoke"]
