#!/usr/bin/python
"""Ansible module: relkit's release directory operations on one host, folded into few round trips."""

from __future__ import annotations

DOCUMENTATION = r"""
module: relkit_release
short_description: Probe, install, activate and roll back releases under a relkit deploy path
description:
  - C(probe) creates the host layout and tells whether the release is already installed.
  - C(install) verifies an uploaded artifact, unpacks it beside the live release, links
    shared paths and marks it complete, renaming it into C(releases/<version>) last.
  - C(activate) switches C(current) atomically (a new symlink renamed over the old),
    restarts the service, records host history, smoke-tests and applies retention.
    Between C(stop) and the switch, the ports the service listens on (C(ports), else those of
    the C(port) smoke checks on this host's addresses) must be free; a port still held (a
    lost pidfile, an app left running) fails the call naming the holder, and nothing is switched.
  - C(rollback) is C(activate) of the named release, or of the release live before the
    current one, skipping releases rolled back from (or failing their smoke test) since they
    were last good (relkit_rules.rollback_target).
  - C(history) reads the host history (every switch, with the run and the ledger head it
    witnessed) and changes nothing (for C(relkit ledger verify --witnesses)).
  - C(resolve) tells, changing nothing, which version a play acts on (with C(resolve=live) the
    live one, with C(resolve=rollback) the one C(rollback) would switch to, given C(version) and
    C(expected_live) as a rollback gets them). Plays set C(relkit_version) from it before they
    template relkit.yml's strings.
    With C(expected_live), a host that a rollback already moved off that release (a killed
    run's, finished on the host after the controller died) is reported, not rolled back again.
  - With C(data), C(activate) stops the old release, snapshots the data into
    C(snapshots/<id>/), runs C(migrate) with the new release's code, then switches;
    C(rollback) stops the live release, saves the data as it stands (an at-rollback
    snapshot), restores the snapshot of the data as the target release left it, then switches.
options:
  state: {type: str, required: true, choices: [probe, install, activate, rollback, history, resolve]}
  resolve: {type: str, default: live, choices: [live, rollback], description: resolve - which version to tell}
  deploy_path: {type: path, required: true}
  version: {type: str}
  sha256: {type: str}
  upload: {type: path, description: uploaded artifact (install; made 0600 here, removed once installed)}
  src:
    type: path
    description: >-
      install - the artifact on the controller: the relkit_release action plugin transfers it
      to C(upload) first (the module never sees it)
  shared: {type: list, elements: str, default: []}
  start: {type: str, description: service start command}
  stop: {type: str, description: service stop command}
  ports:
    type: list
    description: >-
      relkit.yml service.ports - ports (or {port, host}) that must be free before start;
      unset - the port smoke checks' ports on this host's addresses; [] - none
  service_timeout: {type: float, default: 60}
  keep_releases: {type: int, default: 5}
  run_id: {type: str, default: ""}
  by: {type: str, default: ""}
  ledger_head:
    type: str
    default: ""
    description: the controller's ledger head (seq:sha256) when the run began; the host history keeps it (a witness)
  smoke:
    type: dict
    description: checks (list), timeout, interval; run right after activate/rollback, in the same call
  health:
    type: dict
    description: >-
      probe - relkit health's checks and timeout, rendered for this host; ignored here: the
      action plugin keeps them in the host card (the direct health check)
  migrate: {type: str, description: run before the switch with RELKIT_RELEASE = the new release dir}
  drain: {type: str, description: a switch - run before the live release stops (take the host out of its load balancer)}
  undrain: {type: str, description: a switch - run once the new release passed its smoke test (put the host back)}
  migrate_hosts: {type: str, default: all, choices: [all, first], description: first = only the first host migrates}
  data: {type: list, elements: dict, default: [], description: relkit.yml data items}
  data_secrets: {type: dict, default: {}, no_log: true, description: data item name to password}
  secrets:
    type: list
    elements: str
    default: []
    no_log: true
    description: secret values used in start/stop/migrate/smoke; masked in the result and logs
  first_host: {type: bool, default: false, description: this host takes the hosts=first items}
  restore_data: {type: bool, default: true, description: rollback restores data (false = code only)}
  expected_live: {type: str, description: rollback - the release the controller's ledger says is live here}
  only_from:
    type: str
    description: rollback - act only when this release is live (a rollout unwinding); another live release is left as it is
  expected_target:
    type: str
    description: >-
      rollback - the release the controller's ledger says this host goes to (the play rendered
      relkit.yml's strings for it); the host refuses, changing nothing, when its own answer differs
  max_unpacked_mb:
    type: int
    default: 2048
    description: install - refuse an artifact whose files add up to more MiB (relkit.yml artifacts.max_unpacked_mb)
  max_members:
    type: int
    default: 100000
    description: install - refuse an artifact with more members, links and directories included (artifacts.max_members)
"""

RETURN = r"""
relkit: {description: what happened on the host, returned: always, type: dict}
"""

import contextlib
import datetime
import fcntl
import json
import os
import stat
import subprocess
import tarfile
import time

