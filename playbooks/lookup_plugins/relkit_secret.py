"""Lookup plugin: data passwords served by relkit for the length of one play (never on disk)."""

from __future__ import annotations

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from relkit.api import SOCKET_ENV, fetch_from_env

DOCUMENTATION = r"""
name: relkit_secret
short_description: Read a data password relkit serves to the running play
description:
  - Each term names a controller environment variable (relkit.yml C(data[].password_env)).
  - Under the relkit CLI the variable is kept out of the play's environment (ansible-runner
    records that environment in its artifacts); relkit serves its value on a private Unix
    socket (C(RELKIT_SECRETS_SOCKET)) to this lookup, which presents the play's token
    (C(RELKIT_SECRETS_TOKEN)). The socket answers only the play's ansible-playbook and its
    workers, each process once (the values are kept for the process's life), and closes with
    the play.
  - Without relkit (plain ansible-playbook) the variable is read from the environment.
  - An unset variable gives an empty string; the relkit_release module refuses it.
options:
  _terms:
    description: Environment variable names.
    required: true
"""

RETURN = r"""
_raw:
  description: One value per term.
  type: list
  elements: str
"""


class LookupModule(LookupBase):
    """relkit_secret lookup."""

    def run(self, terms, variables=None, **kwargs):
        try:
            served = fetch_from_env()
        except (OSError, ValueError) as exc:
            raise AnsibleLookupError(
                "relkit_secret: cannot read %s: %s" % (os.environ.get(SOCKET_ENV), exc)
            ) from None
        return [str(served.get(term) or os.environ.get(term, "")) for term in terms]
