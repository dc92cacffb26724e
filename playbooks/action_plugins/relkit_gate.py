"""Action plugin: check relkit's gates on the controller as a play's first task.

Plays run through ``relkit`` were gated already, moments before, by the process that
recorded the gate report and holds the environment lock: that process serves a gate pass
for its run on its private channel (:mod:`relkit.secret_channel`), and a pass matching this
play's run, environment and manifest is accepted without evaluating the gates again. Without
one (plain ``ansible-playbook``, AWX, or a pass for another run) the gates are evaluated
here (honouring the overrides recorded for the run), recorded in the ledger, and the play
gets the release variables relkit would have passed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
action: relkit_gate
short_description: Fail the play unless relkit's gates pass for this manifest and environment
options:
  manifest: {type: path, required: true, description: the release manifest}
  env: {type: str, required: true, description: environment name from relkit.yml}
  project_dir: {type: path, required: true, description: directory of relkit.yml}
  stage: {type: str, default: deploy}
  run_id: {type: str, default: "", description: set by the relkit CLI; empty when run directly}
  actor: {type: str, default: "", description: who deploys (else RELKIT_USER, else login)}
"""


class ActionModule(ActionBase):
    """Evaluate the gates; fail with the gate table when blocked."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        if self._passed_by_relkit(args):
            result.update(changed=False, gates={"checked_by_run": args.get("run_id")})
            return result
        try:
            from relkit import api
        except ImportError as exc:
            raise AnsibleActionFail(f"relkit is not importable by this Ansible ({exc}): install relkit") from exc
        if not args.get("manifest") or not args.get("env") or not args.get("project_dir"):
            raise AnsibleActionFail(
                "deploys are gated: pass -e relkit_manifest=PATH -e relkit_env=ENV "
                "-e relkit_project_dir=DIR (or set RELKIT_PROJECT)"
            )
        run_id = args.get("run_id") or os.environ.get("RELKIT_RUN_ID", "")
        manifest = Path(args["manifest"]).resolve()
        try:
            project = api.Project.load(Path(args["project_dir"]))
            api.register_secrets(project)  # nothing this task records or fails with shows them
            actor = api.identity(args.get("actor") or None)
            overrides = api.overrides_of_run(project, args["env"], run_id)
            checked = api.evaluate_gates(
                project, manifest, args["env"], args.get("stage", "deploy"), actor=actor, overrides=overrides
            )
            if not os.environ.get("RELKIT_CLI"):
                api.record_gates(project, checked, actor, manifest, run_id)
        except api.RelkitError as exc:
            raise AnsibleActionFail(f"relkit: {exc}") from exc
        report = checked.report
        result["gates"] = report.to_dict()
        if not report.passed:
            lines = [f"{r.name}: {r.reason} -> {r.remedy}" for r in report.failed]
            result.update(failed=True, msg=f"blocked by the gates ({report.env}): " + "; ".join(lines))
            return result
        m = checked.manifest
        release = {"version": m.version, "sha256": m.artifact.sha256, "artifact": str(checked.artifact.path)}
        result["ansible_facts"] = {
            "relkit_release": release,
            "relkit_run_id": run_id,
            "relkit_by": actor,
        }
        result["changed"] = False
        return result

    @staticmethod
    def _passed_by_relkit(args) -> bool:
        """True when the relkit run driving this play served a gate pass for exactly this play."""
        if not os.environ.get("RELKIT_CLI") or not args.get("run_id") or not args.get("manifest"):
            return False
        try:
            from relkit.api import GATE_PASS, fetch_from_env

            served = json.loads(fetch_from_env().get(GATE_PASS) or "{}")
        except (ImportError, OSError, ValueError):
            return False
        expected = {
            "run_id": args["run_id"],
            "env": args.get("env") or "",
            "manifest": str(Path(args["manifest"]).resolve()),
        }
        return served == expected