from ansible.module_utils.relkit_checks import failure_message, hide, run_checks
from ansible.module_utils.relkit_layout import MARKER, current_version, live_state, read_marker
from ansible.module_utils.relkit_ports import PortError, wait_free
from ansible.module_utils.relkit_ports import guards as port_guards
from ansible.module_utils.relkit_rules import (
    CURRENT,
    HISTORY,
    HISTORY_KEEP,
    INCOMING,
    LOCK,
    RELEASES,
    SHARED,
    SMOKE_FAILED,
    SMOKE_PASSED,
    STATE,
    atomic_write,
    command_env,
    free_mb,
    is_safe_name,
    make_layout,
    rollback_target,
    sha256_file,
)
from ansible.module_utils.relkit_snapshots import (
    SnapshotError,
    applicable,
    clear_pending,
    find_for_rollback,
    mark_pending,
    pending_snapshot,
    read_manifest,
)
from ansible.module_utils.relkit_snapshots import fsync_path as fsync_dir
from ansible.module_utils.relkit_snapshots import prune as prune_snapshots
from ansible.module_utils.relkit_snapshots import remove as remove_tree
from ansible.module_utils.relkit_snapshots import restore as restore_snapshot
from ansible.module_utils.relkit_snapshots import summary as snapshot_summary
from ansible.module_utils.relkit_snapshots import take as take_snapshot
from ansible.module_utils.relkit_snapshots import verify as verify_snapshot

DEFAULT_MAX_UNPACKED_MB = 2048  # relkit.yml artifacts.max_unpacked_mb
DEFAULT_MAX_MEMBERS = 100000  # relkit.yml artifacts.max_members
HOST_LOCK_WAIT = 600  # seconds a call waits for another relkit operation on the same deploy path


class ReleaseError(Exception):
    """A failure to report to the controller, with what had happened before it."""

    def __init__(self, msg, info=None):
        super().__init__(msg)
        self.info = info or {}


def now():
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def probe(p):
    """Layout, and whether the release is installed; when it is already live, one smoke pass."""
    root, version = p["deploy_path"], p["version"]
    make_layout(root)
    state = live_state(root, version, p["sha256"], p["smoke"])
    marker = state["marker"]
    if marker and marker.get("sha256") != p["sha256"]:
        raise ReleaseError(
            "release %s is already installed from a different artifact (sha256 %s); "
            "a version is never rebuilt in place: give the new build a new version"
            % (version, marker.get("sha256"))
        )
    info = {
        "installed": bool(marker),
        "current": state["current"],
        "live": state["live"],
        "free_mb": free_mb(root),
        "upload": os.path.join(root, INCOMING, "%s.artifact" % p["sha256"]),
        # who switched current last (a killed run's switch is known only here)
        "last_switch": (read_history(root) or [None])[-1],
        # where a rollback goes once this deploy is done: the release it replaces, or, when it
        # is live already, the one a rollback goes to now (the host card keeps the rollback)
        "rollback_to": (
            previous_version(root, state["current"]) if state["current"] == version else state["current"]
        ),
    }
    if state["live"]:
        info["checks"] = state["checks"]  # a failed pass is no smoke result: activate restarts
    return False, info


def link_shared(root, release_dir, shared):
    for rel in shared:
        parts = rel.split("/")
        if rel.startswith("/") or ".." in parts:
            raise ReleaseError("shared path %r must be relative without '..'" % rel)
        target = os.path.join(root, SHARED, rel)
        os.makedirs(target, exist_ok=True)
        link = os.path.join(release_dir, rel)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        remove_tree(link)
        os.symlink(os.path.relpath(target, os.path.dirname(link)), link)


class ArchiveRefused(ReleaseError):
    """An artifact member relkit will not unpack; the message names the member and why."""

    def __init__(self, member, reason):
        super().__init__("artifact member %r refused: %s" % (member, reason))


SPECIAL_KINDS = {
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a fifo",
}


def member_parts(member, name, what, note=""):
    """``name`` (a member's path, or a hardlink's target) as components from the archive root:
    never absolute, never with '..'."""
    if name.startswith("/") or os.path.isabs(name):
        raise ArchiveRefused(member.name, "%s %r is an absolute path%s" % (what, name, note))
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise ArchiveRefused(member.name, "%s %r has '..'%s" % (what, name, note))
    return parts


HARDLINK_NOTE = " (tar resolves a hardlink's target from the artifact's root, not from the member's folder)"


def scan(archive, max_members, max_mb):
    """Every member of the archive with its path, read header by header (a bomb of members or
    of bytes stops at the limit), refusing what is never unpacked whatever came before it."""
    max_bytes, total, found = max_mb * 1024 * 1024, 0, []
    for member in archive:
        if len(found) >= max_members:
            raise ArchiveRefused(
                member.name, "the artifact has more than %d members (artifacts.max_members)" % max_members
            )
        parts = member_parts(member, member.name, "its path")
        if member.isfile():
            total += member.size
            if total > max_bytes:
                raise ArchiveRefused(
                    member.name,
                    "the artifact unpacks to more than %d MiB (artifacts.max_unpacked_mb)" % max_mb,
                )
        elif member.issym():
            if not member.linkname or member.linkname.startswith("/"):
                raise ArchiveRefused(member.name, "symlink to an absolute path %r" % member.linkname)
        elif member.islnk():
            member_parts(member, member.linkname, "hardlink target", HARDLINK_NOTE)
        elif not member.isdir():
            kind = SPECIAL_KINDS.get(member.type, "of type %r" % member.type)
            raise ArchiveRefused(member.name, "%s: not a regular file, directory or link" % kind)
        if not parts and not member.isdir():
            raise ArchiveRefused(member.name, "it names the release directory itself")
        found.append((member, parts))
    return found


