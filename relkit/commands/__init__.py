"""CLI command modules beyond the core set in :mod:`relkit.cli`.

Each module defines ``register(app, state)`` adding its commands to the Typer app; the
module lists itself in :data:`MODULES` below. Commands only parse arguments, call the API
and render results, like those in :mod:`relkit.cli`.
"""

from __future__ import annotations

MODULES: list[str] = ["procedure", "health", "notify", "report", "snapshots"]
