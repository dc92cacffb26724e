"""Action plugin for the relkit_release module: runs it, with an install transfers the artifact
first, and after a probe describes how to reach the host without Ansible.

An install given ``src`` (the artifact on the controller) puts that file at ``upload`` itself
(one file transfer) and then runs the module once, which verifies its sha256, makes it 0600 and
unpacks it: what ``ansible.builtin.copy`` took a stat call, a transfer and a copy call for. Under
become the file goes to Ansible's private remote tmp directory first (the login user's), made
readable to the become user, and the module reads it from there.

The description (``relkit.card`` in the probe's result) lets a later ``relkit deploy`` of a
release that is already live verify each host over plain SSH (relkit/live_check.py) instead of
running the whole play: the exact ssh command line Ansible's ssh connection built for this
host, the Python that ran the module, the deploy path and the rendered smoke checks. Hosts
that need a password, become or another connection type get no card (``unavailable`` says
why), nor do smoke checks that carry a secret: a card never holds one.

The card also carries relkit health's checks, rendered for the host here (from the play's
``relkit_health``; a check this host cannot render leaves that part out), so that ``relkit health`` can run them over the same ssh command line without a play.
Health checks that carry a secret leave only that part out (``health_unavailable`` says why):
the quick check of a redeploy still uses the card, and health runs its play.

And it carries what a rollback after this deploy needs (``rollback``: the release it goes to,
the probe's ``rollback_to``, and the service commands, retention, data items, hooks and smoke
checks rendered for it, as roles/relkit_rollback/tasks/switch_back.yml renders them), so that
``relkit rollback`` can switch each host back over the same ssh command line without a play
(relkit/live_rollback.py). No release to go back to, or values this host cannot render or that
carry a secret, leave that part out (``rollback_unavailable``).
"""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action.normal import ActionModule as NormalAction

CONNECTIONS = ("ssh", "local")
SECRET = "the smoke checks or the connection carry a secret"
HEALTH_SECRET = "the health checks carry a secret"
ROLLBACK_VARS = ("relkit_service", "relkit_keep_releases", "relkit_data", "relkit_first_host", "relkit_smoke")
"""The variables switch_back.yml passes the relkit_release module (relkit_hooks: when set)."""


