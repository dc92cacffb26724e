"""relkit's health checks of one host: the relkit_health module and the direct health check
(relkit/live_check.py, over SSH without a play) run the same code, so give the same results.

Log read offsets are kept in ``<deploy_path>/.relkit/health-state.json``; the first run, and
the first run after a switch of ``current``, only records where each log ends.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.relkit_checks import run_check, squash
from ansible.module_utils.relkit_layout import current_version
from ansible.module_utils.relkit_rules import (
    HEALTH_KINDS,
    HEALTH_RANK,
    HISTORY,
    STATE,
    atomic_write,
    check_kind,
    free_mb,
)

STATE_FILE = os.path.join(STATE, "health-state.json")
DEFAULT_PATTERN = r"ERROR|CRITICAL|Traceback"
MAX_READ = 32 * 1024 * 1024


def load_state(root):
    try:
        with open(os.path.join(root, STATE_FILE)) as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def save_state(root, state):
    path = os.path.join(root, STATE_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, json.dumps(state, sort_keys=True))


def last_switch_epoch(root):
    """When ``current`` last moved on this host, from its own history (0 when unknown)."""
    try:
        with open(os.path.join(root, HISTORY), "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - 4096))
            lines = [line for line in handle.read().splitlines() if line.strip()]
        return datetime.datetime.fromisoformat(json.loads(lines[-1])["at"]).timestamp()
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return 0.0


def count_matches(path, start, end, regex):
    """Matching complete lines in ``path`` between ``start`` and ``end``; returns (count, sample, offset)."""
    count, sample, offset = 0, "", start
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    cut = data.rfind(b"\n")
    if cut < 0:
        return 0, "", start
    for line in data[: cut + 1].decode("utf-8", "replace").splitlines():
        if regex.search(line):
            count += 1
            sample = line
    offset = start + cut + 1
    return count, sample, offset


def check_log(check, root, old, new, switched_at):
    """Error lines written to the log since the previous run; updates ``new`` with the offset."""
    path = check["log"] if os.path.isabs(check["log"]) else os.path.join(root, check["log"])
    limit = int(check.get("max_matches") or 0)
    regex = re.compile(check.get("pattern") or DEFAULT_PATTERN)
    key = "log:" + check["name"]
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        new[key] = {"path": path, "inode": None, "offset": 0}
        return True, "no log file %s yet" % path, 0
    except OSError as exc:
        return False, "cannot read %s: %s" % (path, exc), None
    prev = old.get(key) or {}
    if prev.get("path") != path or float(old.get("at") or 0) < switched_at:
        # First run, or first since a switch: count from here on, never older lines.
        new[key] = {"path": path, "inode": stat.st_ino, "offset": stat.st_size}
        return True, "baseline: counting lines written to %s after %d bytes" % (path, stat.st_size), 0
    start = prev.get("offset", 0) if prev.get("inode") == stat.st_ino else 0
    note = ""
    if start > stat.st_size:
        start, note = 0, " (truncated since last run)"
    if stat.st_size - start > MAX_READ:
        start, note = stat.st_size - MAX_READ, " (only the last %d MiB read)" % (MAX_READ >> 20)
    try:
        count, sample, offset = count_matches(path, start, stat.st_size, regex)
    except OSError as exc:
        return False, "cannot read %s: %s" % (path, exc), None
    new[key] = {"path": path, "inode": stat.st_ino, "offset": offset}
    detail = "%d matching line(s) since last run, max %d%s" % (count, limit, note)
    if sample:
        detail += ": " + squash(sample)
    return count <= limit, detail, count


def available_memory_mb():
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    raise OSError("no MemAvailable in /proc/meminfo")


def run_one(check, root, timeout, old, new, switched_at):
    """One check → its result (name, kind, severity, status, ok, detail, latency_ms, value)."""
    kind = check_kind(check, HEALTH_KINDS)
    value = None
    if kind in ("http", "port", "command"):
        result = run_check(check, timeout, root)
        ok, detail, latency = result["ok"], result["detail"], result["latency_ms"]
        limit = check.get("max_latency_ms")
        if ok and limit and latency > float(limit):
            ok, detail = False, "%s in %.0f ms, over %.0f ms" % (detail, latency, float(limit))
        value = latency
    else:
        started = time.monotonic()
        try:
            if kind == "log":
                ok, detail, value = check_log(check, root, old, new, switched_at)
            elif kind == "disk_free_mb":
                value = free_mb(root)
                ok = value >= int(check["disk_free_mb"])
                detail = "%d MiB free under %s, min %s" % (value, root, check["disk_free_mb"])
            else:
                value = available_memory_mb()
                ok = value >= int(check["memory_free_mb"])
                detail = "%d MiB memory available, min %s" % (value, check["memory_free_mb"])
        except (OSError, ValueError) as exc:
            ok, detail = False, "%s: %s" % (kind, exc)
        latency = round((time.monotonic() - started) * 1000, 1)
    severity = check.get("severity") or "critical"
    return {
        "name": check.get("name", kind),
        "kind": kind,
        "source": check.get("source", "health"),
        "severity": severity,
        "ok": ok,
        "status": "ok" if ok else severity,
        "detail": detail,
        "latency_ms": latency,
        "value": value,
    }


def run_health(root, checks, timeout, save=True):
    """Run every check once, in parallel; return the host's health (status, version, checks)."""
    old = load_state(root)
    # Offsets of a log check that could not read its file this time are kept as they were.
    new = {k: old[k] for k in ("log:%s" % c.get("name") for c in checks) if isinstance(old.get(k), dict)}
    switched_at = last_switch_epoch(root)
    now = datetime.datetime.now(datetime.UTC).timestamp()
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(checks)))) as pool:
        futures = [pool.submit(run_one, c, root, timeout, old, new, switched_at) for c in checks]
        results = [f.result() for f in futures]
    if save:
        new["at"] = now
        save_state(root, new)
    status = max((r["status"] for r in results), key=HEALTH_RANK.get, default="ok")
    return {"status": status, "version": current_version(root), "checks": results}