class Unpacker:
    """Unpacks checked members into ``dest`` with file descriptors only (openat: no path is
    ever resolved by the kernel from ``dest`` down, so PATH_MAX tricks get nowhere, and no
    component is followed if it is a symlink), keeping a model of what it made to check links
    against: ``made`` maps a path (tuple of names) to ("dir",), ("file",) or
    ("symlink", linkname, member name)."""

    MAX_EXPANSIONS = 40  # symlinks followed in one resolution (the kernel's ELOOP limit)

    def __init__(self, archive, dest):
        self.archive, self.dest = archive, dest
        self.made = {(): ("dir",)}
        self.stdlib_filter = getattr(tarfile, "data_filter", None)  # a second opinion, when there

    def resolve(self, folder, linkname):
        """Where ``linkname``, read in ``folder``, leads in the release as the kernel resolves
        it (symlinks in the release expanded, '..' after one climbing from where it points);
        None when it leaves the release or loops."""
        stack, todo, expansions = list(folder), linkname.split("/")[::-1], 0
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if not stack:
                    return None
                stack.pop()
                continue
            entry = self.made.get(tuple(stack) + (part,))
            if entry and entry[0] == "symlink":
                expansions += 1
                if expansions > self.MAX_EXPANSIONS or entry[1].startswith("/"):
                    return None
                todo.extend(entry[1].split("/")[::-1])
                continue
            stack.append(part)
        return tuple(stack)

    def open_dir(self, member, parts, create):
        """A descriptor of the release's folder ``parts``, made (0755) where missing when
        ``create``; refused if any component is a symlink or a file."""
        fd = os.open(self.dest, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for depth, name in enumerate(parts, 1):
                path = parts[:depth]
                entry = self.made.get(path)
                if entry and entry[0] == "symlink":
                    raise ArchiveRefused(
                        member.name, "it would be written through the symlink %r" % "/".join(path)
                    )
                if entry and entry[0] != "dir":
                    raise ArchiveRefused(member.name, "%r in its path is a file" % "/".join(path))
                if entry is None:
                    if not create:
                        raise ArchiveRefused(member.name, "%r does not exist" % "/".join(path))
                    os.mkdir(name, 0o700, dir_fd=fd)
                    self.made[path] = ("dir",)
                inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = inner
                if entry is None:
                    os.fchmod(fd, 0o755)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def unpack(self, member, parts):
        if not parts:
            return  # "./": the release directory itself
        folder = self.open_dir(member, parts[:-1], create=True)
        try:
            self.unpack_in(member, parts, folder)
        finally:
            os.close(folder)

    def unpack_in(self, member, parts, folder):
        name = parts[-1]
        source = None
        if member.issym():
            if self.resolve(parts[:-1], member.linkname) is None:
                raise ArchiveRefused(
                    member.name, "symlink to %r resolves outside the release" % member.linkname
                )
        elif member.islnk():
            source = member_parts(member, member.linkname, "hardlink target", HARDLINK_NOTE)
            for depth in range(1, len(source)):
                if self.made.get(source[:depth], ("dir",))[0] == "symlink":
                    raise ArchiveRefused(
                        member.name,
                        "hardlink to %r goes through the symlink %r"
                        % (member.linkname, "/".join(source[:depth])),
                    )
            if self.made.get(source) != ("file",):
                raise ArchiveRefused(
                    member.name,
                    "hardlink to %r, which is not a regular file earlier in the artifact "
                    "(hardlinks are resolved from the artifact's root)" % member.linkname,
                )
            if source == parts:
                return  # a hardlink to itself: nothing to do
        if self.stdlib_filter is not None:
            try:
                self.stdlib_filter(member, self.dest)
            except getattr(tarfile, "FilterError", tarfile.TarError) as exc:
                raise ArchiveRefused(member.name, str(exc))
        existing = self.made.get(parts)
        if existing and existing[0] == "dir":
            if not member.isdir():
                raise ArchiveRefused(member.name, "it would replace the directory %r" % "/".join(parts))
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            try:
                os.fchmod(fd, 0o755)
            finally:
                os.close(fd)
            return
        if existing:  # a later member of the same name replaces a file or link: never written through
            os.unlink(name, dir_fd=folder)
            del self.made[parts]
        if member.isdir():
            os.close(self.open_dir(member, parts, create=True))
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=folder)
            self.made[parts] = ("symlink", member.linkname, member.name)
        elif member.islnk():
            origin = self.open_dir(member, source[:-1], create=False)
            try:
                if not stat.S_ISREG(os.stat(source[-1], dir_fd=origin, follow_symlinks=False).st_mode):
                    raise ArchiveRefused(member.name, "hardlink to %r, not a regular file" % member.linkname)
                os.link(source[-1], name, src_dir_fd=origin, dst_dir_fd=folder, follow_symlinks=False)
            finally:
                os.close(origin)
            self.made[parts] = ("file",)
        else:
            self.write_file(member, name, folder)
            self.made[parts] = ("file",)

    def write_file(self, member, name, folder):
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=folder)
        with os.fdopen(fd, "wb") as out:
            data = self.archive.extractfile(member)
            for block in iter(lambda: data.read(1 << 20), b""):
                out.write(block)
            os.fchmod(out.fileno(), (member.mode | 0o600) & 0o755)  # never setuid, never group/world-writable
            with contextlib.suppress(OverflowError, ValueError, OSError):  # an odd mtime is no reason to fail
                os.utime(out.fileno(), (member.mtime, member.mtime))

    def check_links(self):
        """Every symlink as the release finally stands (one made before the symlinks it goes
        through is only known now) resolves inside it."""
        for path, entry in list(self.made.items()):
            if entry[0] == "symlink" and self.resolve(path[:-1], entry[1]) is None:
                raise ArchiveRefused(entry[2], "symlink to %r resolves outside the release" % entry[1])


