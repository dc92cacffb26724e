"""The SSH test hosts are real, isolated hosts: prove it before other tests rely on them."""

from __future__ import annotations

import fcntl
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests import sshhosts
from tests.sshhosts import SshHostError, SshHostPool, port_open

pytestmark = pytest.mark.integration

PoolFactory = Callable[..., SshHostPool]
ANSIBLE = Path(sys.executable).parent / "ansible"


def test_each_host_has_its_own_hostname(ssh_pool_factory: PoolFactory) -> None:
    pool = ssh_pool_factory(3)

    assert [h.name for h in pool.hosts] == ["web1", "web2", "web3"]
    assert len({h.address for h in pool.hosts}) == 3
    for host in pool.hosts:
        assert host.ssh("hostname", check=True).stdout == f"{host.name}\n"
    assert socket.gethostname() not in {h.name for h in pool.hosts}


def test_opt_is_private_per_host(ssh_pool_factory: PoolFactory) -> None:
    first, second, _ = ssh_pool_factory(3).hosts
    controller_had_x = Path("/opt/x").exists()

    first.ssh("echo from-web1 > /opt/x", check=True)

    assert (first.opt / "x").read_text() == "from-web1\n"
    assert not (second.opt / "x").exists()
    assert second.ssh("test -e /opt/x").returncode == 1
    assert Path("/opt/x").exists() == controller_had_x  # the controller's /opt is untouched
    (second.opt / "seeded").write_text("from controller\n")
    assert second.ssh("cat /opt/seeded", check=True).stdout == "from controller\n"


def test_root_home_is_private_unless_shared(ssh_pool_factory: PoolFactory) -> None:
    host, other = ssh_pool_factory(2).hosts
    shared = ssh_pool_factory(1, prefix="shared", private_home=False).hosts[0]

    host.ssh("echo mine > ~/note", check=True)

    assert (host.home / "note").read_text() == "mine\n"
    assert other.ssh("ls -A ~", check=True).stdout == ""
    assert not Path("/root/note").exists()
    assert host.ssh("stat -c %d:%i /root", check=True).stdout == _inode(host.home)
    assert shared.ssh("stat -c %d:%i /root", check=True).stdout == _inode(Path("/root"))


def test_ansible_reaches_every_host_through_the_inventory(
    ssh_pool_factory: PoolFactory, tmp_path: Path
) -> None:
    pool = ssh_pool_factory(3)
    inventory = pool.write_inventory(
        tmp_path / "inventory.yml",
        {"web": pool.hosts, "canary": pool.hosts[:1]},
        group_vars={"all": {"relkit_test": "yes"}},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env |= {"ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), "ANSIBLE_FORKS": "10"}

    result = subprocess.run(
        [str(ANSIBLE), "all", "-i", str(inventory),
         "-m", "ansible.builtin.command", "-a", "hostname"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    line = re.compile(r"^(\S+) \| CHANGED \| rc=0 >>\n(\S+)$", re.MULTILINE)
    answers = dict(line.findall(result.stdout))
    assert answers == {h.name: h.name for h in pool.hosts}, result.stdout
    written = yaml.safe_load(inventory.read_text())["all"]
    assert [*written["children"]["canary"]["hosts"]] == ["web1"]
    assert written["vars"] == {"relkit_test": "yes"}


def test_stop_and_start_sshd_keeps_opt(ssh_pool_factory: PoolFactory) -> None:
    host, other = ssh_pool_factory(2).hosts
    host.ssh("mkdir -p /opt/app && echo v1 > /opt/app/release", check=True)
    old_pid = host.pid

    host.stop_sshd()

    assert host.pid is None
    assert not host.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host.address, 22), timeout=2).close()
    assert host.ssh("true", timeout=10).returncode == 255
    assert other.ssh("hostname", check=True).stdout == f"{other.name}\n"

    host.start_sshd()

    assert host.pid not in {None, old_pid}
    assert host.ssh("hostname; cat /opt/app/release", check=True).stdout == f"{host.name}\nv1\n"


def test_mount_tmpfs_fills_up_only_inside_the_host(ssh_pool_factory: PoolFactory) -> None:
    host, other = ssh_pool_factory(2).hosts

    host.mount_tmpfs("/opt/full", "1M")
    result = host.ssh("dd if=/dev/zero of=/opt/full/blob bs=1M count=2")

    assert result.returncode != 0
    assert "No space left on device" in result.stderr
    assert host.ssh("ls /opt/full", check=True).stdout == "blob\n"  # partial file, in tmpfs
    assert list((host.opt / "full").iterdir()) == []  # controller's view untouched
    assert other.ssh("test -e /opt/full").returncode == 1
    host.unmount("/opt/full")
    assert host.ssh("ls /opt/full", check=True).stdout == ""


def test_stop_leaves_no_processes_mounts_or_listeners(tmp_path: Path) -> None:
    pool = SshHostPool(tmp_path / "hosts", 2)
    mounts_before = Path("/proc/self/mountinfo").read_text()
    with pool:
        pool.hosts[0].mount_tmpfs("/opt/full", "1M")
        pool.hosts[1].ssh("setsid sleep 300 >/dev/null 2>&1 < /dev/null &", check=True)
        namespaces = {_pid_namespace(h.pid) for h in pool.hosts if h.pid}
        deadline = time.monotonic() + 10  # on a loaded machine setsid may not have exec'd sleep yet
        while True:
            inside = [pid for pid in _all_pids() if _pid_namespace(pid) in namespaces]
            daemon = any(_read(Path(f"/proc/{pid}/cmdline")).startswith(b"sleep") for pid in inside)
            if daemon or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(inside) >= 3  # two sshd plus the stray daemon
        assert daemon
        workdir_users = _pids_mentioning(pool.workdir)
        assert workdir_users

    assert [pid for pid in inside if Path(f"/proc/{pid}").exists()] == []
    assert [pid for pid in _all_pids() if _pid_namespace(pid) in namespaces] == []
    assert _pids_mentioning(pool.workdir) == []  # unshare launchers are gone too
    assert not any(port_open(h.address) for h in pool.hosts)
    assert Path("/proc/self/mountinfo").read_text() == mounts_before
    assert [h.pid for h in pool.hosts] == [None, None]


def test_busy_addresses_are_skipped(ssh_pool_factory: PoolFactory) -> None:
    lock = sshhosts.LOCK_DIR / "127.0.0.202.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    # a pool elsewhere holds 127.0.0.202: flock(2) locks of two open file descriptions conflict
    # even within one process (a `flock CMD` child would outlive a kill and keep the lock)
    holder = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with socket.create_server(("127.0.0.201", 22)):  # something else listens here
            pool = ssh_pool_factory(1, prefix="db", first_octet=201)
    finally:
        os.close(holder)
    assert pool.hosts[0].address == "127.0.0.203"
    assert pool.hosts[0].ssh("hostname", check=True).stdout == "db1\n"


def test_address_taken_before_start_is_replaced(tmp_path: Path) -> None:
    pool = SshHostPool(tmp_path / "hosts", 1, first_octet=206)
    assert pool.hosts[0].address == "127.0.0.206"
    with socket.create_server(("127.0.0.206", 22)), pool:  # lost the race to another daemon
        assert pool.hosts[0].address == "127.0.0.207"
        assert pool.hosts[0].ssh("hostname", check=True).stdout == "web1\n"


def test_missing_sshd_is_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sshhosts, "SSHD", "/nonexistent/sshd")
    with pytest.raises(SshHostError, match=r"apt-get install openssh-server"):
        SshHostPool(tmp_path / "hosts", 1)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _inode(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_dev}:{stat.st_ino}\n"


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _pid_namespace(pid: int) -> str | None:
    try:
        return str(Path(f"/proc/{pid}/ns/pid").readlink())
    except OSError:
        return None


def _pids_mentioning(path: Path) -> list[int]:
    return [pid for pid in _all_pids() if str(path).encode() in _read(Path(f"/proc/{pid}/cmdline"))]
