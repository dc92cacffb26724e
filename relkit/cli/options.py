"""Option types and help shared by several commands, and the state every command reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click import Context, Parameter  # typer >= 0.25 vendors click as typer._click
from typer.core import TyperArgument, TyperCommand, TyperGroup

from relkit import api
from relkit.api import Project
from relkit.cli.output import Output

ManifestArg = Annotated[
    Path, typer.Argument(help="release manifest, e.g. releases/2.0.0.yml", show_default=False)
]
EnvOpt = Annotated[str, typer.Option("--env", "-e", help="environment from relkit.yml", show_default=False)]
KeyOpt = Annotated[Path, typer.Option("--key", "-k", help="SSH private key to sign with", show_default=False)]
ActKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key",
        "-k",
        envvar="RELKIT_KEY",
        help="your SSH private key (or its .pub, the key in ssh-agent): signs this act; who you are is "
        "the key's principal in allowed_signers (required where policy.signed_acts says) [env RELKIT_KEY]",
        show_default=False,
    ),
]


METAVARS = {
    "actor": "NAME",
    "by": "NAME",
    "fmt": "FORMAT",
    "format": "FORMAT",
    "key": "KEY",
    "last": "N",
    "out": "FILE",
    "output": "FORMAT",
    "project": "PATH",
    "prom_file": "FILE",
    "reason": "TEXT",
    "retro": "FILE",
    "to": "VERSION",
    "wait": "SECONDS",
    "witnesses": "ENV",
}
"""The word shown for an option's value (``--by NAME``) where its name upper-cased (``--env
ENV``) does not read naturally."""


class _Argument(TyperArgument):
    """A positional argument shown as ``MANIFEST`` (required) or ``[MANIFEST]`` in usage lines."""

    def get_usage_pieces(self, ctx: Context) -> list[str]:
        name = self.metavar or (self.name or "value").upper()
        name = name if self.required else f"[{name}]"
        return [name + ("..." if self.nargs != 1 else "")]

    def display_type_rich(self, ctx: Context) -> str | None:
        return None  # the metavar says what it is: no ``MANIFEST <path>``


def _natural(param: Parameter) -> None:
    """Give ``param`` a metavar that reads naturally: ``MANIFEST``, ``--env ENV``, ``--by NAME``
    (typer's own are ``{manifest}``, ``<str>``, ``<list[str]>``)."""
    if isinstance(param, TyperArgument):
        param.__class__ = _Argument  # same fields; only the usage and help rendering differ
    if param.metavar is None and not getattr(param, "is_flag", False):
        name = param.name or "value"
        param.metavar = METAVARS.get(name, name.upper())


class Command(TyperCommand):
    """A relkit command: usage and help in plain words (``relkit deploy [OPTIONS] MANIFEST``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _natural(param)


class Group(TyperGroup):
    """A relkit command group (``relkit``, ``relkit ledger``): its options in plain words too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _natural(param)


def example(text: str) -> str:
    """The help's closing example line."""
    return f"\n\nExample: {text}"


@dataclass
class State:
    """Options shared by every command (the Typer context's ``obj``)."""

    project_path: Path | None = None
    output: Output = field(default_factory=Output)
    actor: str | None = None
    _project: Project | None = None

    def project(self) -> Project:
        """The project, loaded once per command."""
        if self._project is None:
            self._project = Project.load(self.project_path)
        return self._project

    def project_if_any(self) -> Project | None:
        """The project when there is one (-C, $RELKIT_PROJECT or a relkit.yml upward), else None."""
        if self.project_path is None and not api.in_project():
            return None
        return self.project()

    def state_dir(self) -> Path | None:
        """The project's state directory, when the command loaded the project."""
        return self._project.state_dir if self._project is not None else None

    def close(self) -> None:
        """Close the project's store."""
        if self._project is not None:
            self._project.close()


def state(ctx: typer.Context) -> State:
    """The CLI state of this invocation."""
    obj = ctx.find_object(State)
    assert obj is not None, "relkit.cli.main sets the state"
    return obj
