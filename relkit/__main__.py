"""``python -m relkit``."""

from relkit.cli import run

run()