def extract_safely(archive, dest, max_members=None, max_mb=None):
    """Unpack regular files, directories and links that stay inside ``dest``: no absolute
    path or '..' in a name, no member written through a symlink, symlinks resolving (through
    each other) inside ``dest``, hardlinks only to an earlier regular file, resolved from the
    archive root; at most ``max_members`` members and ``max_mb`` MiB of files. relkit's own
    checks, on any host Python; tarfile's 'data' filter, when there, is a second opinion only
    (before CVE-2025-4517 was fixed, symlinks expanding past PATH_MAX got through it)."""
    members = scan(archive, max_members or DEFAULT_MAX_MEMBERS, max_mb or DEFAULT_MAX_UNPACKED_MB)
    unpacker = Unpacker(archive, dest)
    for member, parts in members:
        try:
            unpacker.unpack(member, parts)
        except OSError as exc:
            raise ReleaseError("could not unpack artifact member %r: %s" % (member.name, exc))
    unpacker.check_links()


def drop_upload(root, upload):
    """Remove the upload. Under become it is in the login user's Ansible tmp directory, which
    this user may not be allowed to change: Ansible removes that directory itself."""
    try:
        os.unlink(upload)
    except OSError:
        if os.path.dirname(upload) == os.path.join(root, INCOMING):
            raise


def install(p):
    root, version, sha = p["deploy_path"], p["version"], p["sha256"]
    make_layout(root)
    final = os.path.join(root, RELEASES, version)
    marker = read_marker(final)
    if marker and marker.get("sha256") == sha:
        return False, {"installed": version, "skipped": "already installed"}
    upload = p["upload"]
    if not upload or not os.path.isfile(upload):
        raise ReleaseError("uploaded artifact %s is missing" % upload)
    if os.stat(upload).st_uid == os.geteuid():  # a transfer creates it with the controller file's mode
        os.chmod(upload, 0o600)
    actual = sha256_file(upload)
    if actual != sha:
        drop_upload(root, upload)
        raise ReleaseError("artifact sha256 %s does not match manifest %s; removed it" % (actual, sha))
    staging = os.path.join(root, RELEASES, ".partial-%s-%d" % (version, os.getpid()))
    for name in os.listdir(os.path.join(root, RELEASES)):
        if name.startswith(".partial-"):
            remove_tree(os.path.join(root, RELEASES, name))
    limits = p.get("max_members") or DEFAULT_MAX_MEMBERS, p.get("max_unpacked_mb") or DEFAULT_MAX_UNPACKED_MB
    if min(limits) < 1:
        raise ReleaseError("max_members and max_unpacked_mb must be at least 1")
    try:
        os.makedirs(staging)
        with tarfile.open(upload) as archive:
            extract_safely(archive, staging, *limits)
        link_shared(root, staging, p["shared"])
        atomic_write(
            os.path.join(staging, MARKER),
            json.dumps({"version": version, "sha256": sha, "installed_at": now(), "run_id": p["run_id"]}),
        )
        if os.path.lexists(final):
            if current_version(root) == version:
                raise ReleaseError("live release %s is incomplete; refusing to replace it" % version)
            remove_tree(final)
        os.rename(staging, final)
        fsync_dir(os.path.dirname(final))
    except ArchiveRefused as exc:
        remove_tree(staging)
        drop_upload(root, upload)  # a crafted artifact is not kept on the host; a re-run uploads it again
        raise ReleaseError("%s; nothing was installed (partial release and uploaded artifact removed)" % exc)
    except ReleaseError as exc:
        remove_tree(staging)
        raise ReleaseError("%s (partial release removed)" % exc)
    except (OSError, tarfile.TarError) as exc:
        remove_tree(staging)
        raise ReleaseError("could not install %s: %s (partial release removed)" % (version, exc))
    drop_upload(root, upload)
    return True, {"installed": version}


def switch(root, version):
    """Point current at releases/<version> with one rename(2)."""
    tmp = os.path.join(root, ".current-%d" % os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.join(RELEASES, version), tmp)
    os.rename(tmp, os.path.join(root, CURRENT))
    fsync_dir(root)


