"""CLI: the SOP's signed records — approve, verify, close."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from relkit import api, procedure
from relkit.render import gate_table

ManifestArg = Annotated[
    Path, typer.Argument(help="release manifest, e.g. releases/2.0.0.yml", show_default=False)
]
KeyOpt = Annotated[Path, typer.Option("--key", "-k", help="SSH private key to sign with", show_default=False)]


def register(app: typer.Typer, state: Any) -> None:
    """Add approve, verify and close to the CLI."""

    def show(signed: procedure.Signed, what: str) -> None:
        out = state.output
        out.emit(signed.to_dict())
        if not out.json:
            out.out.print(f"[green]{what}[/] by {signed.by} as {signed.role} at {signed.at}: {signed.path}")

    @app.command(
        help="Sign the manifest as QA or PO (ssh-keygen -Y sign); editing the manifest later voids it."
        "\n\nExample: relkit approve releases/2.0.0.yml --role qa --key ~/.ssh/id_ed25519 --as sari"
    )
    def approve(
        manifest: ManifestArg,
        role: Annotated[str, typer.Option("--role", "-r", help="qa or po", show_default=False)],
        key: KeyOpt,
    ) -> None:
        show(procedure.approve(state.project(), manifest, role, key, api.identity(state.actor)), "approved")

    @app.command(
        help="PO verification of the release in an environment (SOP 4.3.4), signed like an approval."
        "\n\nExample: relkit verify releases/2.0.0.yml --env production --key ~/.ssh/po_key --as dewi"
    )
    def verify(
        manifest: ManifestArg,
        key: KeyOpt,
        env: Annotated[str, typer.Option("--env", "-e", help="environment")] = "production",
    ) -> None:
        show(procedure.verify(state.project(), manifest, env, key, api.identity(state.actor)), "verified")

    @app.command(
        help="Close a release: monitoring window elapsed, PO verified, retrospective note given."
        "\n\nExample: relkit close releases/2.0.0.yml --retro retro-2.0.0.md"
    )
    def close(
        manifest: ManifestArg,
        retro: Annotated[Path, typer.Option("--retro", help="retrospective note (text/markdown file)")],
        env: Annotated[str, typer.Option("--env", "-e", help="environment")] = "production",
    ) -> None:
        report = procedure.close(state.project(), manifest, env, retro, api.identity(state.actor))
        out = state.output
        out.emit({"closed": True, **report.to_dict()})
        if not out.json:
            out.out.print(gate_table(report))
            out.out.print(f"[green]closed[/] {report.version} on {env}")
