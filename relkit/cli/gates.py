"""``relkit gates``: evaluate a stage's gates for a manifest and an environment."""

from __future__ import annotations

from typing import Annotated

import typer

from relkit import api
from relkit.cli.envelope import Failed
from relkit.cli.options import EnvOpt, ManifestArg, example, state
from relkit.cli.output import Output, gate_table

HELP = (
    "Evaluate the gates of a stage (--stage) for a manifest on an environment (exit 0 all pass, "
    "3 blocked); a blocked gate says why and what to do."
    + example("relkit gates releases/2.0.0.yml --env production --stage deploy")
)


STAGE_HELP = f"the stage whose gates are evaluated: {'|'.join(api.STAGES)}"


def show_gates(out: Output, report: api.GateReport) -> None:
    """The gate table, or its JSON."""
    if out.json:
        out.emit(report.to_dict())
    else:
        out.out.print(gate_table(report))


def gates(
    ctx: typer.Context,
    manifest: ManifestArg,
    env: EnvOpt,
    stage: Annotated[str, typer.Option("--stage", "-s", help=STAGE_HELP)] = "deploy",
) -> None:
    st = state(ctx)
    _, report, _ = api.check_gates(st.project(), manifest, env, stage, actor=st.actor)
    show_gates(st.output, report)
    if not report.passed:
        names = ", ".join(g.name for g in report.failed)
        raise Failed(
            3,
            "GateBlocked",
            f"{stage} of {report.version} to {env} blocked by {names}",
            [f"{g.name}: {g.reason}" + (f" (to do: {g.remedy})" if g.remedy else "") for g in report.failed],
            report.to_dict(),
        )
