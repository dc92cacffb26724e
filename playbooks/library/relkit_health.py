#!/usr/bin/python
"""Ansible module: every relkit health check of one host in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
module: relkit_health
short_description: Smoke and health checks of the live release, once, in parallel
description:
  - Runs each check once (no retries) and reports per check C(ok), C(warning) or C(critical)
    with its latency; the host's status is the worst of them.
  - Kinds are C(http) (status, contains, max_latency_ms), C(port) (host, max_latency_ms),
    C(command) (run in the deploy path), C(log) (lines matching C(pattern) written since the
    last run, more than C(max_matches) fail), C(disk_free_mb) (free MiB under the deploy
    path) and C(memory_free_mb) (MemAvailable).
  - Log read offsets are kept in C(<deploy_path>/.relkit/health-state.json). The first run,
    and the first run after a switch of C(current), only records where the log ends.
  - Fails when a critical check fails (the results are returned either way).
options:
  deploy_path: {type: path, required: true}
  checks:
    type: list
    elements: dict
    required: true
    description: each has name, severity (warning|critical) and one kind with its options
  timeout: {type: float, default: 5, description: seconds per check}
  secrets: {type: list, elements: str, default: [], no_log: true, description: values masked in the result}
  expected_version:
    type: str
    description: >-
      the release the controller's ledger says is live here (the play rendered relkit.yml's strings
      for it); another one live fails the call before any check runs (C(version_mismatch))
"""

RETURN = r"""
health:
  description: status (ok|warning|critical), version (live release), checks (one result each)
  returned: when the deploy path exists
  type: dict
version_mismatch:
  description: the live release, when it is not C(expected_version) (nothing was checked)
  returned: failure
  type: str
deploy_path_missing:
  description: the deploy path, when it does not exist (a configuration error, not a health result)
  returned: failure
  type: str
"""

import datetime
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.relkit_checks import hide, run_check, squash
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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            deploy_path=dict(type="path", required=True),
            checks=dict(type="list", elements="dict", required=True),
            timeout=dict(type="float", default=5),
            secrets=dict(type="list", elements="str", default=[], no_log=True),
            expected_version=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    hide(module.no_log_values)
    p = module.params
    root = p["deploy_path"]
    if not os.path.isabs(root):
        module.fail_json(msg="deploy_path must be absolute")
    if not os.path.isdir(root):
        # Not a health result: the inventory points elsewhere, or nothing was deployed here.
        module.fail_json(
            msg="deploy path %s does not exist: nothing deployed here, or the inventory's "
            "relkit_deploy_path points elsewhere" % root,
            deploy_path_missing=root,
        )
    live = current_version(root)
    if p["expected_version"] is not None and live != p["expected_version"]:
        # the checks were rendered for the release the controller named: relkit checks again,
        # finding the live release on the host first
        module.fail_json(
            msg="live release is %s, not %s as the controller's ledger says; nothing was checked"
            % (live, p["expected_version"]),
            version_mismatch=live or "",
        )
    try:
        health = run_health(root, p["checks"], p["timeout"], save=not module.check_mode)
    except OSError as exc:
        module.fail_json(msg="health checks failed: %s" % exc)
    if health["status"] == "critical":
        bad = [r for r in health["checks"] if r["status"] == "critical"]
        module.fail_json(
            msg="critical: " + "; ".join("%s: %s" % (r["name"], r["detail"]) for r in bad),
            health=health,
        )
    module.exit_json(changed=False, health=health)


if __name__ == "__main__":
    main()
