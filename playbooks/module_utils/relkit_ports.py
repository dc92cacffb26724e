"""Who holds a TCP port on this host: the listening sockets of /proc/net/tcp{,6} and, best
effort, the processes owning them (/proc/<pid>/fd). Standard library only.

Before ``start``, relkit_release waits for the ports the service listens on to be free: a port
still held after ``stop`` (a lost pidfile, an app left running, another program) would let the
smoke checks pass against the old or a foreign process while the new release failed to bind.
"""

from __future__ import annotations

import os
import socket
import time

LISTEN = "0A"
"""The state column of a listening socket in /proc/net/tcp."""
WILDCARDS = ("0.0.0.0", "::")
"""Addresses a socket binds to listen on every address."""
LOCAL_HOST = "127.0.0.1"
"""A port check's host when it names none (relkit_checks' default)."""


class PortError(Exception):
    """A port setting relkit cannot use (the message names it)."""


def decode_address(text):
    """``0100007F:1F90`` (/proc/net/tcp's little-endian words) -> ("127.0.0.1", 8080)."""
    addr, _, port = text.partition(":")
    raw = bytes.fromhex(addr)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, words), int(port, 16)


def plain(address):
    """An IPv4-mapped IPv6 address as IPv4 (``::ffff:127.0.0.2`` -> ``127.0.0.2``)."""
    return address[7:] if address.startswith("::ffff:") and "." in address else address


def listeners(proc="/proc"):
    """(address, port, socket inode) of every listening TCP socket this host's network shows."""
    found = []
    for name in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc, "net", name)) as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == LISTEN:
                try:
                    address, port = decode_address(fields[1])
                except ValueError:
                    continue
                found.append((plain(address), port, fields[9]))
    return found


def clash(guard_address, listener_address):
    """Whether a socket listening on ``listener_address`` keeps a service from binding
    ``guard_address`` on the same port (None: the service's port on any address)."""
    if guard_address is None or guard_address in WILDCARDS or listener_address in WILDCARDS:
        return True
    return plain(guard_address) == listener_address


def held(guards, proc="/proc"):
    """The listening sockets that hold one of ``guards`` ((address or None, port) pairs): a list
    of (address or None, port, listener address, inode)."""
    sockets = listeners(proc)
    return [
        (address, port, there, inode)
        for address, port in guards
        for there, listening, inode in sockets
        if listening == port and clash(address, there)
    ]


def command_line(pid, proc="/proc"):
    """A process's command line, spaces between its arguments ("" when unreadable)."""
    try:
        with open(os.path.join(proc, str(pid), "cmdline"), "rb") as handle:
            raw = handle.read(4096)
    except OSError:
        return ""
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")


def owners(inodes, proc="/proc"):
    """Socket inode -> pid, for the processes this user can see holding those sockets."""
    wanted = {"socket:[%s]" % inode: inode for inode in inodes}
    found = {}
    try:
        pids = [name for name in os.listdir(proc) if name.isdigit()]
    except OSError:
        return found
    for pid in pids:
        folder = os.path.join(proc, pid, "fd")
        try:
            fds = os.listdir(folder)
        except OSError:
            continue  # gone, or another user's
        for fd in fds:
            try:
                inode = wanted.get(os.readlink(os.path.join(folder, fd)))
            except OSError:
                continue
            if inode is not None:
                found.setdefault(inode, int(pid))
        if len(found) == len(wanted):
            break
    return found


def addresses(host):
    """The IP addresses ``host`` (an address or a name) stands for; PortError if it has none."""
    try:
        infos = socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise PortError("host %r does not resolve: %s" % (host, exc))
    return sorted({(family, info[0]) for family, _, _, _, info in infos})


def is_local(family, address):
    """Whether ``address`` belongs to this host (a socket can bind it)."""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
        return True
    except OSError:
        return False


def port_number(value, where):
    """A port from relkit.yml (an int, or a templated host variable's text) as an int."""
    try:
        port = int(str(value).strip())
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise PortError("%s: %r is not a port (1-65535)" % (where, value))
    return port


def guards(ports, smoke_checks):
    """What must be free before ``start``: (address or None, port, where it comes from).

    ``ports`` (relkit.yml ``service.ports``: a port, or {port, host}) when given — [] guards
    nothing; else each ``port`` smoke check whose host is an address of this host (a check of
    another machine's port says nothing about what this host's app must bind).
    """
    found = []
    if ports is not None:
        for index, entry in enumerate(ports):
            where = "service.ports[%d]" % index
            if isinstance(entry, dict):
                port = port_number(entry.get("port"), where + ".port")
                host = entry.get("host")
                if host in (None, ""):
                    found.append((None, port, where))
                else:
                    found.extend((addr, port, where) for _, addr in addresses(str(host)))
            else:
                found.append((None, port_number(entry, where), where))
        return found
    for check in smoke_checks or []:
        if not check.get("port") or check.get("http") or check.get("command"):
            continue
        where = "smoke check %r" % check.get("name", "?")
        port = port_number(check["port"], where + " port")
        try:
            local = [a for a in addresses(str(check.get("host") or LOCAL_HOST)) if is_local(*a)]
        except PortError:
            continue  # the smoke check itself will say so
        found.extend((addr, port, where) for _, addr in local)
    return found


def working_dir(pid, proc="/proc"):
    """A process's current directory ("" when unreadable)."""
    try:
        return os.readlink(os.path.join(proc, str(pid), "cwd"))
    except OSError:
        return ""


def describe(address, port, there, pid, where, root=None, proc="/proc"):
    """``port 8080 on 127.0.0.2 (smoke check 'port') is held by pid 42 (python3 -m http.server)``,
    saying so when the holder runs in the deploy path ``root`` (a release ``stop`` missed)."""
    place = "port %d" % port + (" on %s" % address if address else "") + " (%s)" % where
    bound = "" if there == address else ", listening on %s" % there
    if pid is None:
        return "%s is held by a process relkit cannot see (another user's?)%s" % (place, bound)
    text = "%s is held by pid %d (%s)%s" % (place, pid, command_line(pid, proc) or "command unknown", bound)
    cwd = working_dir(pid, proc)
    if root and cwd and (cwd == root or cwd.startswith(root.rstrip("/") + "/")):
        text += ", which runs in %s: service.stop did not stop it (a lost pidfile?)" % root
    return text


def wait_free(found, timeout, root=None, interval=0.1, proc="/proc"):
    """Wait up to ``timeout`` seconds for every guarded port (``found``, from :func:`guards`) to
    be free. Returns [] when they are, else one line per socket still holding one, naming its
    process (best effort)."""
    sources = {}
    for address, port, where in found:
        sources.setdefault((address, port), where)
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        holding = held(sorted(sources, key=lambda g: (g[1], g[0] or "")), proc)
        if not holding or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    pids = owners({inode for _, _, _, inode in holding}, proc) if holding else {}
    lines = []
    for address, port, there, inode in holding:
        where = sources[(address, port)]
        line = describe(address, port, there, pids.get(inode), where, root, proc)
        if line not in lines:
            lines.append(line)
    return lines
