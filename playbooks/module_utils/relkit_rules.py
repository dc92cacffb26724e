"""Rules the controller and the hosts share, written once (standard library only).

relkit's host modules import this as ``ansible.module_utils.relkit_rules``; the controller
loads the same file through :mod:`relkit.hostrules`. Keep it free of Ansible and of relkit.
"""

from __future__ import annotations

import datetime
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
