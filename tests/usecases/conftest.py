"""Use-case tests run the real plays: the example project's staging "host" is this machine
(Ansible's local connection), its deploy path and app under tmp_path, the app on a free port
(the ``local_staging`` fixture of tests/support/fixtures.py)."""

from tests.support.fixtures import (  # noqa: F401
    _isolated_env,
    example_project,
    local_staging,
    ssh_keys,
    state_dir,
)
