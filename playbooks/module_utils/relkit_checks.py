"""relkit's smoke/health checks, shared by the relkit_smoke and relkit_release modules."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

from ansible.module_utils.relkit_rules import SMOKE_KINDS, check_kind, command_env

_HIDDEN = []


def hide(values):
    """Mask these values (the calling module's no_log values) in check output before it is cut
    short: Ansible masks them in the result, but not a secret whose start was cut off."""
    _HIDDEN[:] = sorted((v for v in values if isinstance(v, str) and v), key=len, reverse=True)


def mask(text):
    for value in _HIDDEN:
        text = text.replace(value, "********")
    return text


def squash(text):
    return " ".join(mask(text).split())[:200]


def check_http(check, timeout):
    request = urllib.request.Request(check["http"], headers={"User-Agent": "relkit-smoke"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(65536).decode("utf-8", "replace")
    except (OSError, ValueError) as exc:
        return False, "no answer: %s" % exc
    want = check.get("status") or 200
    if status != want:
        return False, "HTTP %d, expected %d: %s" % (status, want, squash(body))
    if check.get("contains") and check["contains"] not in body:
        return False, "HTTP %d but body lacks %r: %s" % (status, check["contains"], squash(body))
    return True, "HTTP %d" % status


def check_port(check, timeout):
    try:
        with socket.create_connection((check.get("host") or "127.0.0.1", int(check["port"])), timeout):
            return True, "port %s open" % check["port"]
    except OSError as exc:
        return False, "port %s: %s" % (check["port"], exc)


def check_command(check, timeout, chdir):
    try:
        proc = subprocess.run(
            ["/bin/sh", "-c", check["command"]],
            cwd=chdir,
            env=command_env(os.environ),  # never the controller's variables (ansible_connection: local)
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return False, "timed out"
    out = mask((proc.stdout + proc.stderr).decode("utf-8", "replace")).strip()[-200:]
    return proc.returncode == 0, "exit %d %s" % (proc.returncode, out)


def run_check(check, timeout, chdir):
    started = time.monotonic()
    kind = check_kind(check, SMOKE_KINDS)
    if kind == "http":
        ok, detail = check_http(check, timeout)
    elif kind == "port":
        ok, detail = check_port(check, timeout)
    else:
        ok, detail = check_command(check, timeout, chdir)
    latency = round((time.monotonic() - started) * 1000, 1)
    return {"name": check.get("name", "check"), "ok": ok, "detail": detail, "latency_ms": latency}


def run_checks(checks, timeout, interval, chdir=None):
    """Run every check, retrying the failing ones until all pass or ``timeout`` runs out.

    Returns (ok, results) with one result per check, in the order given.
    """
    deadline = time.monotonic() + timeout
    pending = list(checks)
    results = {}
    while True:
        for check in pending:
            left = max(0.5, min(5.0, deadline - time.monotonic()))
            results[check.get("name", "check")] = run_check(check, left, chdir)
        pending = [c for c in pending if not results[c.get("name", "check")]["ok"]]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    ordered = [results[c.get("name", "check")] for c in checks]
    return all(r["ok"] for r in ordered), ordered


def failure_message(results):
    """One line naming each failed check and why."""
    return "smoke failed: " + "; ".join("%s: %s" % (r["name"], r["detail"]) for r in results if not r["ok"])
