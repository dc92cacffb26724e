"""A relkit project on disk: relkit.yml, its directory, its state directory and its store."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType

from relkit.config import Environment, ProjectConfig
from relkit.errors import BadInput
from relkit.loading import load_config
from relkit.store import Store, open_store

CONFIG_NAME = "relkit.yml"


def locate_config(start: Path | None = None) -> Path | None:
    """The nearest relkit.yml in ``start`` (default: the current directory) or above, if any."""
    here = (start or Path.cwd()).resolve()
    return next((f / CONFIG_NAME for f in (here, *here.parents) if (f / CONFIG_NAME).is_file()), None)


def in_project() -> bool:
    """True when a command without ``-C`` has a project: $RELKIT_PROJECT, or a relkit.yml upward."""
    return bool(os.environ.get("RELKIT_PROJECT")) or locate_config() is not None


def find_config(start: Path | None = None) -> Path:
    """The relkit.yml to use: $RELKIT_PROJECT, else the nearest one upward from ``start``."""
    if env := os.environ.get("RELKIT_PROJECT"):
        path = Path(env)
        return path / CONFIG_NAME if path.is_dir() else path
    found = locate_config(start)
    if found is not None:
        return found
    here = (start or Path.cwd()).resolve()
    raise BadInput(
        f"no {CONFIG_NAME} found in {here} or above; pass --project DIR or set RELKIT_PROJECT "
        "(the example project is examples/project)"
    )


@dataclass(frozen=True)
class Project:
    """A loaded project."""

    config: ProjectConfig
    root: Path

    @classmethod
    def load(cls, path: Path | None = None) -> Project:
        """Load relkit.yml from ``path`` (file or directory) or by :func:`find_config`."""
        config_path = find_config() if path is None else path
        if config_path.is_dir():
            config_path = config_path / CONFIG_NAME
        config = load_config(config_path)
        return cls(config, config_path.resolve().parent)

    @property
    def state_dir(self) -> Path:
        """Ledger, locks and run artifacts ($RELKIT_STATE_DIR overrides relkit.yml)."""
        override = os.environ.get("RELKIT_STATE_DIR")
        return Path(override) if override else (self.root / self.config.state_dir)

    @cached_property
    def ledger(self) -> Store:
        """The project's store (ledger and locks): one per project object, one connection.
        SQLite in the state directory, or the shared PostgreSQL ledger that ``ledger.url`` /
        $RELKIT_LEDGER_URL names."""
        return open_store(self.state_dir, self.config.ledger)

    def close(self) -> None:
        """Close the store's connection (if it was opened)."""
        if "ledger" in self.__dict__:
            self.__dict__["ledger"].close()

    def __enter__(self) -> Project:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def environment(self, name: str) -> Environment:
        """An environment by name or :class:`BadInput` listing the known ones."""
        try:
            return self.config.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.config.environments))
            raise BadInput(f"--env: unknown environment {name!r} (known: {known})") from None

    def inventory(self, name: str) -> Path:
        """The inventory path of an environment, checked to exist."""
        path = (self.root / self.environment(name).inventory).resolve()
        if not path.exists():
            raise BadInput(f"environments.{name}.inventory: {path} does not exist")
        return path
