"""What the benchmark scripts share: running a command and timing it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    """Run a command, fail loudly on a non-zero exit, return wall seconds."""
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed
