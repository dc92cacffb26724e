"""relkit.versions: PEP 440 order, and no order for versions that are not PEP 440."""

from __future__ import annotations

import pytest

from relkit.versions import older


@pytest.mark.parametrize(
    ("version", "than", "expected"),
    [
        ("1.0.0", "2.0.0", True),
        ("2.0.0", "1.0.0", False),
        ("1.9.0", "1.10.0", True),  # not string order
        ("2.0.0rc1", "2.0.0", True),
        ("2.0.0-rc.1", "2.0.0rc1", False),  # the same version, spelt two ways
        ("2.0", "v2.0", False),
        ("2.0.0", "2.0.0", False),
        ("2026.12.05-build.7", "2026.12.04-build.9", None),  # not PEP 440: relkit cannot tell
        ("a1b2c3d", "1.0.0", None),
    ],
)
def test_older(version: str, than: str, expected: bool | None) -> None:
    assert older(version, than) is expected