def run_service(root, command, version, timeout, extra_env=None):
    if not command:
        return
    log = open(os.path.join(root, STATE, "service.log"), "ab")
    env = command_env(  # never the controller's variables (ansible_connection: local)
        os.environ,
        RELKIT_DEPLOY_PATH=root,
        RELKIT_VERSION=version,
        RELKIT_RELEASE=os.path.join(root, RELEASES, version),
        **(extra_env or {}),
    )
    try:
        proc = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ReleaseError("service command timed out after %ss: %s" % (timeout, command))
    finally:
        log.close()
    if proc.returncode != 0:
        raise ReleaseError(
            "service command exited %d: %s (see %s/.relkit/service.log)" % (proc.returncode, command, root)
        )


def history_path(root):
    return os.path.join(root, HISTORY)


def read_history(root):
    try:
        with open(history_path(root)) as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError):
        return []


def write_history(root, records):
    lines = [json.dumps(r, sort_keys=True) for r in records[-HISTORY_KEEP:]]
    atomic_write(history_path(root), "\n".join(lines) + "\n")


def append_history(root, record):
    write_history(root, read_history(root) + [record])


SWITCH_KEYS = ("at", "run_id", "version", "action")


def mark_smoke(root, record, outcome):
    """Set ``smoke`` (passed/failed) on the history line of the switch ``record`` (the file is
    rewritten atomically: a reader sees the line without it or with it)."""
    history = read_history(root)
    key = tuple(record.get(k) for k in SWITCH_KEYS)
    for line in reversed(history):
        if tuple(line.get(k) for k in SWITCH_KEYS) == key:
            line["smoke"] = outcome
            write_history(root, history)
            return


def complete_releases(root):
    found = []
    base = os.path.join(root, RELEASES)
    if not os.path.isdir(base):  # nothing installed yet (a read-only resolve makes no layout)
        return []
    for name in os.listdir(base):
        marker = read_marker(os.path.join(base, name))
        if is_safe_name(name) and marker:
            found.append((marker.get("installed_at", ""), name))
    return [name for _, name in sorted(found)]


def prune(root, keep, protect):
    """Remove the oldest installed complete releases beyond ``keep``, never one in ``protect``."""
    releases = complete_releases(root)
    removed = []
    for name in releases[: max(0, len(releases) - keep)]:
        if name not in protect:
            remove_tree(os.path.join(root, RELEASES, name))
            removed.append(name)
    return removed


def previous_version(root, current):
    """The release a rollback without a version goes to (relkit_rules.rollback_target): the
    release live before ``current``, skipping those rolled back from (or that failed their
    smoke test) since they were last good; installed completely."""
    return rollback_target(read_history(root), current, set(complete_releases(root)))


def retain(p, root, version, live, result):
    """Retention after a switch that passed its smoke test: never the live release, the one it
    replaced, nor the release a rollback from it would go to; snapshots follow their releases."""
    protect = {version, live, previous_version(root, version)}
    result["pruned"] = prune(root, p["keep_releases"], protect)
    taken = {result[k]["id"] for k in ("snapshot", "at_rollback") if k in result}
    result["pruned_snapshots"] = prune_snapshots(root, complete_releases(root), taken)


def guarded_ports(p, live):
    """What must be free before ``start`` (relkit_ports.guards). Without a ``stop`` command a
    live release keeps running (``start`` must replace it, e.g. systemctl restart): no guard."""
    if live and not p.get("stop"):
        return []
    try:
        return port_guards(p.get("ports"), (p.get("smoke") or {}).get("checks"))
    except PortError as exc:
        raise ReleaseError("%s; nothing was changed" % exc)


def require_free_ports(p, root, ports, live, version, action, result):
    """After ``stop``, before anything else changes: every guarded port free (waiting up to
    ``service_timeout`` for the old process to let go), else fail naming who holds it."""
    held = wait_free(ports, p["service_timeout"], root) if ports else []
    if not held:
        return
    result["ports_held"] = held
    stopped = "after stop" if live and p.get("stop") else "before start (no release was live: no stop ran)"
    ran = " (its stop command ran)" if live and p.get("stop") else ""
    if action == "restart":
        where = "%s stays current and is not started again%s" % (live, ran)
        then = "then deploy %s again (or roll back)" % live
    else:
        where = (
            "nothing was switched: current is still %s%s" % (live, ran) if live else "nothing was switched"
        )
        then = "then run the %s again" % action
    hint = ""
    if any("(smoke check " in line for line in held):
        hint = (
            " (relkit.yml service.ports names the ports the app itself listens on; by default "
            "those of the port smoke checks; [] checks none)"
        )
    raise ReleaseError(
        "%s cannot listen: ports it needs are still in use %s: %s; %s. Free them (stop that "
        "process, or make service.stop stop it), %s%s"
        % (version, stopped, "; ".join(held), where, then, hint),
        result,
    )


def data_items(p):
    """The data items this host snapshots (``hosts: first`` ones only on the first host)."""
    try:
        items = applicable(p.get("data"), p.get("first_host"))
    except SnapshotError as exc:
        raise ReleaseError(str(exc))
    secrets = p.get("data_secrets") or {}
    for item in items:
        if item.get("password_env") and not secrets.get(item["name"]):
            raise ReleaseError(
                "data item %s: environment variable %s is not set on the controller; nothing was changed"
                % (item["name"], item["password_env"])
            )
    return items


