"""``relkit override``: pass one gate for one release on one environment, signed."""

from __future__ import annotations

from typing import Annotated

import typer

from relkit import api
from relkit.cli.options import EnvOpt, KeyOpt, ManifestArg, example, state

HELP = (
    "Pass a failed gate for this release (version and artifact sha256) on one environment: an act "
    "signed with your key by a principal of policy.override_roles (the PO by default), recorded in "
    "the ledger; deploys of that release honour it. Never for policy.not_overridable gates, and a "
    "deployer's own override of four_eyes or approvals does not count."
    + example(
        'relkit override releases/2.0.0.yml --env production --gate window --reason "hotfix" '
        "--key ~/.ssh/po_key"
    )
)


def override(
    ctx: typer.Context,
    manifest: ManifestArg,
    env: EnvOpt,
    gate: Annotated[str, typer.Option("--gate", "-g", help="the gate to pass", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="why", show_default=False)],
    key: KeyOpt,
) -> None:
    st = state(ctx)
    signed = api.override(st.project(), manifest, env, gate, reason, key, st.actor)
    out = st.output
    out.emit(signed.record())
    if not out.json:
        out.out.print(
            f"[green]overridden[/] {gate} for {signed.statement['version']} on {env} by {signed.principal} "
            f"({signed.role}, key {signed.key})"
        )
