"""Real OpenSSH test hosts on loopback addresses, for integration tests and benchmarks.

Each host is an ``sshd`` listening on its own ``127.0.0.X:22`` inside private mount, UTS
and PID namespaces: ``hostname`` answers the host's name, ``/opt`` is a bind mount of
``<workdir>/<name>/opt`` (so the controller can seed and inspect it), ``/proc`` shows
only the host's own processes and, unless ``private_home=False``, root's home ``/root`` is
the empty ``<workdir>/<name>/home`` (so the controller's dotfiles, e.g. a slow pyenv
``.bashrc``, do not run on every ssh command).  Everything else (``/etc``, ``/tmp``,
``/var``, ``/usr``) is shared with the controller and with the other hosts.

sshd is the init process of its PID namespace, so killing it takes every process of the
host (sessions, shells, Ansible modules) down with it and the kernel reaps them: stopping
never leaves orphans.  Needs root, openssh-server, openssh-client and util-linux.

From Python::

    with SshHostPool(tmp_path / "hosts", count=3) as pool:
        inventory = pool.write_inventory(tmp_path / "inventory.yml", {"web": pool.hosts})
        pool.hosts[0].ssh("hostname").stdout  # "web1\\n"

From a shell (molecule create/destroy, manual poking; the hosts outlive the command)::

    python -m tests.sshhosts up WORKDIR --count 3 --inventory WORKDIR/inventory.yml
    python -m tests.sshhosts down WORKDIR
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

__all__ = ["SshHost", "SshHostError", "SshHostPool", "check_environment", "port_open"]

SSHD = "/usr/sbin/sshd"
SSH_PORT = 22
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
OPT = "/opt"
HOME = "/root"

_TOOLS = {
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "mount": "mount",
}
_STATE_FILE = "pool.json"
# sun_path holds 107 characters and ssh first binds "<ControlPath>.<16 random chars>";
# with socket names like "127.0.0.254-22-root" a directory of <= 56 characters fits.
_MAX_CONTROL_DIR = 56
_SSH_OPTIONS = (
    "BatchMode=yes",
    "IdentitiesOnly=yes",
    "StrictHostKeyChecking=no",
    "UserKnownHostsFile=/dev/null",
    "LogLevel=ERROR",
    "ConnectTimeout=5",
)
# Runs inside the new namespaces: name the host, give it its own /opt (and /root),
# become sshd.
_LAUNCH = (
    'set -e; hostname "$1"; mount --bind "$2" /opt; '
    'if [ -n "$6" ]; then mount --bind "$6" /root; fi; '
    'exec "$3" -D -f "$4" -E "$5"'
)

# Addresses in use by pools of any process on this machine: one flock()ed file per address,
# held open (fd below) for the pool's lifetime and released by the kernel if we die.
LOCK_DIR = Path("/run/sshhosts")
_reserved: dict[str, int] = {}
_reserved_lock = threading.Lock()


class SshHostError(RuntimeError):
    """An SSH test host could not be prepared, started, stopped or changed."""


class _AddressInUseError(SshHostError):
    """sshd could not bind its address (someone took it after we picked it)."""


@functools.cache
def _namespace_probe() -> str:
    """Return why namespaces cannot be created here, or "" if they can."""
    probe = subprocess.run(
        ["unshare", "--mount", "--uts", "--pid", "--fork", "--mount-proc", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode == 0:
        return ""
    return probe.stderr.strip() or f"exit status {probe.returncode}"


def check_environment() -> None:
    """Raise SshHostError naming everything that is missing to run SSH test hosts."""
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (creates mount/UTS/PID namespaces, binds port 22)")
    if not os.access(SSHD, os.X_OK):
        problems.append(f"{SSHD} not found: apt-get install openssh-server")
    problems += [
        f"{tool} not found: apt-get install {package}"
        for tool, package in _TOOLS.items()
        if shutil.which(tool) is None
    ]
    if not Path(OPT).is_dir():
        problems.append(f"{OPT} does not exist (it is the bind-mount target): mkdir {OPT}")
    if not problems and (why := _namespace_probe()):
        problems.append(
            f"cannot create namespaces (unshare -m -u -p: {why}); "
            "a container needs CAP_SYS_ADMIN (docker run --privileged)"
        )
    if problems:
        raise SshHostError("cannot run SSH test hosts:\n  - " + "\n  - ".join(problems))


def port_open(address: str, port: int = SSH_PORT, timeout: float = 0.2) -> bool:
    """Return whether something accepts TCP connections on address:port."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _keygen(path: Path, comment: str) -> None:
    if path.exists() and path.with_suffix(".pub").exists():
        return
    path.unlink(missing_ok=True)
    argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SshHostError(f"ssh-keygen for {path} failed: {result.stderr.strip()}")


