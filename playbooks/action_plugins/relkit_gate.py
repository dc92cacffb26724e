"""Action plugin: check relkit's gates on the controller as a play's first task.

Plays run through ``relkit`` were gated already, moments before, by the process that
recorded the gate report and holds the environment lock: that process serves its play a gate
pass, once, on its private channel (:mod:`relkit.secret_channel`). The pass is only a claim
(anyone can set ``RELKIT_SECRETS_SOCKET``): it is accepted, without evaluating the gates again,
only when it names this play's run, environment, manifest and release (version and sha256),
the run holds the environment's lock, and the ledger holds that run's passing evaluation of
that release recorded with this pass's digest (:func:`relkit.gatekeeper.refuse_pass`).
Otherwise the gates are evaluated here (honouring the overrides recorded for this run and this
release only) and recorded in the ledger with why a pass was refused; under ``RELKIT_CLI``
(where relkit's ledger callback is off) a refused pass fails the play even when the gates pass.
Plain ``ansible-playbook`` and AWX runs get the release variables relkit would have passed;
for them the play's hosts must be the environment's (an AWX job launched with another
environment's inventory stops here) and a relative manifest path (an AWX survey's answer) names
a file inside the project.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
action: relkit_gate
short_description: Fail the play unless relkit's gates pass for this manifest and environment
options:
  manifest: {type: str, required: true, description: the release manifest (relative - inside project_dir)}
  env: {type: str, required: true, description: environment name from relkit.yml}
  project_dir: {type: path, required: true, description: directory of relkit.yml}
  stage: {type: str, default: deploy}
  run_id: {type: str, default: "", description: set by the relkit CLI; empty when run directly}
  actor: {type: str, default: "", description: who deploys (else RELKIT_USER, else login); with key, a claim the key must match}
  key: {type: path, default: "", description: SSH key signing the deploy (required where policy.signed_acts says)}
  manifest_origin: {type: str, default: "", description: "set by relkit when the play runs on an execution node: the path the gated manifest has on the controller (manifest is its copy)"}
"""


class ActionModule(ActionBase):
    """Evaluate the gates; fail with the gate table when blocked."""

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
        if not args.get("manifest") or not args.get("env") or not args.get("project_dir"):
            raise AnsibleActionFail(
                "deploys are gated: pass -e relkit_manifest=PATH -e relkit_env=ENV "
                "-e relkit_project_dir=DIR (or set RELKIT_PROJECT)"
            )
        run_id = args.get("run_id") or os.environ.get("RELKIT_RUN_ID", "")
        try:
            project = api.Project.load(Path(args["project_dir"]))
            api.register_secrets(project)  # nothing this task records or fails with shows them
            # a relative path (an AWX survey's answer) is the project's file, never one outside it
            manifest = api.play_manifest(project, args["manifest"])
            refused = self._pass_refusal(args, project)
            if refused == "":  # relkit's own pass for this very play and release
                m = api.validate(manifest)
                self._same_release(task_vars, m.version, m.artifact.sha256)
                result.update(changed=False, gates={"checked_by_run": run_id})
                return result
            if refused is None:  # run directly (AWX): the gates are env's, so are the play's hosts
                api.foreign_hosts(project, args["env"], (task_vars or {}).get("ansible_play_hosts_all") or [])
            m = api.validate(manifest)
            key = Path(args["key"]).expanduser() if args.get("key") else None
            signed = api.sign_act_if_needed(
                project,
                "deploy",
                args["env"],
                key,
                args.get("actor") or None,
                version=m.version,
                sha256=m.artifact.sha256,
                run_id=run_id,
            )  # where the policy wants deploys signed: -e relkit_key=PATH (exit: the play fails)
            if signed is not None:
                api.record_signed_act(project, signed, run_id, args["env"])
            actor = signed.principal if signed else api.identity(args.get("actor") or None)
            overrides = api.overrides_of_run(
                project, args["env"], run_id, m.version, m.artifact.sha256, actor
            )
            checked = api.evaluate_gates(
                project,
                manifest,
                args["env"],
                args.get("stage", "deploy"),
                actor=actor,
                actor_key=signed.key if signed else "",
                overrides=overrides,
            )
            api.record_gates(project, checked, actor, manifest, run_id, refused_pass=refused or "")
        except api.RelkitError as exc:
            raise AnsibleActionFail(f"relkit: {exc}") from exc
        report = checked.report
        result["gates"] = report.to_dict()
        why = f"gate pass refused ({refused}); " if refused else ""
        if not report.passed:
            lines = [f"{r.name}: {r.reason} -> {r.remedy}" for r in report.failed]
            result.update(failed=True, msg=f"{why}blocked by the gates ({report.env}): " + "; ".join(lines))
            return result
        if refused is not None:
            result.update(
                failed=True,
                msg=f"{why}under RELKIT_CLI only the gate pass of the relkit run driving the play lets it "
                "go on (relkit's ledger callback is off): deploy with relkit, or run the play without "
                "RELKIT_CLI (the gates passed and are recorded)",
            )
            return result
        m = checked.manifest
        self._same_release(task_vars, m.version, m.artifact.sha256)
        release = {"version": m.version, "sha256": m.artifact.sha256, "artifact": str(checked.artifact.path)}
        seq, head = project.ledger.head()
        result["ansible_facts"] = {
            "relkit_release": release,
            "relkit_run_id": run_id,
            "relkit_by": actor,
            "relkit_ledger_head": f"{seq}:{head}",  # the hosts' histories keep it: witnesses
        }
        result["changed"] = False
        return result

    @staticmethod
    def _pass_refusal(args, project) -> str | None:
        """Under the relkit CLI: ``""`` when the gate pass served to this play proves that this very
        play's gates passed, else why it does not; ``None`` without the CLI (no pass to take)."""
        if not os.environ.get("RELKIT_CLI"):
            return None
        from relkit import api

        try:
            served = api.fetch_gate_pass()
        except (OSError, ValueError) as exc:
            return f"cannot fetch it: {exc}"
        if served is None:
            return "none served (RELKIT_CLI is set, but no relkit run serves this play a pass)"
        return api.refuse_gate_pass(
            project,
            served,
            Path(args["manifest"]),
            args.get("env") or "",
            args.get("run_id") or "",
            origin=args.get("manifest_origin") or "",
        )

    @staticmethod
    def _same_release(task_vars, version: str, sha256: str) -> None:
        """Fail unless ``relkit_release``, when the play was given one (-e), is the gated release."""
        given = (task_vars or {}).get("relkit_release")
        if given is None:
            return
        named = (str(given.get("version")), str(given.get("sha256"))) if isinstance(given, Mapping) else None
        if named != (version, sha256):
            raise AnsibleActionFail(
                f"relkit_release names {named[0] if named else given!r}, but the gates were checked for "
                f"{version} ({sha256[:12]}): the play deploys only the release its manifest names"
            )
