"""Which of two release versions comes first: PEP 440 order (``packaging.version``). Pure: no I/O.

``1.9.0 < 1.10.0``, ``2.0.0rc1 < 2.0.0`` (``2.0.0-rc.1`` is the same version), ``v2.0 == 2.0``.
A version that is not PEP 440 (a git hash, ``2026.12.05-build.7``) is not ordered: relkit cannot
tell whether it is older, and says so rather than guess.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version


def older(version: str, than: str) -> bool | None:
    """True when ``version`` comes before ``than``; None when either is not a PEP 440 version."""
    try:
        return Version(version) < Version(than)
    except InvalidVersion:
        return None
