"""Who is acting, in local mode: ``ASSAY_USER``, else git's user.email, else the OS user."""

from __future__ import annotations

import functools
import getpass
import os
import subprocess
from pathlib import Path


@functools.lru_cache(maxsize=8)
def _git_email(cwd: str | None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=5,
            check=False, cwd=cwd,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    email = out.stdout.strip()
    return email or None


def current_user(root: Path | None = None) -> str:
    """Return the acting identity (never empty).

    ``root`` is the project root when known: git's ``user.email`` is then read there (the
    project repository's own config), not in whatever folder the command was started from.
    """
    env = os.environ.get("ASSAY_USER", "").strip()
    if env:
        return env
    email = _git_email(os.fspath(root) if root is not None and root.is_dir() else None)
    if email:
        return email
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
