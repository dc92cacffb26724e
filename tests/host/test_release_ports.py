"""A release is not called live unless it is the one answering: the service's ports must be free
between ``stop`` and ``start``, else relkit_release fails naming the port and who holds it, and
nothing is switched.

Real processes on 127.0.0.1: the release's app (a socket server that answers its version) started
and stopped by the module's service commands, and "foreign" listeners started by the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host.test_release_module import make_tar, params
from tests.support.hostmodules import library, module_utils
from tests.support.notifysinks import free_port

release = library("relkit_release")
ports = module_utils()["relkit_ports"]

APP = b"""import os, socket, sys
version = open(os.path.join(os.path.dirname(os.path.realpath(__file__)), "VERSION")).read()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    server.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as exc:
    sys.exit("cannot listen: %s" % exc)
server.listen()
with open(sys.argv[2], "w") as pidfile:
    pidfile.write(str(os.getpid()))
while True:
    conn, _ = server.accept()
    conn.sendall(version.encode())
    conn.close()
"""
STOP = "if [ -f shared/app.pid ]; then kill $(cat shared/app.pid); rm -f shared/app.pid; fi"


def start(port: int) -> str:
    return f"nohup {sys.executable} current/app.py {port} shared/app.pid >/dev/null 2>&1 &"


def smoke(port: int) -> dict:
    return {"checks": [{"name": "port", "port": port, "host": "127.0.0.1"}], "timeout": 2}


def answer(port: int) -> str:
    """What the process listening on ``port`` says (the example app: its version)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        return conn.recv(100).decode()


