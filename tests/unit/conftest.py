"""Fixtures shared with the other test folders (tests/support/fixtures.py)."""

from tests.support.fixtures import _isolated_env, example_project, ssh_keys, state_dir  # noqa: F401
