"""Rules the controller and the hosts share, written once (standard library only).

relkit's host modules import this as ``ansible.module_utils.relkit_rules``; the controller
loads the same file through :mod:`relkit.hostrules`. Keep it free of Ansible and of relkit.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import re
import secrets

HOST_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}
"""ansible-runner host event -> task status."""

CALLBACK_EVENTS = {status: event for event, status in HOST_EVENTS.items() if status != "skipped"}
"""task status -> ansible-runner event (what a callback plugin builds from its v2 hooks)."""


def new_run_id():
    """A sortable, unique run id: UTC time to the second, then six hex digits."""
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


# -- names ---------------------------------------------------------------------------------

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
"""App names, versions, environment and data item names: they become paths on hosts."""


def is_safe_name(value):
    """1-64 characters of letters, digits, ``. _ + -``, starting with a letter or digit, no ``..``."""
    return isinstance(value, str) and SAFE_NAME.fullmatch(value) is not None and ".." not in value


# -- files ---------------------------------------------------------------------------------


def sha256_file(path):
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path, data, mode=None, replace=True, sync=True):
    """Replace ``path`` with ``data`` (text is written as UTF-8), whole or not at all.

    The data goes to a temporary file beside ``path`` (``.<name>.tmp-<pid>-<random>``), which
    is fsynced (unless ``sync`` is false: a crash of the machine may then leave the old file)
    and renamed over ``path``: a reader sees the old file or the new one, never part of one. ``mode``: the file's permissions (None: what open() gives, 0o666 less the
    umask). ``replace=False`` creates ``path`` only if it does not exist (a hard link, never a
    rename: FileExistsError when it does). The temporary file is removed when anything fails.
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, ".%s.tmp-%d-%s" % (name, os.getpid(), secrets.token_hex(4)))
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600 if mode is not None else 0o666
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            if sync:
                os.fsync(handle.fileno())
        if replace:
            os.rename(tmp, path)
        else:
            try:
                os.link(tmp, path)
            finally:
                os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# -- the layout of a deploy path on a host -------------------------------------------------

RELEASES = "releases"
"""releases/<version>/: one directory per installed release."""
SHARED = "shared"
"""shared/: paths linked into every release (relkit.yml shared:)."""
SNAPSHOTS = "snapshots"
"""snapshots/<id>/: data snapshots."""
STATE = ".relkit"
"""relkit's own files on the host: lock, history, health state, service log."""
INCOMING = STATE + "/incoming"
"""Uploaded artifacts waiting to be installed."""
CURRENT = "current"
"""The symlink to the live release (releases/<version>)."""
MARKER = ".relkit-release.json"
"""A release directory's completion marker (version, sha256, installed_at, run_id)."""
LOCK = STATE + "/lock"
"""flock(2)ed by every relkit operation on the deploy path."""
HISTORY = STATE + "/history.jsonl"
"""One line per switch of current: the run, the release and the ledger head it witnessed."""
HISTORY_KEEP = 200
"""Lines a host's history keeps (older switches are dropped, and cannot be witnessed)."""
SWITCH_ACTIONS = ("deploy", "rollback")
"""A history line's ``action``: every line records a switch of ``current`` by a deploy or a rollback."""
SMOKE_PASSED = "passed"
SMOKE_FAILED = "failed"
"""A history line's ``smoke``: the outcome of the smoke test that followed its switch, set on the
line (rewritten atomically) once known; ``failed`` also when ``start`` failed. Absent or null:
not known (a line written by an older relkit, or a call that ended between switch and smoke)."""
LAYOUT_DIRS = (RELEASES, SHARED, SNAPSHOTS, STATE, INCOMING)
"""The directories relkit creates under a deploy path (parents first)."""
RESERVED = (RELEASES, SNAPSHOTS, STATE, CURRENT)
"""Top-level names under a deploy path that are relkit's own (data lives in shared/ or elsewhere)."""


