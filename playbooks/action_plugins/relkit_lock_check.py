"""Action plugin: before any host switches, check the run still holds its environment's lock in
the shared ledger (which proves the ledger is reachable too).

With a shared (PostgreSQL) ledger the relkit process that runs the play renews its lock's lease
while the play runs. If the database became unreachable, or the lock was broken, a switch now
could not be recorded, or could race another controller's run: the play stops here, before any
host switches, and says why. relkit passes ``relkit_ledger_shared``; with the embedded SQLite
ledger (same machine, same disk) the task is skipped.
"""

from __future__ import annotations

from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
action: relkit_lock_check
short_description: Fail unless this run still holds its environment's lock in relkit's ledger
options:
  project_dir: {type: path, required: true, description: directory of relkit.yml}
  env: {type: str, required: true, description: environment name from relkit.yml}
  run_id: {type: str, required: true, description: the relkit run driving the play}
"""


class ActionModule(ActionBase):
    """Fail the play, before the switch, when the ledger is gone or the lock is not this run's."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        try:
            from relkit import api
        except ImportError as exc:
            raise AnsibleActionFail(f"relkit is not importable by this Ansible ({exc})") from exc
        env, run_id = args.get("env") or "", args.get("run_id") or ""
        stop = "relkit: stopped before switching any host (every host stays on the release it had)"
        try:
            project = api.Project.load(Path(args["project_dir"]))
        except api.RelkitError as exc:
            raise AnsibleActionFail(f"{stop}: {exc}") from exc
        with project:
            where = project.ledger.describe()
            try:
                holder = project.ledger.holder(env)
            except api.RelkitError as exc:
                raise AnsibleActionFail(
                    f"{stop}: the shared ledger {where} cannot be read, so a switch could not be recorded"
                    f" ({exc})"
                ) from exc
        if holder is None or holder.run_id != run_id or not holder.alive:
            found = holder.describe() if holder else "nobody"
            raise AnsibleActionFail(f"{stop}: run {run_id} no longer holds the lock of {env} in {where} ({found} does)")
        result.update(changed=False, holder=holder.describe())
        return result
