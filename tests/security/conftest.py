"""Security tests: each carries out an attack for real (fixtures of tests/support/fixtures.py)."""

from tests.support.fixtures import (  # noqa: F401
    _isolated_env,
    example_project,
    local_staging,
    ssh_keys,
    state_dir,
)
