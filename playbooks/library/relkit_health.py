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

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.relkit_checks import hide
from ansible.module_utils.relkit_health_checks import run_health
from ansible.module_utils.relkit_layout import current_version


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
