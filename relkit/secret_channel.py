"""Hand data passwords to a play without writing them anywhere.

``data:`` items name the controller environment variable holding their password
(``password_env``). Ansible could read it with ``lookup('env')``, but ansible-runner dumps the
whole environment of the play into ``artifacts/<run>/command``. So for the length of one play
relkit keeps those variables out of the play's environment and serves their values instead on
a Unix socket in a private directory, to whoever presents a one-time token; the
``relkit_secret`` lookup plugin (``playbooks/lookup_plugins``) fetches them from there and the
role passes them to the host as a ``no_log`` module option. The socket and the token die with
the play. Run without relkit (plain ansible-playbook), the lookup reads the variable directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
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


def password_envs(data: Iterable[object]) -> list[str]:
    """The environment variable names the ``data:`` items read their passwords from."""
    names = (getattr(item, "password_env", None) for item in data)
    return sorted({n for n in names if n})


@contextlib.contextmanager
def serve(
    names: Iterable[str],
    environ: Mapping[str, str] | None = None,
    gate_pass: Mapping[str, str] | None = None,
) -> Iterator[dict[str, str]]:
    """Serve the values of ``names`` from ``environ`` (and ``gate_pass``, once) while the block runs.

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
    try:
        server.bind(path)
        Path(path).chmod(0o600)
        server.listen(16)
        server.settimeout(0.2)
        thread = threading.Thread(target=_answer, args=(server, token, values, once, stop), daemon=True)
        thread.start()
        yield {SOCKET_ENV: path, TOKEN_ENV: token}
    finally:
        stop.set()
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _answer(
    server: socket.socket, token: str, values: dict[str, str], once: list[str], stop: threading.Event
) -> None:
    """Answer ``TOKEN`` with ``values``, ``TOKEN relkit:gate-pass`` with the pass (the first time only)."""
    payload = json.dumps(values).encode()
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
                if not secrets.compare_digest(given, token.encode()):
                    continue
                if wanted == GATE_PASS.encode():
                    conn.sendall(json.dumps({GATE_PASS: once.pop()} if once else {}).encode())
                else:
                    conn.sendall(payload)
            except OSError:
                continue


def fetch_from_env(timeout: float = 10) -> dict[str, str]:
    """What the running relkit serves to this play ({} when run without relkit)."""
    path = os.environ.get(SOCKET_ENV)
    return fetch(path, os.environ.get(TOKEN_ENV, ""), timeout) if path else {}


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
    (``key``: ask for that one served key instead, e.g. :data:`GATE_PASS`)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(path)
        conn.sendall(token.encode() + (b" " + key.encode() if key else b"") + b"\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return json.loads(b"".join(chunks) or b"{}")
