"""Running one play for a run: its request, its secrets served on a private channel, its engine."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from relkit import playvars, secret_channel
from relkit import secrets as relkit_secrets
from relkit.engines import PlayRequest, engine
from relkit.errors import BadInput
from relkit.project import Project
from relkit.results import PlayResult
from relkit.store import URL_ENV
from relkit.store.postgres import PASSWORD_ENV
from relkit.usecases.recording import OutcomeSink

PROJECT_VARS = {"deploy_path", "shared", "service", "smoke", "retention", "artifacts", "data", "secrets"}
"""The relkit.yml sections every play receives as ``relkit_project`` (artifacts: the hosts' unpack limits)."""

NO_SECRETS = frozenset({"prepare.yml", "witness.yml"})
"""Plays that run no service command or check, so need none of relkit.yml's secrets."""

TEMPLATED_VARS = frozenset({"relkit_project", "relkit_health"})
"""Extra vars written by the project (relkit.yml): their ``{{ host_var }}`` strings are templated
per host. Every other extra var (manifest, arguments, ledger) reaches the play as data."""


def register_secrets(project: Project) -> None:
    """Register the values of relkit.yml's secret variables with the redactor (all output)."""
    relkit_secrets.register(relkit_secrets.env_values(project.config))


def require_secrets(project: Project) -> None:
    """Refuse to run a play while a variable relkit.yml lists under ``secrets:`` is unset."""
    if unset := relkit_secrets.missing(project.config):
        raise BadInput(
            f"secrets: {', '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set in the environment "
            "(relkit.yml lists them as secrets the plays need)"
        )


def run_play(
    project: Project,
    env: str,
    run_id: str,
    by: str,
    playbook: str,
    extravars: dict[str, Any],
    on_outcome: OutcomeSink,
    limit: str | None = None,
    gate_pass: dict[str, str] | None = None,
) -> PlayResult:
    """Run ``playbook`` on ``env``; ``gate_pass`` tells its relkit_gate task this run's gates passed."""
    cfg = project.config
    inventory = project.inventory(env)
    if playbook not in NO_SECRETS:
        require_secrets(project)
    # vault values, secret variables, notification/data credentials: never in any output
    redactor = relkit_secrets.for_play(cfg, project.root, inventory)
    seq, head = project.ledger.head()  # each host's history keeps it at a switch: a witness
    # a shared ledger: the play checks, before any switch, that this run still holds the lock
    shared: dict[str, Any] = {}
    if project.ledger.shared:
        shared = {"relkit_ledger_shared": True, "relkit_project_dir": str(project.root)}
    runs, stem = project.state_dir / "runs", playbook.removesuffix(".yml")
    run_dir, again = runs / f"{run_id}-{stem}", 2
    while run_dir.exists():  # the same play again in this run (on the hosts that need it): its own files
        run_dir, again = runs / f"{run_id}-{again}-{stem}", again + 1
    request = PlayRequest(
        playbook=playbook,
        inventory=inventory,
        run_dir=run_dir,
        run_id=run_id,
        extravars={
            "relkit_project": cfg.model_dump(include=PROJECT_VARS),
            "relkit_app": cfg.app,
            "relkit_env": env,
            "relkit_run_id": run_id,
            "relkit_by": by,
            "relkit_ledger_head": f"{seq}:{head}",
            **shared,
            # rollback, health, smoke: read relkit_version on each host first, if a string uses it
            "relkit_resolve_version": playvars.uses(cfg, "relkit_version", playbook),
            **extravars,
        },
        forks=cfg.ansible.forks,
        timeout=cfg.ansible.timeout,
        limit=limit,
        hidden_env=(*relkit_secrets.secret_env_names(cfg), URL_ENV, PASSWORD_ENV),
        secret_values=redactor.values,
        vault_password_file=relkit_secrets.vault_password_file(cfg, project.root),
        templated_vars=TEMPLATED_VARS,
    )
    # data passwords, secrets and the ledger's credentials: hidden from the play's environment, served to its
    # relkit_secret lookup (relkit.yml's {{ relkit_secrets.NAME }})
    # the shared ledger's URL and password too: the play's relkit tasks read and write the ledger
    ledger = [n for n in (cfg.ledger.password_env, URL_ENV, PASSWORD_ENV) if n]
    served = sorted({*secret_channel.password_envs(cfg.data), *cfg.secrets, *ledger})
    with secret_channel.serve(served, gate_pass=gate_pass) as channel_env:
        return engine("local").run_play(replace(request, env=channel_env), on_outcome)
