#!/usr/bin/python
"""Ansible module: create relkit's host layout and check the host against a manifest's requirements."""

from __future__ import annotations

DOCUMENTATION = r"""
module: relkit_host_check
short_description: Create the deploy layout and report each shortfall against host requirements
options:
  deploy_path: {type: path, required: true}
  os: {type: list, elements: dict, default: [], description: "[{distribution, versions}]"}
  cpu: {type: int}
  ram_mb: {type: int}
  disk_mb: {type: int, description: free MiB needed under deploy_path}
"""

RETURN = r"""
host: {description: os, cpu, ram_mb, free_disk_mb measured, returned: always, type: dict}
shortfalls: {description: one line per unmet requirement, returned: always, type: list}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.relkit_rules import free_mb, make_layout


def os_release():
    info = {}
    try:
        with open("/etc/os-release") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                info[key] = value.strip('"')
    except OSError:
        pass
    return info.get("NAME", "unknown").split()[0], info.get("VERSION_ID", "").split(".")[0]


def ram_mb():
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def main():
    module = AnsibleModule(
        argument_spec=dict(
            deploy_path=dict(type="path", required=True),
            os=dict(type="list", elements="dict", default=[]),
            cpu=dict(type="int"),
            ram_mb=dict(type="int"),
            disk_mb=dict(type="int"),
        ),
    )
    p = module.params
    root = p["deploy_path"]
    changed = False
    try:
        changed = make_layout(root)
    except OSError as exc:
        module.fail_json(msg="cannot create the layout under %s: %s" % (root, exc), shortfalls=[str(exc)])
    distribution, major = os_release()
    host = {
        "os": distribution,
        "os_version": major,
        "cpu": os.cpu_count() or 0,
        "ram_mb": ram_mb(),
        "free_disk_mb": free_mb(root),
    }
    shortfalls = []
    if p["os"]:
        supported = [
            spec
            for spec in p["os"]
            if str(spec.get("distribution", "")).lower() == distribution.lower()
            and (not spec.get("versions") or major in [str(v) for v in spec["versions"]])
        ]
        if not supported:
            allowed = ", ".join(
                "%s %s" % (s.get("distribution"), "/".join(map(str, s.get("versions") or ["any"])))
                for s in p["os"]
            )
            shortfalls.append("os: %s %s is not supported (supported: %s)" % (distribution, major, allowed))
    for key, have_key, unit in (
        ("cpu", "cpu", ""),
        ("ram_mb", "ram_mb", " MiB"),
        ("disk_mb", "free_disk_mb", " MiB"),
    ):
        if p[key] and host[have_key] < p[key]:
            shortfalls.append("%s: needs %d%s, host has %d%s" % (key, p[key], unit, host[have_key], unit))
    if shortfalls:
        module.fail_json(
            msg="host does not meet the release's requirements: " + "; ".join(shortfalls),
            host=host,
            shortfalls=shortfalls,
            changed=changed,
        )
    module.exit_json(changed=changed, host=host, shortfalls=[])


if __name__ == "__main__":
    main()
