"""Hand data passwords, ``secrets:`` values and the gate pass to a play without writing them anywhere.

``data:`` items name the controller environment variable holding their password
(``password_env``), relkit.yml ``secrets:`` names variables too. Ansible could read them with
``lookup('env')``, but ansible-runner dumps the whole environment of the play into
``artifacts/<run>/command``. So for the length of one play relkit keeps those variables out of
the play's environment and serves their values instead on a Unix socket in a private
directory; the ``relkit_secret`` and ``relkit_secret_values`` lookup plugins
(``playbooks/lookup_plugins``) fetch them from there and the roles pass them to the host as
``no_log`` module options. Run without relkit (plain ansible-playbook), the lookups read the
variables directly.

Who gets an answer. Every play gets its own socket and token (:func:`serve` wraps one play),
and both die with the play. The token alone is not enough: any process of the same user can
read it in ansible-playbook's ``/proc/<pid>/environ``, and with ``ansible_connection: local``
every module (and so every command and app a play starts) used to inherit it. So the channel
answers only

- the processes that run the play's lookups and action plugins: ansible-playbook, the process
  relkit started (a child of the serving process), and its workers (its children), told by
  the peer's kernel-given pid (``SO_PEERCRED``) and its parents in ``/proc``. The first
  process it answers fixes which child of relkit is the play; a module, a command or an app
  the play runs sits further down (worker → module → shell → app) or, orphaned, under init,
  and is refused. The serving process itself (relkit) may ask too: it holds the values anyway;
- each such process once: the values to the first request (the client keeps them for the
  process's life, :func:`fetch_from_env`, and Ansible forks a fresh worker for each task and
  host, so no honest process asks twice), the gate pass to the first request for it (one per
  run: :func:`fetch_gate_pass`).

A play on an execution node (``engine: worker``) reaches the channel through OpenSSH's forward
of a node-side socket to this one (:func:`serve` with ``relay=True``): every request then comes
from relkit's ssh client, the one peer the channel admits, and the node's processes behind it
cannot be told apart, so the values are answered to each request (the node-side socket is the
ssh user's, mode 0600, and the token is still needed); the gate pass is still served once.

A refused request gets ``{"relkit:refused": why}`` (the lookups fail the task saying so); a
wrong token gets nothing at all. Where the peer cannot be told (no ``SO_PEERCRED`` or no
``/proc``: not Linux) the token alone admits each request, as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

SOCKET_ENV = "RELKIT_SECRETS_SOCKET"
TOKEN_ENV = "RELKIT_SECRETS_TOKEN"
GATE_PASS = "relkit:gate-pass"
"""Served key (never an environment variable name) carrying the run's gate pass
(:func:`relkit.gatekeeper.issue_pass`: run id, environment, manifest, version, sha256 and a
random nonce). Only the relkit process that evaluated the gates, recorded them (with the
pass's digest) and holds the environment lock serves it, once, and only to a request naming
this key (:func:`fetch_gate_pass`): the secret lookups never see it. A pass alone proves
nothing: the play's ``relkit_gate`` task accepts it only when it matches that recorded, passing
evaluation (:func:`relkit.gatekeeper.refuse_pass`)."""
REFUSED = "relkit:refused"
"""Key of the answer to a request the channel refuses (never an environment variable name)."""

_SERVED: dict[tuple[str, str], dict[str, str]] = {}
"""What this process was served (socket path and token → values): asked once per process."""


def password_envs(data: Iterable[object]) -> list[str]:
    """The environment variable names the ``data:`` items read their passwords from."""
    names = (getattr(item, "password_env", None) for item in data)
    return sorted({n for n in names if n})


@contextlib.contextmanager
def serve(
    names: Iterable[str],
    environ: Mapping[str, str] | None = None,
    gate_pass: Mapping[str, str] | None = None,
    relay: bool = False,
) -> Iterator[dict[str, str]]:
    """Serve the values of ``names`` from ``environ`` (and ``gate_pass``, once) while the block runs.
    ``relay``: the play asks through a forward (ssh), which may ask for the values more than once.

    Yields the environment variables to give the play: the socket path and token. The caller
    keeps ``names`` themselves out of the play's environment (``PlayRequest.hidden_env``).
    """
    environ = os.environ if environ is None else environ
    values = {n: environ[n] for n in names if environ.get(n)}
    once = [json.dumps(dict(gate_pass), sort_keys=True)] if gate_pass else []
    if not values and not once:
        yield {}
        return
    token = secrets.token_urlsafe(24)
    workdir = Path(tempfile.mkdtemp(prefix="relkit-secrets-"))  # 0700, private to this user
    path = str(workdir / "socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stop = threading.Event()
    channel = _Channel(token, values, once, os.getpid(), relay)
    try:
        server.bind(path)
        Path(path).chmod(0o600)
        server.listen(16)
        server.settimeout(0.2)
        thread = threading.Thread(target=channel.answer, args=(server, stop), daemon=True)
        thread.start()
        yield {SOCKET_ENV: path, TOKEN_ENV: token}
    finally:
        stop.set()
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)


class Refused(Exception):
    """A request the channel does not answer; says why."""


def _stat(pid: int) -> tuple[int, int]:
    """The parent pid and start time (clock ticks since boot) of process ``pid`` (``/proc``)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        raise Refused(f"process {pid} is gone or hidden") from None
    fields = data[data.rindex(b")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
    return int(fields[1]), int(fields[19])


def _peer(conn: socket.socket) -> tuple[int, int] | None:
    """The pid and uid of the process at the other end of ``conn`` (None where unknowable)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None or not Path("/proc/self").is_dir():
        return None
    pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return pid, uid


class _Channel:
    """One play's channel: its token, what it serves, and whom it has answered."""

    def __init__(
        self, token: str, values: dict[str, str], once: list[str], owner: int, relay: bool = False
    ) -> None:
        self.token = token.encode()
        self.relay = relay
        """The play asks through a relay (relkit's ssh client): its requests are answered each time."""
        self.payload = json.dumps(values).encode()
        self.once = once
        self.owner = owner
        """The serving process (relkit): the play's ansible-playbook is its child."""
        self.play: tuple[int, int] | None = None
        """The play's ansible-playbook (pid, start time), fixed by the first request admitted."""
        self.answered: set[tuple[int, int]] = set()
        """The processes (pid, start time) served the values."""

    def admit(self, conn: socket.socket) -> tuple[int, int] | None:
        """The peer (pid, start time) when it is relkit, the play's ansible-playbook or one of
        its workers, else :class:`Refused`; None when the platform cannot tell the peer."""
        peer = _peer(conn)
        if peer is None:
            return None
        pid, uid = peer
        if uid != os.geteuid():
            raise Refused(f"process {pid} runs as uid {uid}, not as relkit's")
        parent, started = _stat(pid)
        if pid == self.owner:
            return pid, started
        if parent == self.owner:
            play = (pid, started)  # ansible-playbook itself
        else:
            grandparent, parent_started = _stat(parent)
            if grandparent != self.owner:
                raise Refused(
                    f"process {pid} is not this run's play (its ansible-playbook or a worker of it)"
                )
            play = (parent, parent_started)  # a worker of ansible-playbook
        if self.play is None:
            self.play = play
        elif play != self.play:
            raise Refused(f"process {pid} belongs to another process than this run's ansible-playbook")
        return pid, started

    def reply(self, conn: socket.socket, wanted: bytes) -> bytes:
        """What to send for a request naming ``wanted`` (b"": the values)."""
        try:
            peer = self.admit(conn)
            if wanted == GATE_PASS.encode():
                return json.dumps({GATE_PASS: self.once.pop()} if self.once else {}).encode()
            if peer is not None and not self.relay:
                if peer in self.answered:
                    raise Refused(f"process {peer[0]} was answered already (once per process)")
                self.answered.add(peer)
            return self.payload
        except Refused as exc:
            return json.dumps({REFUSED: str(exc)}).encode()

    def answer(self, server: socket.socket, stop: threading.Event) -> None:
        """Answer ``TOKEN`` with the values, ``TOKEN relkit:gate-pass`` with the pass (the first
        time only), each to the processes :meth:`admit` lets in; a wrong token gets nothing."""
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    conn.settimeout(5)
                    line = conn.makefile("rb").readline(4096).strip()
                    given, _, wanted = line.partition(b" ")
                    if not secrets.compare_digest(given, self.token):
                        continue
                    conn.sendall(self.reply(conn, wanted))
                except (OSError, ValueError, IndexError):
                    continue


def fetch_from_env(timeout: float = 10) -> dict[str, str]:
    """What the running relkit serves to this play ({} when run without relkit).

    Asked once per process (the channel answers each process once): later calls, and the
    workers Ansible forks from a process that asked, get what it was served."""
    path = os.environ.get(SOCKET_ENV)
    if not path:
        return {}
    key = (path, os.environ.get(TOKEN_ENV, ""))
    if key not in _SERVED:
        served = fetch(*key, timeout)
        _SERVED.clear()  # another play's values, if any, are of no use any more
        _SERVED[key] = served
    return dict(_SERVED[key])


def served_value(name: str) -> str | None:
    """The value relkit serves this play for the variable ``name`` (None outside a play, or when
    the channel does not answer this process)."""
    try:
        return fetch_from_env().get(name)
    except (OSError, ValueError):
        return None


def fetch_gate_pass(timeout: float = 10) -> dict[str, str] | None:
    """The gate pass the running relkit serves to this play (None without one; it is served once).

    What comes back is only a claim: whoever set ``RELKIT_SECRETS_SOCKET`` answers on it. The
    ``relkit_gate`` task checks it against the ledger (:func:`relkit.gatekeeper.refuse_pass`).
    """
    path = os.environ.get(SOCKET_ENV)
    if not path:
        return None
    answer: object = fetch(path, os.environ.get(TOKEN_ENV, ""), timeout, key=GATE_PASS)
    raw = answer.get(GATE_PASS) if isinstance(answer, dict) else None
    if not raw:
        return None
    served = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(served, dict):
        raise ValueError("the gate pass is not a JSON object")
    return {str(k): str(v) for k, v in served.items()}


def fetch(path: str, token: str, timeout: float = 10, key: str | None = None) -> dict[str, str]:
    """Client side (relkit's lookup plugins): the values served on ``path`` for ``token``
    (``key``: ask for that one served key instead, e.g. :data:`GATE_PASS`); ``{}`` for a wrong
    token; ValueError when the channel refuses this process (saying why)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(path)
        conn.sendall(token.encode() + (b" " + key.encode() if key else b"") + b"\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    answer = json.loads(b"".join(chunks) or b"{}")
    if isinstance(answer, dict) and REFUSED in answer:
        raise ValueError(f"the secret channel refused this process: {answer[REFUSED]}")
    return dict(answer)