def rollback_plan(p, root, live, version):
    """Before anything stops: the snapshot a rollback restores, found and checksummed (or None)."""
    items = data_items(p) if live and p.get("restore_data", True) else []
    if not items:
        return None
    names = [i["name"] for i in items]
    try:
        snap = find_for_rollback(root, version, names)
        verify_snapshot(root, snap, names)
    except SnapshotError as exc:
        raise ReleaseError(
            "cannot restore data for %s: %s; nothing was changed (rerun with --code-only to switch "
            "code without restoring data)" % (version, exc)
        )
    return items, snap


def snapshot_and_migrate(p, root, live, version, items, result):
    """Deploy, with the old release stopped: snapshot the data, then migrate with the new code.

    On failure the snapshot is restored (when the migration had started) and the old release
    restarted, so the host is as it was; the error says so.
    """
    items = items if live else []
    migrate = p.get("migrate") if (p.get("migrate_hosts") or "all") == "all" or p.get("first_host") else None
    meta = {"kind": "deploy", "from": live, "to": version, "run_id": p["run_id"], "by": p["by"]}
    snap, migrating = None, False
    try:
        if items:
            snap = pending_snapshot(root, "deploy", live, version, "snapshot", items)
            if snap is None:
                snap = take_snapshot(root, items, p.get("data_secrets"), meta)
                mark_pending(root, {"action": "deploy", "from": live, "to": version, "snapshot": snap["id"]})
            result["snapshot"] = snapshot_summary(snap)
        if migrate:
            migrating, started = True, time.monotonic()
            extra = {"RELKIT_PREVIOUS": live or "", "RELKIT_FIRST_HOST": "1" if p.get("first_host") else "0"}
            run_service(root, migrate, version, p["service_timeout"], extra)
            result["migrated"] = {"seconds": round(time.monotonic() - started, 3)}
    except (ReleaseError, SnapshotError, OSError) as exc:
        what = "migrate (%s) failed: %s" % (migrate, exc) if migrating else "data snapshot failed: %s" % exc
        notes = []
        if snap and migrating:
            try:
                restore_snapshot(root, snap, items, p.get("data_secrets"))
                clear_pending(root)
                result["restored"] = {"id": snap["id"], "items": [i["name"] for i in items]}
                notes.append("data restored from snapshot %s" % snap["id"])
            except (SnapshotError, OSError) as err:
                notes.append("restoring snapshot %s FAILED: %s" % (snap["id"], err))
        if live:
            try:
                run_service(root, p["start"], live, p["service_timeout"])
                notes.append("%s restarted" % live)
            except ReleaseError as err:
                notes.append("restarting %s failed: %s" % (live, err))
        raise ReleaseError("; ".join([what] + notes + ["current is still %s" % live]), result)


def save_and_restore(p, root, live, version, plan, result):
    """Rollback, with the live release stopped: save the data as it stands, then restore the snapshot."""
    items, snap = plan
    meta = {"kind": "at-rollback", "from": live, "to": version, "run_id": p["run_id"], "by": p["by"]}
    # A rollback killed after its restore and re-run keeps the first at-rollback snapshot: it
    # holds the data as it stood; the data now is the restored snapshot.
    saved = pending_snapshot(root, "rollback", live, version, "at_rollback", items)
    if saved is None:
        try:
            saved = take_snapshot(root, items, p.get("data_secrets"), meta)
        except (SnapshotError, OSError) as exc:
            note = "; data untouched"
            try:
                run_service(root, p["start"], live, p["service_timeout"])
                note += ", %s restarted" % live
            except ReleaseError as err:
                note += ", restarting %s failed: %s" % (live, err)
            raise ReleaseError("saving the data before the restore failed: %s%s" % (exc, note), result)
        mark_pending(root, {"action": "rollback", "from": live, "to": version, "at_rollback": saved["id"]})
    result["at_rollback"] = snapshot_summary(saved)
    try:
        restored = restore_snapshot(root, snap, items, p.get("data_secrets"))
    except (SnapshotError, OSError) as exc:
        raise ReleaseError(
            "restoring snapshot %s failed: %s; the data as it stood is in snapshot %s; %s stays "
            "stopped and current still points at it" % (snap["id"], exc, saved["id"], live),
            result,
        )
    result["restored"] = {"id": snap["id"], "items": restored, "at_rollback": saved["id"]}


def rolled_back_already(root, live, expected, version):
    """The history record of the rollback that moved this host off ``expected`` (the release the
    controller's ledger says is live) onto the live release, when nothing switched since and
    no other release is asked for: a killed run's rollback, finished here after the controller
    died. A re-run reports it instead of rolling back a second time."""
    if not expected or not live or live == expected or version not in (None, "", live):
        return None
    last = (read_history(root) or [None])[-1]
    if last and (last.get("action"), last.get("previous"), last.get("version")) == (
        "rollback",
        expected,
        live,
    ):
        return last
    return None


def found_rollback(p, root, live, record):
    """The result of a rollback another run did (``record``): its snapshots, and a smoke pass
    (the service restarted first if a single pass fails)."""
    result = {
        "version": live,
        "previous": record["previous"],
        "sha256": record.get("sha256"),
        "action": "rollback",
        "found_live": {k: record.get(k) for k in ("run_id", "at", "by")},
    }
    saved = read_manifest(root, str(record.get("snapshot") or ""))
    if saved:
        result["at_rollback"] = snapshot_summary(dict(saved, reused=True))
        if record.get("restored"):
            names = [{"name": r["name"], "kind": r["kind"]} for r in saved.get("items", [])]
            result["restored"] = {"id": record["restored"], "items": names, "at_rollback": saved["id"]}
    try:
        restarted = keep_or_restart(p, root, live, result)
    except ReleaseError:
        mark_smoke(root, record, SMOKE_FAILED)
        raise
    if (p["smoke"] or {}).get("checks"):
        mark_smoke(root, record, SMOKE_PASSED)
    return restarted, result


