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
  secrets: {type: list, elements: str, default: [], no_log: true, description: values masked in the result}
"""

RETURN = r"""
checks: {description: one result per check (name, ok, detail, latency_ms), returned: always, type: list}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.relkit_checks import failure_message, hide, run_checks


def main():
    module = AnsibleModule(
        argument_spec=dict(
            checks=dict(type="list", elements="dict", required=True),
            timeout=dict(type="float", default=20),
            interval=dict(type="float", default=0.25),
            chdir=dict(type="path"),
            secrets=dict(type="list", elements="str", default=[], no_log=True),
        ),
        supports_check_mode=True,
    )
    hide(module.no_log_values)
    p = module.params
    ok, results = run_checks(p["checks"], p["timeout"], p["interval"], p["chdir"])
    if not ok:
        module.fail_json(msg=failure_message(results), checks=results)
    module.exit_json(changed=False, checks=results)


if __name__ == "__main__":
    main()