def _claim_address(address: str) -> bool:
    """Lock address for this process; False if a pool (of any process) holds it."""
    with _reserved_lock:
        if address in _reserved:
            return False
        LOCK_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = os.open(LOCK_DIR / f"{address}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        _reserved[address] = fd
        return True


def _release_address(address: str) -> None:
    with _reserved_lock:
        fd = _reserved.pop(address, None)
    if fd is not None:
        os.close(fd)


def _reserve_address(first_octet: int) -> str:
    """Claim the first 127.0.0.X (X >= first_octet) no pool holds and nothing listens on."""
    for octet in range(first_octet, 255):
        address = f"127.0.0.{octet}"
        if _claim_address(address):
            if not port_open(address):
                return address
            _release_address(address)
    raise SshHostError(
        f"no free loopback address 127.0.0.{first_octet}..254 with nothing listening on "
        f"port {SSH_PORT} (is an sshd listening on 0.0.0.0:{SSH_PORT}?)"
    )


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}


def _first_child(pid: int) -> int | None:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:  # kernel without CONFIG_PROC_CHILDREN
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                    children.append(stat.parent.name)
            except (OSError, ValueError, IndexError):
                continue
    return int(children[0]) if children else None


def _tail(path: Path, start: int = 0, limit: int = 4000) -> str:
    try:
        with path.open("rb") as file:
            file.seek(start)
            text = file.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return text[-limit:]


def _mount_points(*prefixes: Path) -> set[str]:
    """Mount points of our own (root) mount namespace at or below any of prefixes."""
    points = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if any(point == str(p) or point.startswith(f"{p}/") for p in prefixes):
            points.add(point)
    return points