def restart(p, root, live, result):
    """Restart the live release and smoke-test it (retried until the smoke timeout)."""
    ports = guarded_ports(p, live)
    run_service(root, p["stop"], live, p["service_timeout"])
    require_free_ports(p, root, ports, live, live, "restart", result)
    run_service(root, p["start"], live, p["service_timeout"])
    result["restarted"] = True
    smoke(root, p["smoke"], result)


def keep_or_restart(p, root, live, result):
    """A rollback that finds its target live: leave it running when one smoke pass succeeds (or
    there are no smoke checks), else restart it. Returns whether it was restarted."""
    checks = (p["smoke"] or {}).get("checks")
    if checks:
        ok, result["checks"] = run_checks(checks, 0, 0, root)
        if not ok:
            restart(p, root, live, result)
            return True
    return False


def activate(p, action):
    root = p["deploy_path"]
    make_layout(root)
    live = current_version(root)

    def refused():  # a refusal before any change: relkit reports what is installed (exit 2)
        return {"refused": True, "live": live, "installed_releases": complete_releases(root)}

    found = (
        rolled_back_already(root, live, p.get("expected_live"), p["version"])
        if action == "rollback"
        else None
    )
    if action == "rollback" and not found and p.get("only_from") and live != p["only_from"]:
        # a rollout unwinding: this host never switched to its release (or already left it)
        return False, {"version": live, "previous": live, "action": action, "not_on": p["only_from"]}
    version = (
        live if found else p["version"] or (previous_version(root, live) if action == "rollback" else None)
    )
    if not version:
        raise ReleaseError("no previous complete release to roll back to (live: %s)" % live, refused())
    expected = p.get("expected_target") if action == "rollback" else None
    if expected is not None and expected != version:
        # relkit.yml's strings (smoke checks, service commands) were rendered for the release the
        # controller named: switching to another one would check the wrong release
        raise ReleaseError(
            "this host's rollback target is %s, not %s as the controller's ledger says; nothing was "
            "changed (relkit resolves the target on the host and runs the rollback again)"
            % (version, expected),
            dict(refused(), target_mismatch=version),
        )
    if found:
        return found_rollback(p, root, live, found)
    marker = read_marker(os.path.join(root, RELEASES, version))
    if not marker:
        raise ReleaseError("release %s is not installed completely on this host" % version, refused())
    if action == "deploy" and p["sha256"] and marker.get("sha256") != p["sha256"]:
        raise ReleaseError(
            "release %s on host has sha256 %s, not %s" % (version, marker.get("sha256"), p["sha256"])
        )
    result = {
        "version": version,
        "previous": live,
        "sha256": marker.get("sha256"),
        "action": action,
    }
    if live == version:
        # A rollback to the live release (a retried --to) leaves a healthy service alone; a
        # deploy gets here only when the live release failed its smoke pass in probe.
        if action == "rollback" and not keep_or_restart(p, root, live, result):
            result["already_live"] = True
            return False, result
        if action == "deploy":
            restart(p, root, live, result)
        return True, result
    plan = rollback_plan(p, root, live, version) if action == "rollback" else data_items(p)
    ports = guarded_ports(p, live)  # a bad setting fails here, before anything is stopped
    if live:
        run_service(root, p.get("drain"), live, p["service_timeout"])
        run_service(root, p["stop"], live, p["service_timeout"])
    require_free_ports(p, root, ports, live, version, action, result)
    if action == "deploy":
        snapshot_and_migrate(p, root, live, version, plan, result)
    elif plan:
        save_and_restore(p, root, live, version, plan, result)
    switch(root, version)
    clear_pending(root)
    result["switched"] = True
    record = {
        "at": now(),
        "version": version,
        "previous": live,
        "action": action,
        "by": p["by"],
        "run_id": p["run_id"],
        "ledger_head": p.get("ledger_head") or "",
        "sha256": marker.get("sha256"),
        "snapshot": result.get("snapshot", result.get("at_rollback", {})).get("id"),
        "restored": result.get("restored", {}).get("id"),
    }
    append_history(root, record)
    try:
        run_service(root, p["start"], version, p["service_timeout"])
        smoke(root, p["smoke"], result)
    except ReleaseError as exc:
        mark_smoke(root, record, SMOKE_FAILED)  # not good: a rollback without --to skips it
        raise ReleaseError(str(exc), exc.info or result)
    if (p["smoke"] or {}).get("checks"):
        mark_smoke(root, record, SMOKE_PASSED)
    run_service(root, p.get("undrain"), version, p["service_timeout"])
    retain(p, root, version, live, result)
    return True, result


