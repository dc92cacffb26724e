"""Controller side of data snapshots: relkit.yml ``data:``, the ledger listing, the CLI, the
password channel (relkit.secret_channel + the relkit_secret lookup plugin)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from relkit import secret_channel
from relkit.cli import main
from relkit.config import ProjectConfig
from relkit.loading import validate_data
from relkit.snapshots import human_size, rows
from relkit.store.sqlite import Ledger
from tests.support.clirunner import payload
from tests.support.factories import config_data, entry, problems_of
from tests.support.hostmodules import PLAYBOOKS, load

lookup = load("relkit_secret_lookup", PLAYBOOKS / "lookup_plugins" / "relkit_secret.py")


def _data(*items: dict[str, Any]) -> ProjectConfig:
    return validate_data(ProjectConfig, config_data(data=list(items)), "relkit.yml")


def test_data_items_validate_with_kind_defaults() -> None:
    cfg = _data(
        {"name": "appdb", "kind": "sqlite", "path": "shared/data/app.db"},
        {"name": "uploads", "kind": "directory", "path": "/srv/uploads"},
        {"name": "shop", "kind": "postgresql", "database": "shop", "password_env": "SHOP_PW"},
    )
    sqlite, directory, pg = cfg.data
    assert (sqlite.hosts, directory.hosts, pg.hosts) == ("all", "all", "first")
    assert (pg.host, pg.port, pg.user, pg.password_env) == ("127.0.0.1", 5432, "postgres", "SHOP_PW")
    assert _data().data == [] and cfg.service.migrate_hosts == "all"
    assert secret_channel.password_envs(cfg.data) == ["SHOP_PW"]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"name": "a", "kind": "sqlite"}, "data.0.path: required for kind sqlite"),
        ({"name": "a", "kind": "postgresql"}, "data.0.database: required for kind postgresql"),
        (
            {"name": "a", "kind": "sqlite", "path": "x.db", "user": "u"},
            "data.0.user: only for kind postgresql",
        ),
        (
            {"name": "a", "kind": "directory", "path": "snapshots/x"},
            "data.0.path: snapshots/ is relkit's own",
        ),
        ({"name": "a", "kind": "directory", "path": "shared/../etc"}, "data.0.path: String should match"),
        ({"name": "../a", "kind": "sqlite", "path": "a.db"}, "data.0.name: must be 1-64 characters"),
        ({"name": "a", "kind": "mysql", "path": "a"}, "data.0.kind: Input should be"),
        ({"name": "a", "kind": "postgresql", "database": "d", "password_env": "A B"}, "data.0.password_env"),
        ({"name": "a", "kind": "sqlite", "path": "a.db", "extra": 1}, "data.0.extra: unknown key"),
    ],
)
def test_bad_data_items_name_their_field(item: dict[str, Any], expected: str) -> None:
    [problem] = problems_of(ProjectConfig, config_data(data=[item]))
    assert problem.startswith(expected), problem


def test_data_names_are_unique() -> None:
    item = {"name": "db", "kind": "sqlite", "path": "a.db"}
    [problem] = problems_of(ProjectConfig, config_data(data=[item, {**item, "path": "b.db"}]))
    assert problem == "data.1.name: names must be unique: 'db' is also data.0's name"


def taken(host: str, sid: str, frm: str, to: str, purpose: str = "deploy", seq: int = 1, **kw: Any) -> Any:
    items = [{"name": "appdb", "kind": "sqlite", "size": 4096, "duration": 0.01}]
    return entry(
        "snapshot.taken",
        host=host,
        seq=seq,
        id=sid,
        purpose=purpose,
        to=to,
        items=items,
        **{"from": frm},
        **kw,
    )


def test_rows_follow_restores_and_prunes_per_host() -> None:
    entries = [
        taken("web1", "s1", "1.0.0", "2.0.0", taken_at="2026-01-01T00:00:00"),
        taken("web2", "s1", "1.0.0", "2.0.0", seq=2, taken_at="2026-01-01T00:00:01"),
        taken("web1", "s2", "2.0.0", "1.0.0", "at-rollback", seq=3, taken_at="2026-01-02T00:00:00"),
        entry("snapshot.restored", host="web1", seq=4, id="s1", at_rollback="s2"),
        entry("snapshot.pruned", host="web2", seq=5, ids=["s1"]),
        taken("web1", "p1", "1.0.0", "2.0.0", seq=6, env="production", taken_at="2026-01-03T00:00:00"),
    ]
    found = rows(entries, "staging")
    assert [(r.host, r.id, r.kind, r.state, len(r.restored_at)) for r in found] == [
        ("web1", "s1", "deploy", "present", 1),
        ("web1", "s2", "at-rollback", "present", 0),
        ("web2", "s1", "deploy", "pruned", 0),
    ]
    assert found[0].size == 4096 and found[0].to_dict()["state"] == "present"
    assert [r.env for r in rows(entries)] == ["production", "staging", "staging", "staging"]


def test_snapshots_command_output(
    example_project: Path, state_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    ledger = Ledger(state_dir / "ledger.db")
    for host in ("stage1", "stage2"):
        ledger.append(
            "snapshot.taken", env="staging", host=host, data=taken(host, "s1", "1.0.0", "2.0.0").data
        )
    ledger.close()
    capsys.readouterr()
    assert main(["-C", str(example_project), "--output", "json", "snapshots", "--env", "staging"]) == 0
    listed = payload(capsys.readouterr().out)["snapshots"]
    assert [(s["host"], s["id"], s["from_version"], s["to_version"], s["size"]) for s in listed] == [
        ("stage1", "s1", "1.0.0", "2.0.0", 4096),
        ("stage2", "s1", "1.0.0", "2.0.0", 4096),
    ]
    assert main(["-C", str(example_project), "snapshots", "--env", "staging", "--host", "stage2"]) == 0
    text = capsys.readouterr().out
    assert "stage2" in text and "stage1" not in text and "4.0 KiB" in text
    assert main(["-C", str(example_project), "snapshots", "--env", "production"]) == 0
    assert "no snapshots recorded for production" in capsys.readouterr().out
    assert main(["-C", str(example_project), "snapshots", "--env", "nowhere"]) == 2


def test_human_size() -> None:
    assert [human_size(n) for n in (0, 1023, 4096, 5 * 1024**3)] == ["0 B", "1023 B", "4.0 KiB", "5.0 GiB"]


def test_secret_channel_serves_only_to_the_token_and_dies_with_the_block() -> None:
    environ = {"SHOP_PW": "s3cret", "EMPTY": ""}
    with secret_channel.serve(["SHOP_PW", "EMPTY", "UNSET"], environ) as env:
        path, token = env[secret_channel.SOCKET_ENV], env[secret_channel.TOKEN_ENV]
        assert set(env) == {secret_channel.SOCKET_ENV, secret_channel.TOKEN_ENV}
        assert "s3cret" not in json.dumps(env)
        assert secret_channel.fetch(path, token) == {"SHOP_PW": "s3cret"}
        assert secret_channel.fetch(path, "wrong-token") == {}
        assert oct(Path(path).stat().st_mode & 0o777) == "0o600"
    assert not Path(path).exists() and not Path(path).parent.exists()
    with secret_channel.serve(["UNSET"], environ) as env:
        assert env == {}


def test_lookup_plugin_reads_the_channel_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = lookup.LookupModule()
    monkeypatch.setenv("DIRECT_PW", "from-env")
    monkeypatch.delenv(secret_channel.SOCKET_ENV, raising=False)
    assert plugin.run(["DIRECT_PW", "NOT_SET_ANYWHERE"]) == ["from-env", ""]
    with secret_channel.serve(["SHOP_PW"], {"SHOP_PW": "served"}) as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert plugin.run(["SHOP_PW"]) == ["served"]