def foreign(port: int, cwd: Path, address: str = "127.0.0.1") -> subprocess.Popen:
    """Another program listening on ``address:port`` (an app left running elsewhere)."""
    cwd.mkdir(parents=True, exist_ok=True)
    code = (
        "import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
        f"s.bind(({address!r}, {port})); s.listen(); print('up', flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    with proc.stdout:
        assert proc.stdout.readline() == "up\n"
    return proc


class Host:
    """A deploy path whose releases run APP on ``port``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.root, self.port = tmp, tmp / "app", free_port()
        self.others: list[subprocess.Popen] = []

    def install(self, version: str) -> None:
        upload = self.tmp / f"{version}.tar.gz"
        sha = make_tar(upload, {"app.py": APP, "VERSION": version.encode()})
        release.install(params(self.root, version=version, sha256=sha, upload=str(upload)))

    def call(self, action: str, version: str | None = None, **extra: object) -> dict:
        base = {"start": start(self.port), "stop": STOP, "smoke": smoke(self.port), "service_timeout": 1}
        _, info = release.activate(params(self.root, version=version, **{**base, **extra}), action)
        return info

    def stop(self) -> None:
        """Stop the app as service.stop does, and wait until its port is free."""
        subprocess.run(STOP, shell=True, cwd=self.root, check=True)
        assert ports.wait_free([("127.0.0.1", self.port, "app")], 10) == []

    def foreign(self, address: str = "127.0.0.1") -> subprocess.Popen:
        proc = foreign(self.port, self.tmp / "elsewhere", address)
        self.others.append(proc)
        return proc

    @property
    def live(self) -> str | None:
        link = self.root / "current"
        return link.readlink().name if link.is_symlink() else None

    def history(self) -> list[str]:
        path = self.root / ".relkit" / "history.jsonl"
        return [line.split('"version": "')[1].split('"')[0] for line in path.read_text().splitlines()]

    def cleanup(self) -> None:
        for proc in self.others:
            proc.kill()
            proc.wait()
        for pid in pids_in(self.root):
            os.kill(pid, signal.SIGKILL)


def pids_in(root: Path) -> list[int]:
    """Processes running in ``root`` (the apps the service commands started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str((entry / "cwd").readlink()).startswith(str(root)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    made = Host(tmp_path)
    for version in ("1.0.0", "2.0.0"):
        made.install(version)
    yield made
    made.cleanup()


def test_the_new_release_answers_after_a_deploy(host: Host) -> None:
    host.call("deploy", "1.0.0")
    assert answer(host.port) == "1.0.0"
    info = host.call("deploy", "2.0.0")  # stop, then the port is free (waited for), then start
    assert info["switched"] and answer(host.port) == "2.0.0"


def test_a_port_taken_by_another_program_fails_the_deploy_naming_it(host: Host) -> None:
    host.call("deploy", "1.0.0")
    host.stop()
    other = host.foreign()  # an app left running elsewhere took the port
    with pytest.raises(release.ReleaseError) as failed:
        host.call("deploy", "2.0.0")
    message = str(failed.value)
    assert (
        f"port {host.port} on 127.0.0.1 (smoke check 'port') is held by pid {other.pid} ({sys.executable} -c"
        in message
    )
    assert "after stop" in message and "nothing was switched: current is still 1.0.0" in message
    assert failed.value.info["ports_held"] and "switched" not in failed.value.info
    assert host.live == "1.0.0" and host.history() == ["1.0.0"]
    other.kill()
    other.wait()
    host.call("deploy", "2.0.0")
    assert answer(host.port) == "2.0.0"


def test_a_stop_that_misses_the_old_process_fails_the_deploy(host: Host) -> None:
    host.call("deploy", "1.0.0")
    (host.root / "shared" / "app.pid").unlink()  # a lost pidfile: stop finds nothing to stop
    with pytest.raises(release.ReleaseError) as failed:
        host.call("deploy", "2.0.0")
    message = str(failed.value)
    assert f"port {host.port} on 127.0.0.1 (smoke check 'port') is held by pid " in message
    assert (
        f"current/app.py {host.port} shared/app.pid), which runs in {host.root}: service.stop did not stop it"
        in message
    )
    assert host.live == "1.0.0" and answer(host.port) == "1.0.0", (
        "the old release still answers, as current says"
    )
    assert host.history() == ["1.0.0"]


def test_a_rollback_whose_target_cannot_listen_fails(host: Host) -> None:
    host.call("deploy", "1.0.0")
    host.call("deploy", "2.0.0")
    (host.root / "shared" / "app.pid").unlink()
    with pytest.raises(release.ReleaseError) as failed:
        host.call("rollback")
    message = str(failed.value)
    assert message.startswith("1.0.0 cannot listen: ports it needs are still in use after stop")
    assert "nothing was switched: current is still 2.0.0" in message and "run the rollback again" in message
    assert host.live == "2.0.0" and answer(host.port) == "2.0.0"


def test_a_restart_of_the_live_release_checks_its_ports_too(host: Host) -> None:
    host.call("deploy", "1.0.0")
    (host.root / "shared" / "app.pid").unlink()
    broken = {"checks": [{"name": "never", "command": "false"}], "timeout": 0.2}
    with pytest.raises(release.ReleaseError, match=r"1\.0\.0 stays current and is not started again"):
        host.call("rollback", "1.0.0", smoke=broken, ports=[host.port])  # its smoke pass fails: restarted


def test_a_first_deploy_needs_its_ports_free_too(host: Host) -> None:
    host.foreign()
    with pytest.raises(release.ReleaseError, match=r"before start \(no release was live: no stop ran\)"):
        host.call("deploy", "1.0.0")
    assert host.live is None and not (host.root / ".relkit" / "history.jsonl").exists()


def test_service_ports_replace_the_smoke_checks_ports(host: Host) -> None:
    host.call("deploy", "1.0.0")
    host.stop()
    other = host.foreign("127.0.0.2")
    # the port smoke check is on 127.0.0.1: a listener on 127.0.0.2 does not keep the app from it
    host.call("deploy", "2.0.0")
    assert answer(host.port) == "2.0.0"
    # a bare port means any address: the listener on 127.0.0.2 holds it
    with pytest.raises(
        release.ReleaseError,
        match=rf"port {host.port} \(service.ports\[0\]\) is held by pid {other.pid} \(.*\), "
        r"listening on 127\.0\.0\.2;",
    ):
        host.call("deploy", "1.0.0", ports=[host.port], smoke=None)
    assert host.live == "2.0.0"
    host.call("deploy", "1.0.0", ports=[{"port": str(host.port), "host": "127.0.0.1"}])
    assert answer(host.port) == "1.0.0"
    # []: nothing checked (the app's own failure to bind is then the smoke checks' to find)
    host.stop()
    host.foreign()
    assert host.call("deploy", "2.0.0", ports=[])["switched"]


def test_a_bad_port_setting_changes_nothing(host: Host) -> None:
    host.call("deploy", "1.0.0")
    with pytest.raises(
        release.ReleaseError, match=r"service.ports\[0\]: 'http' is not a port .*nothing was changed"
    ):
        host.call("deploy", "2.0.0", ports=["http"])
    assert host.live == "1.0.0" and answer(host.port) == "1.0.0", "not even stopped"


def test_without_a_stop_command_a_live_release_is_not_waited_for(host: Host) -> None:
    """start must replace the running process itself then (e.g. systemctl restart)."""
    assert release.guarded_ports(params(host.root, smoke=smoke(host.port), stop=None), "1.0.0") == []
    assert release.guarded_ports(params(host.root, smoke=smoke(host.port), stop=None), None) == [
        ("127.0.0.1", host.port, "smoke check 'port'")
    ]


def test_smoke_checks_of_another_machine_guard_nothing() -> None:
    checks = [
        {"name": "db", "port": 5432, "host": "192.0.2.1"},  # TEST-NET-1: never this host's
        {"name": "web", "port": "8080", "host": "localhost"},
        {"name": "page", "http": "http://127.0.0.1:8080/"},
    ]
    found = ports.guards(None, checks)
    assert {(addr, port) for addr, port, _ in found} <= {("127.0.0.1", 8080), ("::1", 8080)}
    assert ("127.0.0.1", 8080, "smoke check 'web'") in found


def test_listeners_are_read_from_proc_net(tmp_path: Path) -> None:
    net = tmp_path / "net"
    net.mkdir()
    header = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    )
    (net / "tcp").write_text(
        header
        + "   0: 0200007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1\n"
        + "   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 112 1\n"
    )
    (net / "tcp6").write_text(
        header + "   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A "
        "00000000:00000000 00:00000000 00000000     0        0 113 1\n"
        + "   1: 0000000000000000FFFF00000300007F:1F91 00000000000000000000000000000000:0000 0A "
        "00000000:00000000 00:00000000 00000000     0        0 114 1\n"
    )
    assert ports.listeners(str(tmp_path)) == [
        ("127.0.0.2", 8080, "111"),
        ("::", 80, "113"),
        ("127.0.0.3", 8081, "114"),
    ]
    held = ports.held(
        [("127.0.0.1", 8080), ("127.0.0.2", 8080), ("10.0.0.1", 80), ("127.0.0.3", 8081)], str(tmp_path)
    )
    assert held == [
        ("127.0.0.2", 8080, "127.0.0.2", "111"),
        ("10.0.0.1", 80, "::", "113"),  # listening on every address
        ("127.0.0.3", 8081, "127.0.0.3", "114"),  # IPv4-mapped
    ]


def test_waiting_ends_when_the_old_process_lets_go(tmp_path: Path) -> None:
    port = free_port()
    other = foreign(port, tmp_path)
    found = [("127.0.0.1", port, "smoke check 'port'")]
    assert ports.wait_free(found, 0)  # held, no wait
    with subprocess.Popen(["sh", "-c", f"sleep 0.3; kill {other.pid}"]):
        assert ports.wait_free(found, 30) == []
    other.wait()