def resolve_version(p):
    """Which version the play acts on (read only): the live one, or the one a rollback with these
    parameters switches to (as :func:`activate` finds it; ``""`` when there is none)."""
    root = p["deploy_path"]
    live = current_version(root)
    if p["resolve"] == "live":
        return {"version": live or "", "live": live or ""}
    if rolled_back_already(root, live, p.get("expected_live"), p["version"]):
        return {"version": live, "live": live}
    return {"version": p["version"] or previous_version(root, live) or "", "live": live or ""}


def smoke(root, spec, result):
    """Smoke-test the live release in the same call; raise with the results on failure."""
    if not spec or not spec.get("checks"):
        return
    ok, checks = run_checks(
        spec["checks"], float(spec.get("timeout", 20)), float(spec.get("interval", 0.1)), root
    )
    result["checks"] = checks
    if not ok:
        raise ReleaseError(failure_message(checks), result)


def host_lock(p, wait=HOST_LOCK_WAIT):
    """Take the deploy path's lock (``.relkit/lock``, flock(2)) for the rest of this module call.

    A run killed on the controller leaves the module call it had started running here until
    that call ends; a re-run (or another controller) waits for it instead of racing it. The
    kernel releases the lock when the call exits, however it exits.
    """
    path = os.path.join(p["deploy_path"], LOCK)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by service commands
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
                os.close(fd)
                raise ReleaseError(
                    "another relkit operation has held %s for over %ds (%s); nothing was changed"
                    % (path, wait, holder or "holder unknown")
                )
            time.sleep(0.05)
    holder = {
        "pid": os.getpid(),
        "state": p["state"],
        "version": p["version"],
        "run_id": p.get("run_id"),
        "since": now(),
    }
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
    except OSError:
        pass  # e.g. a full disk: the lock holds all the same
    return fd


ARGUMENT_SPEC = dict(
    state=dict(
        type="str",
        required=True,
        choices=["probe", "install", "activate", "rollback", "history", "resolve"],
    ),
    resolve=dict(type="str", default="live", choices=["live", "rollback"]),
    deploy_path=dict(type="path", required=True),
    version=dict(type="str"),
    sha256=dict(type="str"),
    upload=dict(type="path"),
    shared=dict(type="list", elements="str", default=[]),
    start=dict(type="str"),
    stop=dict(type="str"),
    ports=dict(type="list"),
    service_timeout=dict(type="float", default=60),
    keep_releases=dict(type="int", default=5),
    run_id=dict(type="str", default=""),
    by=dict(type="str", default=""),
    ledger_head=dict(type="str", default=""),
    smoke=dict(type="dict"),
    health=dict(type="dict"),
    migrate=dict(type="str"),
    drain=dict(type="str"),
    undrain=dict(type="str"),
    migrate_hosts=dict(type="str", default="all", choices=["all", "first"]),
    data=dict(type="list", elements="dict", default=[]),
    data_secrets=dict(type="dict", default={}, no_log=True),
    secrets=dict(type="list", elements="str", default=[], no_log=True),
    first_host=dict(type="bool", default=False),
    restore_data=dict(type="bool", default=True),
    expected_live=dict(type="str"),
    only_from=dict(type="str"),
    expected_target=dict(type="str"),
    max_unpacked_mb=dict(type="int", default=DEFAULT_MAX_UNPACKED_MB),
    max_members=dict(type="int", default=DEFAULT_MAX_MEMBERS),
)
"""The module's parameters (relkit's direct rollback fills the same defaults: relkit/live_rollback.py)."""
REQUIRED_IF = [
    ("state", "probe", ["version", "sha256"]),
    ("state", "install", ["version", "sha256", "upload"]),
    ("state", "activate", ["version"]),
]


def perform(p):
    """The module's work on its parameters ``p``: the result to return, with ``failed`` and
    ``msg`` when it failed. Free of Ansible: relkit's direct rollback runs it over ssh."""
    if p["version"] and not is_safe_name(p["version"]):
        return {"failed": True, "msg": "unsafe version %r" % p["version"]}
    if not os.path.isabs(p["deploy_path"]):
        return {"failed": True, "msg": "deploy_path must be absolute"}
    if p["state"] == "history":  # read only: no lock, no layout (history is replaced atomically)
        return {"changed": False, "relkit": {"state": "history", "history": read_history(p["deploy_path"])}}
    if p["state"] == "resolve":  # read only, like history; not under "relkit": no release result
        return {"changed": False, "resolved": resolve_version(p)}
    handlers = {
        "probe": probe,
        "install": install,
        "activate": lambda q: activate(q, "deploy"),
        "rollback": lambda q: activate(q, "rollback"),
    }
    try:
        host_lock(p)  # held until this process exits
        changed, info = handlers[p["state"]](p)
    except ReleaseError as exc:
        info = dict(exc.info, state=p["state"])
        return dict(failed=True, msg=str(exc), relkit=info, **smoke_results(info))
    except OSError as exc:
        return {"failed": True, "msg": "%s failed: %s" % (p["state"], exc), "relkit": {"state": p["state"]}}
    return dict(changed=changed, relkit=info, **smoke_results(info))


def main():
    # imported here: perform() and everything it calls run without Ansible too
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF)
    hide(module.no_log_values)
    result = perform(module.params)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


def smoke_results(info):
    """Top-level ``checks`` only when a smoke test ran (relkit reads it as the smoke result)."""
    return {"checks": info.pop("checks")} if "checks" in info else {}


if __name__ == "__main__":
    main()