def rollback_target(history, live, installed):
    """The release a rollback without ``--to`` goes to, from a host's history lines (oldest first).

    The release live before the current one: walking the switches back from the newest, the
    first release other than ``live`` that is in ``installed`` and good, skipping only releases
    rolled back *from* (or whose smoke test failed) since they were last good. A release is good
    again once a switch to it (a redeploy, or a rollback to it) passes its smoke test; a switch
    whose smoke outcome is not known counts as good. None when there is no such release.
    """
    good = {}
    for line in history:
        if line.get("action") not in SWITCH_ACTIONS:
            continue
        if line.get("action") == "rollback" and line.get("previous"):
            good[line["previous"]] = False  # rolled back from
        if line.get("version"):
            good[line["version"]] = line.get("smoke") != SMOKE_FAILED
    for line in reversed(history):
        version = line.get("version")
        if (
            line.get("action") in SWITCH_ACTIONS
            and version != live
            and good.get(version)
            and version in installed
        ):
            return version
    return None


def make_layout(root):
    """Create the layout's directories under ``root``; True when any had to be created."""
    created = False
    for sub in LAYOUT_DIRS:
        path = os.path.join(root, sub)
        if not os.path.isdir(path):
            os.makedirs(path, exist_ok=True)
            created = True
    # uploads arrive by file transfer, with the controller file's mode: only the owner enters
    incoming = os.path.join(root, INCOMING)
    if os.stat(incoming).st_mode & 0o077:
        os.chmod(incoming, 0o700)
    return created


def free_mb(path):
    """Free MiB an unprivileged user can use on the file system holding ``path``."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize // (1024 * 1024)


# -- the environment of the commands relkit runs on a host ---------------------------------

CONTROLLER_ENV = frozenset(
    {"RELKIT_CLI", "RELKIT_PROJECT", "RELKIT_STATE_DIR", "RELKIT_USER", "RELKIT_RUN_ID"}
    | {"ORIGINAL_STDOUT_CALLBACK", "AD_HOC_COMMAND_ID"}
)
"""Variables of relkit's controller (and of ansible-runner) no command on a host may see."""
CONTROLLER_ENV_PREFIXES = ("RELKIT_SECRETS_", "ANSIBLE_", "_ANSIBLE_", "AWX_", "RUNNER_")
"""Likewise, by prefix: the secret channel's socket and token (RELKIT_SECRETS_SOCKET,
RELKIT_SECRETS_TOKEN), Ansible's configuration (ANSIBLE_VAULT_PASSWORD_FILE among it) and
ansible-runner's own."""


def command_env(environ, **extra):
    """The environment of a command relkit runs on a host (service start, stop and migrate,
    smoke and health command checks, pg_dump and psql): ``environ`` without the controller's
    variables (:data:`CONTROLLER_ENV`, :data:`CONTROLLER_ENV_PREFIXES`), then ``extra``.

    Over ssh a module's environment is the host's. With ``ansible_connection: local`` it is
    ansible-playbook's own, so an app a start command launched kept the secret channel's
    socket and token, ``RELKIT_CLI`` and the vault password file's path for its lifetime."""
    env = {
        name: value
        for name, value in environ.items()
        if name not in CONTROLLER_ENV and not name.startswith(CONTROLLER_ENV_PREFIXES)
    }
    env.update(extra)
    return env


# -- checks --------------------------------------------------------------------------------

SMOKE_KINDS = ("http", "port", "command")
"""Smoke check kinds, in the order a check's kind is decided (command when none is given)."""
HEALTH_KINDS = SMOKE_KINDS + ("log", "disk_free_mb", "memory_free_mb")
"""Health check kinds, likewise."""
HEALTH_RANK = {"ok": 0, "warning": 1, "critical": 2}
"""A check's or host's health status -> its rank (the worst wins; the metrics' value)."""


def check_kind(check, kinds=HEALTH_KINDS):
    """The kind of a check (a dict): the first of ``kinds`` it sets, else ``command``."""
    return next((kind for kind in kinds if check.get(kind)), "command")


# -- data items ----------------------------------------------------------------------------

PG_DEFAULTS = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
"""A postgresql data item's connection settings when relkit.yml leaves them out."""
PG_HOSTS = "first"
"""Where a postgresql data item is snapshotted by default: one database all hosts share."""
