"""Where the traceback of an unexpected error is kept: a private file, never a planted link.

``relkit-debug.log`` goes into the project's state directory when the command got as far as
loading the project, else into a per-user directory (``$XDG_STATE_HOME/relkit``, by default
``~/.local/state/relkit``, created 0700). The file is written whole under a temporary name
created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` and mode 0600, then renamed over the old one: a
symlink, hard link or FIFO planted at the log's name is replaced, never written through.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

NAME = "relkit-debug.log"


def user_state_dir() -> Path:
    """The per-user state directory: ``$XDG_STATE_HOME/relkit`` or ``~/.local/state/relkit``."""
    base = Path(os.environ.get("XDG_STATE_HOME") or "relative")
    root = base if base.is_absolute() else Path.home() / ".local" / "state"  # as the XDG spec says
    return root / "relkit"


def _private_dir(folder: Path) -> None:
    """Create ``folder`` 0700 if needed; refuse one that is a link, not ours or open to others."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise PermissionError(f"{folder} is not a directory of this user")
    if stat.S_IMODE(info.st_mode) & 0o022:
        folder.chmod(0o700)  # ours, and not a link (checked above)


def _write_private(path: Path, text: str) -> None:
    """``text`` into ``path``, mode 0600, replacing whatever has that name (never following it)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as handle:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask
            handle.write(text)
        tmp.rename(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_debug_log(text: str, state_dir: Path | None = None) -> Path | None:
    """Keep ``text`` (a redacted traceback) in ``relkit-debug.log``; return where, or None when
    no place could be written safely. ``state_dir``: the project's, when known."""
    for project_dir in (True, False):
        try:
            if project_dir:
                if state_dir is None or not state_dir.is_dir():
                    continue
                folder = state_dir
            else:
                folder = user_state_dir()  # RuntimeError: no home directory to be found
                _private_dir(folder)
            path = folder / NAME
            _write_private(path, text)
            return path
        except (OSError, RuntimeError):
            continue
    return None
