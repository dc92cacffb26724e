#!/usr/bin/python
"""Ansible module: run all of relkit's smoke checks on one host in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
module: relkit_smoke
short_description: HTTP, TCP port and command checks, retried until they pass or time out
options:
  checks:
    type: list
    elements: dict
    required: true
    description: each has name and one of http (with status, contains), port (with host), command
  timeout: {type: float, default: 20}
  interval: {type: float, default: 0.25}
  chdir: {type: path, description: working directory for command checks}
"""

RETURN = r"""
checks: {description: one result per check (name, ok, detail, latency_ms), returned: always, type: list}
"""

import socket
import subprocess
import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule


def squash(text):
    return " ".join(text.split())[:200]


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
        proc = subprocess.run(["/bin/sh", "-c", check["command"]], cwd=chdir, capture_output=True,
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, "timed out"
    out = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()[-200:]
    return proc.returncode == 0, "exit %d %s" % (proc.returncode, out)


def run_check(check, timeout, chdir):
    started = time.monotonic()
    if check.get("http"):
        ok, detail = check_http(check, timeout)
    elif check.get("port"):
        ok, detail = check_port(check, timeout)
    else:
        ok, detail = check_command(check, timeout, chdir)
    latency = round((time.monotonic() - started) * 1000, 1)
    return {"name": check.get("name", "check"), "ok": ok, "detail": detail, "latency_ms": latency}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            checks=dict(type="list", elements="dict", required=True),
            timeout=dict(type="float", default=20),
            interval=dict(type="float", default=0.25),
            chdir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    deadline = time.monotonic() + p["timeout"]
    pending = list(p["checks"])
    results = {}
    while True:
        for check in pending:
            left = max(0.5, min(5.0, deadline - time.monotonic()))
            results[check.get("name", "check")] = run_check(check, left, p["chdir"])
        pending = [c for c in pending if not results[c.get("name", "check")]["ok"]]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(p["interval"])
    ordered = [results[c.get("name", "check")] for c in p["checks"]]
    failed = [r for r in ordered if not r["ok"]]
    if failed:
        module.fail_json(msg="smoke failed: " + "; ".join("%s: %s" % (r["name"], r["detail"]) for r in failed),
                         checks=ordered)
    module.exit_json(changed=False, checks=ordered)


if __name__ == "__main__":
    main()
