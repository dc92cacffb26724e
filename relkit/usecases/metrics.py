"""``metrics``: the DORA figures of the environments, from the ledger (:mod:`relkit.metrics`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from relkit import metrics
from relkit.errors import BadInput
from relkit.health import monitoring_hours
from relkit.hostrules import atomic_write
from relkit.project import Project

DEFAULT_SINCE = "90d"


def environments(project: Project, env: str | None) -> list[str]:
    """``env`` (checked), else every environment of relkit.yml: the production-like ones (with
    ``promote_from``) first, then the others, each group in relkit.yml's order."""
    if env:
        project.environment(env)
        return [env]
    envs = project.config.environments
    return [n for n, e in envs.items() if e.promote_from] + [n for n, e in envs.items() if not e.promote_from]


def check_prom_file(path: Path) -> None:
    """Refuse (exit 2) a ``--prom-file`` that cannot be replaced by a file."""
    if path.is_dir():
        raise BadInput(f"--prom-file: {path} is a directory; expected a file path, e.g. relkit-dora.prom")
    if not path.parent.is_dir():
        raise BadInput(f"--prom-file: directory {path.parent} does not exist")
    if path.exists() and not path.is_file():
        raise BadInput(
            f"--prom-file: {path} exists and is not a regular file; name a file, e.g. relkit-dora.prom"
        )


def dora_metrics(
    project: Project,
    env: str | None = None,
    since: str = DEFAULT_SINCE,
    prom_file: Path | None = None,
    now: datetime | None = None,
) -> metrics.Metrics:
    """Deployment frequency, lead time, change failure rate and time to restore of ``env`` (or
    every environment, production-like first) over ``since`` (``90d``, ``12h`` or an ISO date)
    up to ``now``, from the ledger; with ``prom_file``, also written there atomically in the
    Prometheus text format (node_exporter's textfile collector). Reads only the ledger."""
    clock = now or datetime.now(UTC)
    try:
        start = metrics.parse_since(since, clock)
    except ValueError as exc:
        raise BadInput(f"--since: {exc}") from None
    envs = environments(project, env)
    if prom_file is not None:
        check_prom_file(prom_file)
    figures = metrics.compute(
        project.ledger.entries(), envs, start, clock, window_hours=monitoring_hours(project.config)
    )
    if prom_file is not None:
        atomic_write(prom_file, metrics.prometheus_text(figures), 0o644)
    return figures
