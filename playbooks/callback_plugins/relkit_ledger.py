"""Callback plugin: write relkit's ledger for plays run without the relkit CLI.

Enabled by playbooks/ansible.cfg. Inactive when the relkit CLI runs the play (it sets
RELKIT_CLI and records the run itself) and for plays that are not relkit deploys.
"""

from __future__ import annotations

import os
from pathlib import Path

from ansible.plugins.callback import CallbackBase

AWX_VARS = {
    "job_id": "awx_job_id",
    "job_template_id": "awx_job_template_id",
    "job_template": "awx_job_template_name",
    "launch_type": "awx_job_launch_type",
    "workflow_job_id": "awx_workflow_job_id",
    "workflow_job": "awx_workflow_job_name",
    "inventory": "awx_inventory_name",
    "project_revision": "awx_project_revision",
    "execution_node": "awx_execution_node",
    # typed by whoever launched the job (AWX's account name): a claim, never a signed principal
    "awx_user": "awx_user_name",
}
"""What the run's record keeps of the AWX job that ran the play (AWX's extra vars, also tower_*)."""


def awx_job(extra) -> dict:
    """The AWX job behind a play, from the extra vars AWX gives every job; empty for other runs.
    ``awx_user`` is the launching account's name as AWX says it: recorded as a claim
    (``claimed: ["awx_user"]``); who acts in relkit's sense is the gate's actor or signed principal."""
    found = {}
    for name, var in AWX_VARS.items():
        value = extra.get(var, extra.get("tower_" + var.removeprefix("awx_")))
        if value not in (None, ""):
            found[name] = value if isinstance(value, int) else str(value)
    if "job_id" not in found:
        return {}
    if "awx_user" in found:
        found["claimed"] = ["awx_user"]
    return found


DOCUMENTATION = r"""
name: relkit_ledger
type: notification
short_description: Record relkit plays run by plain ansible-playbook or AWX in relkit's ledger
requirements: [relkit importable by Ansible's Python]
"""


class CallbackModule(CallbackBase):
    """Ledger writer for direct playbook runs."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "relkit_ledger"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.run = None
        self.outcomes: list = []
        self.playbook = ""

    def v2_playbook_on_start(self, playbook) -> None:
        self.playbook = Path(playbook._file_name).name
        if not os.environ.get("RELKIT_CLI"):
            try:
                from relkit.api import new_run_id
            except ImportError:
                return
            os.environ.setdefault("RELKIT_RUN_ID", new_run_id())

    def v2_playbook_on_play_start(self, play) -> None:
        if os.environ.get("RELKIT_CLI") or self.run is not None:
            return
        extra = play.get_variable_manager().extra_vars
        project_dir = extra.get("relkit_project_dir") or os.environ.get("RELKIT_PROJECT")
        env = extra.get("relkit_env")
        if not project_dir or not env:
            return
        try:
            from relkit import api

            project = api.Project.load(Path(str(project_dir)))
        except Exception as exc:
            self._display.warning(f"relkit ledger disabled: {exc}")
            return
        action = self.playbook.removesuffix(".yml")
        by = api.identity(extra.get("relkit_by"))
        self.run = api.Run(project, str(env), action, by, run_id=os.environ["RELKIT_RUN_ID"])
        awx = awx_job(extra)
        self.run.book.started(
            direct=True,
            playbook=self.playbook,
            manifest=extra.get("relkit_manifest"),
            **({"awx": awx} if awx else {}),
        )

    def _record(self, result, status: str) -> None:
        if self.run is None:
            return
        from relkit.api import CALLBACK_EVENTS, outcome_of

        event = {
            "event": CALLBACK_EVENTS[status],
            "event_data": {
                "host": result._host.get_name(),
                "task": result._task.get_name(),
                "task_action": result._task.action,
                "res": result._result,
            },
        }
        outcome = outcome_of(event)
        if outcome is not None:
            self.outcomes.append(outcome)
            self.run.book.outcome(outcome)

    def v2_runner_on_ok(self, result) -> None:
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._record(result, "failed")

    def v2_runner_on_unreachable(self, result) -> None:
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats) -> None:
        if self.run is None:
            return
        from relkit.api import PlayResult

        failed = any(stats.failures.values()) or any(stats.dark.values())
        result = PlayResult(
            "failed" if failed else "successful", 2 if failed else 0, self.outcomes, Path(".")
        )
        self.run.book.switches(result)
        release = next(
            (
                o.result["ansible_facts"]["relkit_release"]
                for o in self.outcomes
                if "relkit_release" in (o.result.get("ansible_facts") or {})
            ),
            {},
        )
        if self.run.action == "deploy" and release.get("version"):
            # hosts on this release the ledger does not know of (a killed or unrecorded run)
            self.run.book.found_live(result, release["version"], release.get("sha256", ""))
        if any(o.checks is not None for o in self.outcomes):
            self.run.smoke(result, release.get("version"), release.get("sha256"))
        self.run.finished(result.status, rc=result.rc, direct=True)