@dataclass(eq=False)
class SshHost:
    """One SSH test host: an sshd on ``address:22`` with its own hostname and /opt.

    ``pid`` is the sshd (init of the host's PID namespace) as seen from the controller,
    ``None`` while the host is down.
    """

    name: str
    address: str
    root: Path
    client_key: Path = field(repr=False)
    control_dir: Path = field(repr=False)
    pid: int | None = None
    private_home: bool = field(default=True, repr=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_offset: int = field(default=0, init=False, repr=False)

    @property
    def opt(self) -> Path:
        """Controller-side directory that the host sees as /opt."""
        return self.root / "opt"

    @property
    def home(self) -> Path:
        """Controller-side directory that the host sees as /root (if private_home)."""
        return self.root / "home"

    @property
    def sshd_config(self) -> Path:
        return self.root / "sshd_config"

    @property
    def log(self) -> Path:
        """sshd log (``-E``); appended to across restarts."""
        return self.root / "sshd.log"

    @property
    def console_log(self) -> Path:
        """stdout/stderr of the namespace launcher (hostname, mount, early sshd errors)."""
        return self.root / "console.log"

    @property
    def control_path(self) -> Path:
        """ssh ControlPath of Ansible's connection to this host (see ansible_vars)."""
        return self.control_dir / f"{self.address}-{SSH_PORT}-root"

    @property
    def running(self) -> bool:
        return self.pid is not None and _alive(self.pid) and self._owns(self.pid)

    def ssh_argv(self, cmd: str) -> list[str]:
        """The ssh command line that runs cmd on this host as root."""
        options = [arg for option in _SSH_OPTIONS for arg in ("-o", option)]
        return [
            "ssh", "-F", "/dev/null", "-i", str(self.client_key), "-p", str(SSH_PORT),
            *options, f"root@{self.address}", cmd,
        ]  # fmt: skip

    def ssh(self, cmd: str, timeout: float = 30, *, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run a shell command on the host over real ssh as root (no multiplexing).

        Returns the completed process (text stdout/stderr; rc 255 means ssh itself
        failed, e.g. the host is down).  With check=True a non-zero rc raises.
        """
        result = subprocess.run(
            self.ssh_argv(cmd),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode:
            raise SshHostError(
                f"ssh {self.name} {cmd!r} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def stop_sshd(self) -> None:
        """Take the host down: SIGKILL its sshd and with it every process of the host.

        Returns once nothing listens on address:22 any more and Ansible's multiplexed
        connection to the host is gone.  /opt keeps its content; tmpfs mounts vanish.
        """
        self._kill()
        self._reap(time.monotonic() + STOP_TIMEOUT)

    def start_sshd(self) -> None:
        """Boot the host again in fresh namespaces (same name, address and /opt content)."""
        if self.running:
            return
        if port_open(self.address):
            raise SshHostError(f"{self.name}: {self.address}:{SSH_PORT} is taken by another process")
        self._launch()
        self._await_ready(time.monotonic() + START_TIMEOUT)

    def mount_tmpfs(self, path_inside: str, size: str) -> None:
        """Mount a tmpfs of size (e.g. "1M") at path_inside in this host only.

        Used to simulate a full disk.  The mount point is created first (under /opt it
        shows up as an empty directory on the controller); files written there stay in
        the host's tmpfs.  The mount dies with the host's namespace on stop_sshd.
        """
        script = 'mkdir -p -- "$1" && mount -t tmpfs -o "size=$2" tmpfs "$1"'
        self._in_namespace(script, path_inside, size)

    def unmount(self, path_inside: str) -> None:
        """Unmount something mounted with mount_tmpfs (the disk is "freed")."""
        self._in_namespace('umount -- "$1"', path_inside)

    def ansible_vars(self) -> dict[str, Any]:
        """Inventory variables that make Ansible reach this host over ssh."""
        return {
            "ansible_host": self.address,
            "ansible_user": "root",
            "ansible_port": SSH_PORT,
            "ansible_ssh_private_key_file": str(self.client_key),
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": (
                "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                "-o IdentitiesOnly=yes -o ControlMaster=auto -o ControlPersist=60s "
                f"-o ControlPath={self.control_dir}/%h-%p-%r"
            ),
            "ansible_ssh_pipelining": True,
        }

    # -- internals -------------------------------------------------------------------

    def _owns(self, pid: int) -> bool:
        """Whether pid is this host's launcher/sshd (guards against pid reuse)."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            return False
        return str(self.sshd_config).encode() in cmdline

    def _in_namespace(self, script: str, *args: str) -> None:
        if not self.running:
            raise SshHostError(f"{self.name} is down")
        argv = ["nsenter", "-t", str(self.pid), "-m", "--", "sh", "-c", script, "sh", *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if result.returncode:
            raise SshHostError(f"{self.name}: {' '.join(args)}: {result.stderr.strip()}")

    def _launch(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # privsep dir
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        argv = [
            "unshare", "--mount", "--uts", "--pid", "--fork", "--mount-proc",
            "--propagation", "private", "--kill-child",
            "sh", "-c", _LAUNCH, "sh",
            self.name, str(self.opt), SSHD, str(self.sshd_config), str(self.log),
            str(self.home) if self.private_home else "",
        ]  # fmt: skip
        with self.console_log.open("wb") as console:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = None

    def _diagnostics(self) -> str:
        console = _tail(self.console_log).strip() or "(empty)"
        log = _tail(self.log, self._log_offset).strip() or "(empty)"
        return f"--- {self.console_log}:\n{console}\n--- {self.log}:\n{log}"

    def _await_ready(self, deadline: float) -> None:
        proc = self._proc
        if proc is None:
            raise SshHostError(f"{self.name} was not launched")
        marker = f"Server listening on {self.address} port {SSH_PORT}"
        while True:
            if self.pid is None and proc.poll() is None:
                self.pid = _first_child(proc.pid)
            status = proc.poll()
            if status is not None:
                self._proc = self.pid = None
                new_log = _tail(self.log, self._log_offset)
                error = _AddressInUseError if "Address already in use" in new_log else SshHostError
                raise error(
                    f"sshd for {self.name} ({self.address}) exited with status {status} "
                    f"while starting\n{self._diagnostics()}"
                )
            if (
                self.pid is not None
                and marker in _tail(self.log, self._log_offset)
                and port_open(self.address)
            ):
                return
            if time.monotonic() > deadline:
                diagnostics = self._diagnostics()
                self.stop_sshd()
                raise SshHostError(
                    f"sshd for {self.name} did not accept connections on "
                    f"{self.address}:{SSH_PORT} within {START_TIMEOUT:g}s\n{diagnostics}"
                )
            time.sleep(0.01)

    def _kill(self) -> None:
        proc, pid = self._proc, self.pid
        if pid is None and proc is not None and proc.poll() is None:
            pid = _first_child(proc.pid)
        if pid is not None and self._owns(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # PID-namespace init: the kernel kills the rest
        elif proc is not None and proc.poll() is None:
            proc.kill()  # launcher had not forked yet; --kill-child covers a late fork

    def _reap(self, deadline: float) -> None:
        proc, pid = self._proc, self.pid
        if proc is not None:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        elif pid is not None:  # attached from another process: not our child
            while _alive(pid) and self._owns(pid):
                if time.monotonic() > deadline:
                    raise SshHostError(f"{self.name}: sshd pid {pid} survived SIGKILL")
                time.sleep(0.01)
        self._proc = self.pid = None
        while port_open(self.address):
            if time.monotonic() > deadline:
                raise SshHostError(f"{self.name}: {self.address}:{SSH_PORT} still accepts")
            time.sleep(0.01)
        self._drop_control_master(min(deadline, time.monotonic() + 1.0))

    def _drop_control_master(self, deadline: float) -> None:
        """Wait for Ansible's ControlPersist master to notice the host died."""
        path = self.control_path
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        if path.exists():
            subprocess.run(
                ["ssh", "-F", "/dev/null", "-o", f"ControlPath={path}", "-O", "exit", "x"],
                capture_output=True,
                timeout=5,
                check=False,
            )
            path.unlink(missing_ok=True)


class SshHostPool:
    """A set of SSH test hosts named <prefix>1..<prefix>N under one work directory.

    Layout: ``workdir/client_key{,.pub}``, ``workdir/authorized_keys`` and per host
    ``workdir/<name>/{opt/, hostkey, sshd_config, sshd.log, console.log}``.  Use as a
    context manager (start on enter, stop on exit) or call start()/stop().
    """

    def __init__(
        self,
        workdir: Path,
        count: int,
        prefix: str = "web",
        first_octet: int | None = None,
        *,
        private_home: bool = True,
    ) -> None:
        check_environment()
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self.workdir = Path(workdir).resolve()
        self.private_home = private_home
        for hidden in self._shadowed():
            if self.workdir == hidden or hidden in self.workdir.parents:
                raise SshHostError(f"workdir {self.workdir} must not be under {hidden}: hosts hide it")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.client_key = self.workdir / "client_key"
        self.authorized_keys = self.workdir / "authorized_keys"
        _keygen(self.client_key, "sshhosts-client")
        self.authorized_keys.write_text(self.client_key.with_suffix(".pub").read_text())
        self.control_dir = self.workdir / "cp"
        self._own_control_dir = len(str(self.control_dir)) > _MAX_CONTROL_DIR
        if self._own_control_dir:
            self.control_dir = Path(tempfile.mkdtemp(prefix="sshcp-", dir="/tmp"))
        else:
            self.control_dir.mkdir(mode=0o700, exist_ok=True)
        self.hosts: list[SshHost] = []
        self._mounts_before = _mount_points(*self._shadowed(), self.workdir)
        octet = 11 if first_octet is None else first_octet
        try:
            for index in range(1, count + 1):
                name = f"{prefix}{index}"
                root = self.workdir / name
                (root / "opt").mkdir(parents=True, exist_ok=True)
                (root / "home").mkdir(mode=0o700, exist_ok=True)
                _keygen(root / "hostkey", name)
                address = _reserve_address(octet)
                octet = int(address.rsplit(".", 1)[1]) + 1
                host = SshHost(name, address, root, self.client_key, self.control_dir, None, private_home)
                self.hosts.append(host)
                self._write_config(host)
        except BaseException:
            self._release()
            raise

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SshHostPool({self.workdir}, hosts={[h.address for h in self.hosts]})"

    def start(self) -> Self:
        """Start every sshd; return once all accept connections (10 s budget).

        A pool can be started again after stop(); /opt and /root contents persist.
        """
        self._mounts_before = _mount_points(*self._shadowed(), self.workdir)
        deadline = time.monotonic() + START_TIMEOUT
        launched = [host for host in self.hosts if not host.running]
        try:
            for host in launched:
                if host.address not in _reserved and not _claim_address(host.address):
                    self._readdress(host)  # restarted pool: a pool elsewhere took the address
                host._launch()
            for host in launched:
                for attempt in range(5):
                    try:
                        host._await_ready(deadline)
                        break
                    except _AddressInUseError:  # lost a race for the address: take another
                        if attempt == 4:
                            raise
                        self._readdress(host)
                        host._launch()
        except BaseException:
            self.stop()
            raise
        self._save_state()
        return self

    def stop(self) -> None:
        """Stop every sshd (all killed at once) and check nothing is left behind."""
        errors = []
        for host in self.hosts:
            host._kill()
        deadline = time.monotonic() + STOP_TIMEOUT
        for host in self.hosts:
            try:
                host._reap(deadline)
            except SshHostError as error:
                errors.append(str(error))
        leftovers = _mount_points(*self._shadowed(), self.workdir) - self._mounts_before
        if leftovers:
            errors.append(f"mounts leaked into the root namespace: {sorted(leftovers)}")
        self._release()
        (self.workdir / _STATE_FILE).unlink(missing_ok=True)
        if errors:
            raise SshHostError("stopping SSH test hosts:\n" + "\n".join(errors))

    def write_inventory(
        self,
        path: Path,
        groups: dict[str, list[SshHost]] | None = None,
        group_vars: dict[str, dict[str, Any]] | None = None,
    ) -> Path:
        """Write a YAML inventory ``all: children: <group>: hosts: <name>: <vars>``.

        groups defaults to ``{prefix: hosts}``.  group_vars maps a group name (or "all")
        to variables for that group.
        """
        groups = {self.prefix: self.hosts} if groups is None else groups
        children: dict[str, Any] = {
            group: {"hosts": {host.name: host.ansible_vars() for host in members}}
            for group, members in groups.items()
        }
        inventory: dict[str, Any] = {"all": {"children": children}}
        for group, variables in (group_vars or {}).items():
            if group == "all":
                inventory["all"]["vars"] = dict(variables)
            elif group in children:
                children[group]["vars"] = dict(variables)
            else:
                raise ValueError(f"group_vars for unknown group {group!r} (groups: {[*groups]})")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
        return path

    @classmethod
    def attach(cls, workdir: Path) -> SshHostPool:
        """Take over a pool started by another process (``up``), e.g. to stop it."""
        workdir = Path(workdir).resolve()
        try:
            state = json.loads((workdir / _STATE_FILE).read_text())
        except FileNotFoundError:
            raise SshHostError(f"no running pool in {workdir} ({_STATE_FILE} missing)") from None
        pool = cls.__new__(cls)
        pool.workdir = workdir
        pool.prefix = state["prefix"]
        pool.private_home = state["private_home"]
        pool.client_key = workdir / "client_key"
        pool.authorized_keys = workdir / "authorized_keys"
        pool.control_dir = Path(state["control_dir"])
        pool._own_control_dir = state["own_control_dir"]
        pool._mounts_before = set(state["mounts_before"])
        pool.hosts = []
        for item in state["hosts"]:
            host = SshHost(
                item["name"], item["address"], workdir / item["name"],
                pool.client_key, pool.control_dir, item["pid"], pool.private_home,
            )  # fmt: skip
            _claim_address(host.address)  # best effort: the `up` process released it
            pool.hosts.append(host)
        return pool

    # -- internals -------------------------------------------------------------------

    def _shadowed(self) -> list[Path]:
        """Controller paths that the hosts see replaced by their own directories."""
        return [Path(OPT), Path(HOME)] if self.private_home else [Path(OPT)]

    def _write_config(self, host: SshHost) -> None:
        host.sshd_config.write_text(
            f"""\
ListenAddress {host.address}
Port {SSH_PORT}
AddressFamily inet
HostKey {host.root}/hostkey
AuthorizedKeysFile {self.authorized_keys}
PidFile none
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin yes
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
MaxSessions 64
MaxStartups 64:30:128
LoginGraceTime 10
LogLevel INFO
Subsystem sftp internal-sftp
# sntrup761 costs ~40 ms per connection; these are throwaway test hosts
KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org
"""
        )

    def _readdress(self, host: SshHost) -> None:
        old = host.address
        host.address = _reserve_address(int(old.rsplit(".", 1)[1]) + 1)
        _release_address(old)
        self._write_config(host)

    def _release(self) -> None:
        for host in self.hosts:
            _release_address(host.address)
        if self._own_control_dir:
            shutil.rmtree(self.control_dir, ignore_errors=True)

    def _save_state(self) -> None:
        state = {
            "prefix": self.prefix,
            "private_home": self.private_home,
            "control_dir": str(self.control_dir),
            "own_control_dir": self._own_control_dir,
            "mounts_before": sorted(self._mounts_before),
            "hosts": [
                {"name": h.name, "address": h.address, "pid": h.pid, "opt": str(h.opt)} for h in self.hosts
            ],
        }
        (self.workdir / _STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """``up`` starts a pool that outlives the command, ``down`` stops it."""
    parser = argparse.ArgumentParser(prog="python -m tests.sshhosts", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start hosts, print them as JSON")
    up.add_argument("workdir", type=Path)
    up.add_argument("--count", type=int, default=3)
    up.add_argument("--prefix", default="web")
    up.add_argument("--first-octet", type=int)
    up.add_argument("--inventory", type=Path, help="also write a YAML inventory here")
    up.add_argument("--shared-home", action="store_true", help="hosts see the real /root")
    down = commands.add_parser("down", help="stop the hosts started by up")
    down.add_argument("workdir", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "down":
            if not (args.workdir / _STATE_FILE).exists():
                print(f"no running pool in {args.workdir}")  # idempotent, like a destroy
                return 0
            SshHostPool.attach(args.workdir).stop()
            return 0
        pool = SshHostPool(
            args.workdir,
            args.count,
            args.prefix,
            args.first_octet,
            private_home=not args.shared_home,
        ).start()
        if args.inventory:
            pool.write_inventory(args.inventory)
        print((pool.workdir / _STATE_FILE).read_text(), end="")
        warnings.simplefilter("ignore", ResourceWarning)  # launchers keep running on purpose
    except SshHostError as error:
        parser.exit(1, f"error: {error}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