def _strings(value):
    """Every string in ``value`` (JSON data: dict keys and values, list items)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class ActionModule(NormalAction):
    """relkit_release with the install's transfer and the probe's host card."""

    def run(self, tmp=None, task_vars=None):
        if self._task.args.get("state") == "install" and "src" in self._task.args:
            return self._install(tmp, task_vars)
        result = super().run(tmp, task_vars)
        info = result.get("relkit")
        if self._task.args.get("state") == "probe" and not result.get("failed") and isinstance(info, dict):
            try:
                info["card"] = self._card(task_vars or {}, result)
            except Exception as exc:  # a card is an optimisation: never a failure of the probe
                info["card"] = {"unavailable": "cannot describe the connection: %s" % exc}
        return result

    def _install(self, tmp, task_vars):
        """Transfer ``src`` to the host, then run the install (module arguments without ``src``)."""
        result = super(NormalAction, self).run(tmp, task_vars)  # ActionBase's: the result's base
        args = dict(self._task.args)
        src = args.pop("src")
        if self._play_context.check_mode:
            return {"changed": False, "skipped": True, "msg": "install: nothing is transferred in check mode"}
        try:
            src = self._find_needle("files", src)  # as ansible.builtin.copy finds its src
        except AnsibleError as exc:
            return {"failed": True, "msg": "artifact %s: %s" % (src, to_text(exc))}
        if not os.path.isfile(src):
            return {"failed": True, "msg": "artifact %s is not a file on the controller" % src}
        dest = args.get("upload")
        if self._play_context.become:  # the login user cannot write the become user's deploy path
            dest = self._connection._shell.join_path(self._make_tmp_path(), "artifact")
        try:
            self._connection.put_file(src, dest)
            if self._play_context.become:
                self._fixup_perms2([dest])
        except AnsibleError as exc:
            if not self._play_context.become:  # a partial file (a full disk) is not left behind
                self._low_level_execute_command("rm -f %s" % self._connection._shell.quote(dest))
            self._remove_tmp_path(self._connection._shell.tmpdir)
            return {"failed": True, "msg": "could not upload %s: %s" % (src, to_text(exc))}
        args["upload"] = dest
        try:
            result.update(
                self._execute_module(module_name="relkit_release", module_args=args, task_vars=task_vars)
            )
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _card(self, task_vars, result):
        args = self._task.args
        conn = self._connection
        transport = getattr(conn, "transport", "")
        if transport not in CONNECTIONS:
            return {"unavailable": "connection %s (the quick check knows ssh and local)" % transport}
        if self._play_context.become:
            return {"unavailable": "become (the quick check connects as the login user only)"}
        card = {
            "connection": transport,
            "python": self._python(task_vars, result),
            "deploy_path": args.get("deploy_path"),
            "smoke": args.get("smoke") or {},
        }
        if transport == "ssh":
            if conn.get_option("password") or self._play_context.password or conn.get_option("private_key"):
                return {"unavailable": "password or in-memory key (the quick check never stores one)"}
            card["address"] = conn.get_option("host") or self._play_context.remote_addr
            card["argv"] = [to_text(a) for a in conn._build_command(conn.get_option("ssh_executable"), "ssh")]
        card = json.loads(json.dumps(card, sort_keys=True, default=str))
        # each string as it is (not JSON-escaped: a value holding a quote or a non-ASCII
        # character is spelt otherwise there); the controller refuses, on top, a card holding
        # any form of a secret its redactor masked (relkit/live_check.py: cards_of)
        if self._holds_secret(card, args):
            return {"unavailable": SECRET}
        rollback = self._rollback(task_vars, (result.get("relkit") or {}).get("rollback_to"))
        if isinstance(rollback, dict) and self._holds_secret(rollback, args):
            rollback = "the rollback's commands or checks carry a secret"
        if isinstance(rollback, str):
            card["rollback_unavailable"] = rollback
        else:
            card["rollback"] = rollback
        health = self._health(task_vars)
        if isinstance(health, str):
            card["health_unavailable"] = health
        elif isinstance(health, dict):
            health = json.loads(json.dumps(health, sort_keys=True, default=str))
            if self._holds_secret(health, args):
                card["health_unavailable"] = HEALTH_SECRET
            else:
                card["health"] = health
        return card

    def _health(self, task_vars):
        """relkit health's checks rendered for this host as the health play renders them, or why
        they cannot be (a variable this host lacks): then only the card's health part is left
        out, and the deploy goes on as before (health runs its play, which says what is wrong)."""
        raw = task_vars.get("relkit_health")
        if raw is None:
            return None
        try:
            return self._templar.template(raw)
        except Exception as exc:
            return "cannot render the health checks for this host: %s" % to_text(exc).splitlines()[0][:200]

    def _rollback(self, task_vars, target):
        """What switch_back.yml would pass the module on this host to roll back to ``target`` (the
        probe's ``rollback_to``: where a rollback goes once this deploy is done), rendered with
        ``relkit_version`` naming it; or why not."""
        if not target or target == self._task.args.get("version"):
            return "no release to roll back to on this host"
        names = [*ROLLBACK_VARS, *(["relkit_hooks"] if "relkit_hooks" in task_vars else [])]
        try:
            templar = self._templar.copy_with_new_env(
                available_variables=dict(task_vars, relkit_version=target)
            )
            values = {name: templar.template(task_vars[name]) for name in names}
        except Exception as exc:
            return "cannot render the rollback for this host: %s" % to_text(exc).splitlines()[0][:200]
        return json.loads(json.dumps(dict(values, to=target), sort_keys=True, default=str))

    @staticmethod
    def _holds_secret(value, args):
        """True when a string of ``value`` holds one of the task's secret values."""
        texts = list(_strings(value))
        return any(isinstance(s, str) and s and any(s in t for t in texts) for s in args.get("secrets") or [])

    def _python(self, task_vars, result):
        """The interpreter that ran the module: discovered, else ansible_python_interpreter."""
        facts = result.get("ansible_facts") or {}
        found = facts.get("discovered_interpreter_python")
        if not found and task_vars.get("ansible_python_interpreter"):
            found = self._templar.template(task_vars["ansible_python_interpreter"])
        return to_text(found or "python3")
