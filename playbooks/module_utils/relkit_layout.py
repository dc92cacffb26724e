"""A relkit deploy path as host-side code reads it: release markers, ``current``, liveness.

Stdlib only: shared by the relkit_release and relkit_health modules and shipped as-is (with
relkit_rules, which names the layout, and relkit_checks) in the script relkit runs over plain
SSH to verify a live release (relkit/live_check.py).
"""

from __future__ import annotations

import json
import os

from ansible.module_utils.relkit_checks import run_checks
from ansible.module_utils.relkit_rules import CURRENT, MARKER, RELEASES


def read_marker(release_dir):
    """The completion marker of a release directory (None: absent or unreadable = incomplete)."""
    try:
        with open(os.path.join(release_dir, MARKER)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def current_version(root):
    """The version ``current`` points at (None when there is no ``current``)."""
    try:
        return os.path.basename(os.readlink(os.path.join(root, CURRENT)))
    except OSError:
        return None


def live_state(root, version, sha256, smoke):
    """Whether ``version`` built from ``sha256`` is live under ``root``.

    Live means: installed completely from that artifact, ``current`` points at it, and one
    pass of the smoke checks succeeds (no retries; without smoke checks nothing is live).
    Returns ``{"marker", "current", "live"}`` plus ``checks`` when the checks ran.
    """
    marker = read_marker(os.path.join(root, RELEASES, version))
    current = current_version(root)
    state = {"marker": marker, "current": current, "live": False}
    installed = bool(marker) and marker.get("sha256") == sha256
    if installed and current == version and (smoke or {}).get("checks"):
        ok, checks = run_checks(smoke["checks"], 0, 0, root)
        state.update(live=ok, checks=checks)
    return state
