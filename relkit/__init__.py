"""relkit: the release procedure, executable.

The public Python API lives in :mod:`relkit.api`; the CLI in :mod:`relkit.cli` only parses
arguments and renders what the API returns.
"""

__version__ = "0.1.0"
