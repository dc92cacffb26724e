"""Action plugin: who may run an ungated act's play (a rollback) without the relkit CLI.

``relkit rollback`` checks this before it starts the play: where ``policy.signed_acts`` says,
the act is signed by the person doing it, and it holds the environment's lock. A rollback play
run directly (plain ``ansible-playbook``, an AWX job) is checked here, as the play's first task,
in the same way: the environment must be relkit.yml's and the play's hosts that environment's;
where the policy wants the act signed, ``key`` (``-e relkit_key=PATH``) must sign it and the
signed act is recorded in the ledger; the actor becomes ``relkit_by`` for the hosts' histories.

The relkit CLI did all that before its play and passes ``relkit_project``: the play runs this
task only without it. ``RELKIT_CLI`` set without it (relkit's ledger callback then records
nothing) fails the task.
"""

from __future__ import annotations

import os
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
action: relkit_act
short_description: Fail a directly run rollback play unless relkit's policy lets this actor do it
options:
  act: {type: str, default: rollback, description: the act (rollback)}
  env: {type: str, required: true, description: environment name from relkit.yml}
  project_dir: {type: path, required: true, description: directory of relkit.yml}
  run_id: {type: str, default: "", description: set by the relkit CLI; empty when run directly}
  actor: {type: str, default: "", description: who acts (else RELKIT_USER, else login); with key, a claim the key must match}
  key: {type: path, default: "", description: SSH key signing the act (required where policy.signed_acts says)}
  to: {type: str, default: "", description: the release rolled back to (empty - the previous)}
"""


class ActionModule(ActionBase):
    """Check (and sign, where the policy says) an act run without the relkit CLI."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        try:
            from relkit import api
        except ImportError as exc:
            raise AnsibleActionFail(
                f"relkit is not importable by this Ansible ({exc}): install relkit"
            ) from exc
        act, env = args.get("act") or "rollback", args.get("env") or ""
        if not env or not args.get("project_dir"):
            raise AnsibleActionFail(
                f"relkit: a {act} names its environment: pass -e relkit_env=ENV -e relkit_project_dir=DIR "
                "(or set RELKIT_PROJECT); nothing was changed"
            )
        if os.environ.get("RELKIT_CLI"):  # the CLI passes relkit_project: this task does not run under it
            raise AnsibleActionFail(
                f"relkit: RELKIT_CLI is set, but no relkit run drives this {act} play (with RELKIT_CLI relkit's "
                "ledger callback records nothing): roll back with relkit, or run the play without RELKIT_CLI"
            )
        run_id = args.get("run_id") or os.environ.get("RELKIT_RUN_ID", "")
        try:
            project = api.Project.load(Path(args["project_dir"]))
            api.register_secrets(project)
            api.foreign_hosts(project, env, (task_vars or {}).get("ansible_play_hosts_all") or [])
            key = Path(args["key"]).expanduser() if args.get("key") else None
            signed = api.sign_act_if_needed(
                project, act, env, key, args.get("actor") or None, to=args.get("to") or None, run_id=run_id
            )
            if signed is not None:
                api.record_signed_act(project, signed, run_id, env)
        except api.RelkitError as exc:
            raise AnsibleActionFail(f"relkit: {exc}") from exc
        actor = signed.principal if signed else api.identity(args.get("actor") or None)
        result.update(
            changed=False,
            signed=signed is not None,
            ansible_facts={"relkit_by": actor, "relkit_run_id": run_id},
        )
        return result
