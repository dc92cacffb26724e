"""The ``relkit`` command line: parses arguments, calls :mod:`relkit.api`, renders results.

One module per command (as molecule's ``command/``); :mod:`relkit.cli.app` holds the Typer
app, the global options and the one place errors become exit codes:
0 done · 1 unexpected error · 2 bad input · 3 blocked by a gate · 4 play failed ·
5 rollback failed · 6 locked by another run.
"""

from __future__ import annotations

from relkit.cli.app import app, hoist_global_options, main, run

__all__ = ["app", "hoist_global_options", "main", "run"]
